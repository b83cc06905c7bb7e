import Testing
import PeriscopeCollectors
import PeriscopeTopology
#if canImport(Glibc)
import Glibc
#endif

extension KernelTests {
    /// A listener and a connection inside a fresh network namespace (`ip netns`) are seen with that
    /// namespace's inode and the right owner pid, and its interfaces are listed.
    @Test(.enabled(if: geteuid() == 0, "needs root for ip netns"))
    func socketsOfAnotherNetworkNamespace() throws {
        let (name, nsInode) = try TestProcesses.makeNetns(prefix: "pscope-test-")
        defer { TestProcesses.deleteNetns(name) }

        let port = UInt16.random(in: 40000..<50000)
        let script = """
            import socket, time
            s = socket.socket(); s.bind(("127.0.0.1", \(port))); s.listen()
            c = socket.create_connection(("127.0.0.1", \(port))); a, _ = s.accept()
            time.sleep(30)
            """
        // `ip netns exec` enters the namespace and execs, so the spawned pid is python's.
        let pid = try TestProcesses.spawn(["/usr/sbin/ip", "netns", "exec", name, "/usr/bin/python3", "-c", script])
        defer { TestProcesses.kill(pid) }

        let collector = HostCollector()
        var snapshot = collector.collect()
        let appeared = TestProcesses.eventually {
            snapshot = collector.collect()
            let seen = snapshot.sockets.filter { $0.netns == nsInode && ($0.localPort == port || $0.remotePort == port) }
            // Owners are found incrementally (a budget per pass), so wait for them too.
            return seen.count == 3 && seen.allSatisfy { $0.pid == pid }
        }
        try #require(appeared, "health: \(collector.health)")
        let ours = snapshot.sockets.filter { $0.netns == nsInode && ($0.localPort == port || $0.remotePort == port) }
        #expect(nsInode != snapshot.hostNetns)
        #expect(ours.allSatisfy { $0.pid == pid })
        #expect(ours.contains { $0.state == "listen" })
        #expect(ours.filter { $0.state == "established" }.count == 2)
        #expect(ours.filter { $0.state == "established" }.allSatisfy { $0.tcpInfo != nil })
        #expect(snapshot.processes.first { $0.pid == pid }?.netns == nsInode)
        #expect(snapshot.host.addresses.contains { $0.netns == nsInode && $0.interface == "lo" && $0.address == "127.0.0.1" })
        #expect(collector.health.namespacesScanned >= 2)
        // The host namespace's sockets are still there, tagged with the host's inode.
        #expect(snapshot.sockets.contains { $0.netns == snapshot.hostNetns })
    }
}
