import Foundation
import Testing
import CPeriscopeBPF
import CPeriscopeLinux
@testable import PeriscopeCollectors
#if canImport(Glibc)
import Glibc
#endif

/// The BPF counters source (bpf/tcp_counters.bpf.c) against the kernel's own sock_diag answer, on real loopback
/// connections that moved known byte counts.
@Suite(.serialized) struct TCPCountersBPFTests {
    private static func inode(_ fd: Int32) -> UInt64 {
        var st = stat()
        return fstat(fd, &st) == 0 ? UInt64(st.st_ino) : 0
    }

    /// Writes `count` bytes on `from` and reads them all on `to`.
    private static func move(_ count: Int, from: Int32, to: Int32) {
        let chunk = [UInt8](repeating: 0x61, count: 4096)
        var buffer = [UInt8](repeating: 0, count: 65536)
        var sent = 0, received = 0
        while received < count {
            if sent < count {
                let n = write(from, chunk, min(chunk.count, count - sent))
                if n > 0 { sent += n }
            }
            let n = recv(to, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n > 0 { received += n }
        }
    }

    private static func diagCounters(netns: UInt64) throws -> [UInt64: CounterSample.Socket] {
        let fd = psc_netlink_open(Int32(PSC_NETLINK_SOCK_DIAG))
        #expect(fd >= 0)
        defer { close(fd) }
        var out: [CounterSample.Socket] = []
        try SocketDiag.counters(into: &out, diagFD: fd, netns: netns)
        return Dictionary(out.map { ($0.inode, $0) }, uniquingKeysWith: { a, _ in a })
    }

    @Test func countersEqualSockDiagForKnownByteCounts() throws {
        let netns = NamespaceSockets(procRoot: "/proc").ownNetns
        guard geteuid() == 0 else {
            #expect(throws: CollectorError.self) { _ = try TCPCountersBPF(ownNetns: netns) }
            return
        }
        // One connection made before the programs load (tracked by the seed), one after (by the tracepoint).
        let v4 = try TestSockets.listen("127.0.0.1")
        let early = try TestSockets.connectPair(listener: v4.fd, address: "127.0.0.1", port: v4.port)
        let bpf = try TCPCountersBPF(ownNetns: netns)
        let v6 = try TestSockets.listen("::1")
        let late = try TestSockets.connectPair(listener: v6.fd, address: "::1", port: v6.port)
        defer { for fd in [v4.fd, v6.fd, early.client, early.server, late.client, late.server] { close(fd) } }
        // connectPair moved 5 bytes each way; now known amounts. The connecting side's bytes_acked also counts its
        // SYN (one sequence number), as tcp_info does.
        Self.move(100_000, from: early.client, to: early.server)
        Self.move(30_000, from: early.server, to: early.client)
        Self.move(70_000, from: late.client, to: late.server)
        Self.move(1_234, from: late.server, to: late.client)
        let expected: [(fd: Int32, sent: UInt64, received: UInt64)] = [
            (early.client, 100_006, 30_005), (early.server, 30_005, 100_005),
            (late.client, 70_006, 1_239), (late.server, 1_239, 70_005),
        ]
        // The last ACKs may still be in flight on a loaded machine: read until both sources settle.
        var viaBPF: [UInt64: CounterSample.Socket] = [:]
        var viaDiag: [UInt64: CounterSample.Socket] = [:]
        for _ in 0..<50 {
            var out: [CounterSample.Socket] = []
            #expect(try bpf.counters(into: &out, namespaces: [netns]) == [netns])
            viaBPF = Dictionary(out.map { ($0.inode, $0) }, uniquingKeysWith: { a, _ in a })
            viaDiag = try Self.diagCounters(netns: netns)
            let settled = expected.allSatisfy { e in
                let i = Self.inode(e.fd)
                return viaBPF[i]?.info.bytesSent == e.sent && viaDiag[i]?.info.bytesSent == e.sent
            }
            if settled { break }
            usleep(100_000)
        }
        for e in expected {
            let i = Self.inode(e.fd)
            let b = try #require(viaBPF[i], "socket \(i) missing from the BPF counters")
            let d = try #require(viaDiag[i], "socket \(i) missing from sock_diag")
            #expect(b.netns == netns)
            #expect(b.info.bytesSent == e.sent)
            #expect(b.info.bytesReceived == e.received)
            #expect(b.info == d.info)
        }
        // Every socket sock_diag lists with a file, BPF lists too (the seed caught the ones older than the programs).
        let missing = Set(viaDiag.keys).subtracting(viaBPF.keys)
        #expect(missing.count <= 4, "sock_diag sockets not tracked: \(missing.count) of \(viaDiag.count)")

        // Closed on both sides: gone from the BPF counters (time-wait, close) like from sock_diag.
        let gone = [Self.inode(early.client), Self.inode(early.server)]
        close(early.client)
        close(early.server)
        var stillThere = gone
        for _ in 0..<50 where !stillThere.isEmpty {
            var out: [CounterSample.Socket] = []
            _ = try bpf.counters(into: &out, namespaces: [netns])
            let listed = Set(out.map(\.inode))
            stillThere = gone.filter { listed.contains($0) }
            usleep(100_000)
        }
        #expect(stillThere.isEmpty)
    }

    @Test func collectorSaysWhereCountersComeFrom() throws {
        let collector = HostCollector()
        _ = collector.collect()
        let netns = NamespaceSockets(procRoot: "/proc").ownNetns
        _ = collector.sampleCounters(namespaces: [netns])
        let health = collector.health
        if geteuid() == 0 {
            #expect(health.countersSource == "bpf")
            #expect(health.countersSourceReason == nil)
        } else {
            #expect(health.countersSource == "sock_diag")
            #expect(health.countersSourceReason?.contains("root") == true)
        }
        let plain = HostCollector(configuration: CollectorConfiguration(bpfCounters: false))
        _ = plain.collect()
        let sample = plain.sampleCounters(namespaces: [netns])
        #expect(plain.health.countersSource == "sock_diag")
        #expect(plain.health.countersSourceReason == "BPF counters disabled by configuration")
        #expect(sample.sockets.allSatisfy { $0.netns == netns })
    }

    /// A namespace whose connection is older than the programs: not answered from BPF until seeded from a thread
    /// inside it, then answered with the counters sock_diag gives in that namespace.
    @Test(.enabled(if: geteuid() == 0, "needs root for ip netns and BPF"))
    func seedingAnotherNamespace() throws {
        let (name, nsInode) = try TestProcesses.makeNetns(prefix: "psc-iter-")
        defer { TestProcesses.deleteNetns(name) }
        let script = """
            import socket, time
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
            c = socket.create_connection(s.getsockname()); a, _ = s.accept()
            c.sendall(b"x" * 5000); a.recv(65536)
            time.sleep(30)
            """
        let pid = try TestProcesses.spawn(["/usr/sbin/ip", "netns", "exec", name, "/usr/bin/python3", "-c", script])
        defer { TestProcesses.kill(pid) }
        let nsFD = open("/var/run/netns/\(name)", O_RDONLY | O_CLOEXEC)
        try #require(nsFD >= 0)
        defer { close(nsFD) }
        let diagFD = psc_netlink_open_in_netns(nsFD, Int32(PSC_NETLINK_SOCK_DIAG))
        try #require(diagFD >= 0)
        defer { close(diagFD) }
        var viaDiag: [CounterSample.Socket] = []
        #expect(TestProcesses.eventually {
            viaDiag = []
            try? SocketDiag.counters(into: &viaDiag, diagFD: diagFD, netns: nsInode)
            return viaDiag.count == 2 && viaDiag.contains { $0.info.bytesReceived == 5000 }
        })

        let bpf = try TCPCountersBPF(ownNetns: NamespaceSockets(procRoot: "/proc").ownNetns)
        var out: [CounterSample.Socket] = []
        #expect(try bpf.counters(into: &out, namespaces: [nsInode]).isEmpty)
        try bpf.seed(netnsFD: nsFD, netns: nsInode)
        #expect(try bpf.counters(into: &out, namespaces: [nsInode]) == [nsInode])
        let listed = Dictionary(out.map { ($0.inode, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(out.allSatisfy { $0.netns == nsInode })
        for socket in viaDiag {
            #expect(listed[socket.inode]?.info == socket.info)
        }
    }

    /// An object the kernel cannot take gives no handle and a sentence saying why (libbpf's last message), which
    /// is what `countersSourceReason` then shows.
    @Test func aBadObjectFailsWithAReason() {
        let garbage = [UInt8](repeating: 0x7f, count: 64)
        var message = [CChar](repeating: 0, count: 512)
        let handle = garbage.withUnsafeBytes { psc_tcpc_open($0.baseAddress, $0.count, &message, message.count) }
        #expect(handle == nil)
        let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(!text.isEmpty)
        if let handle { psc_tcpc_close(handle) }
    }
}
