import Testing
import Synchronization
import PeriscopeCollectors
import PeriscopeSystem
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

    /// A build-like burst read with the hold-off used while nobody looks: every child's fork and exit arrives
    /// exactly once (the batched reads take many datagrams a call), nothing is lost, and the thread wakes once
    /// per hold-off, not once per event.
    @Test(.enabled(if: geteuid() == 0, "the process connector needs CAP_NET_ADMIN"))
    func burstIsReadWholeInFewBatchesWhileNobodyLooks() throws {
        let events = Mutex<[ProcessEvent]>([])
        let monitor = ProcessEventMonitor()
        try monitor.start { event in events.withLock { $0.append(event) } }
        defer { monitor.stop() }
        monitor.setHoldOff(millis: 500)
        let children = 1_500
        let shell = try TestProcesses.spawn(["/bin/sh", "-c",
                                             "i=0; while [ $i -lt \(children) ]; do /bin/true; i=$((i+1)); done"])
        var status: Int32 = 0
        _ = waitpid(shell, &status, 0)
        func forked() -> [Int32] {
            events.withLock { all in all.compactMap { if case .fork(shell, let child) = $0 { child } else { nil } } }
        }
        func exits(of kids: Set<Int32>) -> [ProcessEvent] {
            events.withLock { all in all.filter { if case .exit(let pid, _) = $0 { kids.contains(pid) } else { false } } }
        }
        #expect(TestProcesses.eventually(seconds: 10) {
            let kids = Set(forked())
            return kids.count == children && exits(of: kids).count == children
        })
        let kids = forked()
        #expect(kids.count == children && Set(kids).count == children)  // each fork once
        let exited = exits(of: Set(kids))
        #expect(exited.count == children)  // each exit once, with /bin/true's status
        #expect(exited.allSatisfy { if case .exit(_, 0) = $0 { true } else { false } })
        #expect(monitor.eventsLost == 0)
        // 4,500 events over a second or more: with a 500 ms hold-off the reader wakes a few times a second.
        #expect(monitor.batches < 200, "\(monitor.batches) batches for \(monitor.eventsSeen) events")
    }

    /// Someone starts looking while the reader holds off for nobody: the shorter hold-off ends the one under way,
    /// so the events waiting are read now, not when the long one ends.
    @Test(.enabled(if: geteuid() == 0, "the process connector needs CAP_NET_ADMIN"))
    func shorterHoldOffEndsTheOneUnderWay() throws {
        let events = Mutex<[ProcessEvent]>([])
        let monitor = ProcessEventMonitor()
        try monitor.start { event in events.withLock { $0.append(event) } }
        defer { monitor.stop() }
        monitor.setHoldOff(millis: 20_000)
        let shell = try TestProcesses.spawn(["/bin/sh", "-c", "i=0; while [ $i -lt 100 ]; do /bin/true; i=$((i+1)); done"])
        var status: Int32 = 0
        _ = waitpid(shell, &status, 0)
        usleep(300_000)
        let shellExit = ProcessEvent.exit(pid: shell, code: 0)
        // The loop's events came steadily: the reader is holding off, its last events not read yet.
        #expect(!events.withLock { $0.contains(shellExit) })
        let asked = SystemClock.monotonicNanos()
        monitor.setHoldOff(millis: 10)
        #expect(TestProcesses.eventually(seconds: 5) { events.withLock { $0.contains(shellExit) } })
        let waited = Double(SystemClock.monotonicNanos() - asked) / 1e9
        #expect(waited < 5, "read \(waited) s after the hold-off was shortened")
        monitor.stop()  // the stop signal still ends the reader after a nudge
        #expect(monitor.eventsLost == 0)
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
