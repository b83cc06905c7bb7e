import Testing
import PeriscopeCollectors
import PeriscopeTopology
#if canImport(Glibc)
import Glibc
#endif

extension KernelTests {
    @Test func commandLineWithInvalidUTF8IsEscaped() throws {
        // `sh -c CMD ARG0`: the shell keeps running (it waits for sleep) with the raw bytes in its argv.
        let bad: [UInt8] = [0x61, 0xFF, 0xFE, 0x62] + Array("é".utf8)
        let pid = try TestProcesses.spawn([Array("/bin/sh".utf8), Array("-c".utf8), Array("sleep 30; :".utf8), bad])
        defer { TestProcesses.kill(pid) }
        let collector = HostCollector()
        var record: ProcessRecord?
        try #require(TestProcesses.eventually {
            record = collector.collect().processes.first { $0.pid == pid }
            return record?.command.hasPrefix("/bin/sh") == true
        })
        #expect(record?.command == "/bin/sh -c sleep 30; : a\\xFF\\xFEbé")
        #expect(record?.executable.map { $0.hasSuffix("sh") || $0.hasSuffix("dash") } == true)
        #expect(record?.ppid == getpid())
        #expect(record?.cwd != nil)
        #expect(record?.cgroup.hasPrefix("/") == true)
        #expect(record?.state.isEmpty == false)
        #expect(record?.uid == geteuid())
    }

    @Test func oneProcessIsReadOutsideAPass() throws {
        let pid = try TestProcesses.spawn(["/bin/sleep", "30"])
        defer { TestProcesses.kill(pid) }
        let collector = HostCollector()
        _ = collector.collect()
        let record = try #require(TestProcesses.eventually { collector.process(pid: pid)?.name == "sleep" }
            ? collector.process(pid: pid) : nil)
        #expect(record.pid == pid && record.ppid == getpid())
        #expect(record.command == "/bin/sleep 30")
        #expect(record.uid == geteuid())
        #expect(record.startTime > 0)
        #expect(collector.networkNamespace(pid: pid) == (record.netns == 0 ? nil : record.netns))
        #expect(collector.process(pid: Int32.max) == nil, "no such process")
        #expect(collector.networkNamespace(pid: Int32.max) == nil)
    }

    @Test func exitedProcessDisappearsAndNewOneAppears() throws {
        let collector = HostCollector()
        let first = try TestProcesses.spawn(["/bin/sleep", "30"])
        try #require(TestProcesses.eventually { collector.collect().processes.contains { $0.pid == first && $0.name == "sleep" } })
        TestProcesses.kill(first)
        let second = try TestProcesses.spawn(["/bin/sleep", "30"])
        defer { TestProcesses.kill(second) }
        let found = TestProcesses.eventually {
            let snapshot = collector.collect()
            return !snapshot.processes.contains { $0.pid == first }
                && snapshot.processes.contains { $0.pid == second && $0.name == "sleep" }
        }
        #expect(found)
    }

    @Test func cpuPercentFromJiffiesDeltas() throws {
        let busy = try TestProcesses.spawn(["/bin/sh", "-c", "while :; do :; done"])
        defer { TestProcesses.kill(busy) }
        let collector = HostCollector()
        let first = collector.collect().processes.first { $0.pid == busy }
        #expect(first?.cpuPercent == 0)   // no previous sample yet
        usleep(500_000)
        let second = collector.collect()
        let cpu = second.processes.first { $0.pid == busy }?.cpuPercent ?? 0
        // A busy loop gets a visible share even on a loaded 2-core machine; the bound proves it is measured.
        #expect(cpu > 5 && cpu <= 110, "busy loop cpu% = \(cpu)")
        #expect(second.host.cpuPercent > 0)
    }

    @Test func ownersAreResolvedIncrementally() throws {
        let collector = HostCollector()
        let listener = try TestSockets.listen("127.0.0.1")
        defer { close(listener.fd) }
        _ = collector.collect()
        let full = collector.health
        #expect(full.fdReadlinks > 0)

        // Nothing new: every owner comes from the cache, no fd is read. Other processes on a busy
        // machine (builds) open sockets between passes, so the quietest of three passes is judged; and an
        // owner whose fd count changed is read again (its socket may have been handed over), which this test
        // process is while tests running beside it open and close sockets.
        var readlinks: [Int] = []
        for _ in 0..<3 {
            let again = collector.collect()
            #expect(again.sockets.first { $0.localPort == listener.port }?.pid == getpid())
            #expect(collector.health.ownersResolvedIncrementally > 0)
            readlinks.append(collector.health.fdReadlinks)
        }
        let quietest = readlinks.min() ?? 0
        #expect(quietest < full.fdReadlinks / 2, "later passes read \(readlinks) links (first pass \(full.fdReadlinks))")

        // A new connection in this process: only processes whose fd count changed are re-read.
        let pair = try TestSockets.connectPair(listener: listener.fd, address: "127.0.0.1", port: listener.port)
        defer { close(pair.client); close(pair.server) }
        let third = collector.collect()
        let clientPort = try TestSockets.localPort(pair.client)
        let client = third.sockets.first { $0.proto == .tcp && $0.localPort == clientPort && $0.remotePort == listener.port }
        #expect(client?.pid == getpid())
        #expect(collector.health.fdReadlinks < full.fdReadlinks)
    }
}
