import Testing
import Synchronization
import PeriscopeCollectors
#if canImport(Glibc)
import Glibc
#endif

extension KernelTests {
    @Test(.enabled(if: geteuid() == 0, "the process connector needs CAP_NET_ADMIN"))
    func processEventMonitorSeesForkExecAndExit() throws {
        let events = Mutex<[ProcessEvent]>([])
        let monitor = ProcessEventMonitor()
        try monitor.start { event in events.withLock { $0.append(event) } }
        defer { monitor.stop() }
        #expect(throws: CollectorError.self) { try monitor.start { _ in } }

        let pid = try TestProcesses.spawn(["/bin/true"])
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
        let seen = TestProcesses.eventually {
            let all = events.withLock { $0 }
            return all.contains(.exec(pid: pid)) && all.contains(.exit(pid: pid, code: 0))
        }
        #expect(seen)
        #expect(events.withLock { $0.contains(.fork(parent: getpid(), child: pid)) })

        let failing = try TestProcesses.spawn(["/bin/false"])
        _ = waitpid(failing, &status, 0)
        #expect(TestProcesses.eventually { events.withLock { $0.contains(.exit(pid: failing, code: 1)) } })
        #expect(monitor.eventsSeen >= 4)
        monitor.stop()
        monitor.stop()   // idempotent
    }

    @Test func reverseResolverNeverBlocksAndCaches() {
        let resolver = ReverseResolver(ttl: 60)
        #expect(resolver.name(for: "not an address") == nil)
        let first = resolver.name(for: "127.0.0.1")   // queued, not waited for
        #expect(first == nil)
        let resolved = TestProcesses.eventually(seconds: 10) { resolver.name(for: "127.0.0.1") != nil }
        // Loopback has a PTR answer from /etc/hosts on any sane machine.
        #expect(resolved)
    }
}
