import Foundation
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
        let clientPort = try TestSockets.localPort(pair.client)
        func clientSocket() -> SocketRecord? {
            collector.collect().sockets.first { $0.proto == .tcp && $0.localPort == clientPort && $0.remotePort == listener.port }
        }
        // Tests running beside this one in the same process open and close descriptors too: when one closed a
        // descriptor as the pair was made, this process's count is unchanged and the owner is found by the
        // next pass's search (the resolver's documented bound), not this one.
        var client = clientSocket()
        if client?.pid == nil { client = clientSocket() }
        #expect(client?.pid == getpid())
        #expect(collector.health.fdReadlinks < full.fdReadlinks)
    }

    /// The scanner keeps each process's /proc descriptors between passes; what a user sees must still follow
    /// the process: an owner that changes without an exec (a server dropping root after start).
    @Test func ownerChangeWithoutExecIsSeenThroughKeptDescriptors() throws {
        try #require(geteuid() == 0, "setuid to another user needs root (the suite runs as root)")
        var go: [Int32] = [0, 0]
        try #require(pipe(&go) == 0)
        defer { close(go[0]); close(go[1]) }
        let script = "import os, sys\nsys.stdin.readline()\nos.setuid(65534)\nsys.stdin.readline()\n"
        let pid = try TestProcesses.spawn(["/usr/bin/python3", "-c", script], stdin: go[0])
        defer { TestProcesses.kill(pid) }
        let collector = HostCollector()
        try #require(TestProcesses.eventually { collector.collect().processes.first { $0.pid == pid }?.uid == 0 })
        _ = write(go[1], "\n", 1)
        let changed = TestProcesses.eventually { collector.collect().processes.first { $0.pid == pid }?.uid == 65534 }
        #expect(changed, "uid now \(String(describing: collector.collect().processes.first { $0.pid == pid }?.uid))")
    }

    /// Kept descriptors end with their process: a long-running daemon must not collect descriptors of every
    /// process that ever ran.
    @Test func descriptorsOfExitedProcessesAreClosed() throws {
        Self.raiseFileLimit()   // as periscoped does: room to keep descriptors for every process of the host
        let collector = HostCollector()
        var children: [pid_t] = []
        var reaped = false
        defer { if !reaped { children.forEach(TestProcesses.kill) } }
        for _ in 0..<5 { children.append(try TestProcesses.spawn(["/bin/sleep", "30"])) }
        try #require(TestProcesses.eventually {
            let snapshot = collector.collect()
            return children.allSatisfy { child in snapshot.processes.contains { $0.pid == child && $0.name == "sleep" } }
        })
        #expect(Self.descriptors(under: children) == children.count * 2, "/proc/PID and /proc/PID/stat, each kept")
        children.forEach(TestProcesses.kill)
        reaped = true
        let snapshot = collector.collect()
        #expect(!snapshot.processes.contains { children.contains($0.pid) })
        #expect(Self.descriptors(under: children) == 0, "the exited processes' descriptors are closed")
    }

    /// This test process's descriptors open on `/proc/PID` or below it, for any of `pids`.
    private static func descriptors(under pids: [pid_t]) -> Int {
        let prefixes = pids.map { "/proc/\($0)" }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return entries.count { entry in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(entry)")
            else { return false }
            return prefixes.contains { target == $0 || target.hasPrefix($0 + "/") }
        }
    }

    private static func raiseFileLimit() {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        limit.rlim_cur = limit.rlim_max
        setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    }
}
