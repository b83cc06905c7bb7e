import PeriscopeCollectors
import PeriscopeTopology
import Testing

private func record(_ pid: Int32, name: String = "p", start: Double = 10, state: String = "S") -> ProcessRecord {
    var p = ProcessRecord(pid: pid, ppid: 1, name: name, command: name)
    p.startTime = start
    p.state = state
    return p
}

private func base(_ processes: [ProcessRecord], sockets: [SocketRecord] = []) -> HostSnapshot {
    HostSnapshot(timestamp: 1, host: HostRecord(hostname: "test"), processes: processes, sockets: sockets, hostNetns: 1)
}

private func owned(by pid: Int32) -> SocketRecord {
    SocketRecord(proto: .tcp, family: .ipv4, state: "established", localAddress: "127.0.0.1", localPort: 40000,
                 remoteAddress: "127.0.0.1", remotePort: 80, inode: 9, uid: 0, netns: 1, pid: pid)
}

/// Process events folded into a snapshot one pid at a time (``ProcessChanges``).
struct ProcessChangesTests {
    @Test func execAddsInOrderExitRemovesAndNothingIsReadTwice() {
        let changes = ProcessChanges()
        var snapshot = base([record(1), record(30)])
        var reads: [Int32] = []
        changes.note(.fork(parent: 1, child: 20))
        changes.note(.exec(pid: 20))
        changes.note(.exit(pid: 30, code: 0))
        let outcome = changes.apply(to: &snapshot) { pid in
            reads.append(pid)
            return record(pid, name: "new")
        }
        #expect(outcome == .init(changed: true, needsFullPass: false))
        #expect(snapshot.processes.map(\.pid) == [1, 20])
        #expect(snapshot.processes[1].name == "new")
        #expect(reads == [20], "fork and exec of one pid make one read; an exit makes none")
        #expect(changes.isEmpty)
        #expect(changes.apply(to: &snapshot) { _ in nil } == .init(), "applied once")
    }

    @Test func aBurstOfShortLivedProcessesChangesNothing() {
        let changes = ProcessChanges()
        var snapshot = base([record(1)])
        for pid in Int32(1000)..<2000 {
            changes.note(.fork(parent: 1, child: pid))
            changes.note(.exec(pid: pid))
            changes.note(.exit(pid: pid, code: 0))
        }
        #expect(changes.apply(to: &snapshot) { _ in nil } == .init())
        #expect(snapshot.processes.map(\.pid) == [1])
    }

    @Test func zombiesAndGoneProcessesAreRemoved() {
        let changes = ProcessChanges()
        var snapshot = base([record(5), record(6)])
        changes.note(.exec(pid: 5))
        changes.note(.exec(pid: 6))
        let outcome = changes.apply(to: &snapshot) { pid in pid == 5 ? record(5, state: "Z") : nil }
        #expect(outcome.changed)
        #expect(snapshot.processes.isEmpty)
    }

    @Test func aSocketOwnerThatExitsIsLeftToAFullPass() {
        let changes = ProcessChanges()
        var snapshot = base([record(7), record(8)], sockets: [owned(by: 7)])
        changes.note(.exit(pid: 7, code: 9))
        changes.note(.exec(pid: 8))
        // Pid 8 now names another process (new start time) but owns nothing: replaced in place.
        let outcome = changes.apply(to: &snapshot) { pid in pid == 8 ? record(8, name: "other", start: 99) : nil }
        #expect(outcome == .init(changed: true, needsFullPass: true))
        #expect(snapshot.processes.map(\.pid) == [7, 8], "the owner stays until the kernel's tables say its sockets closed")
        #expect(snapshot.processes[1].name == "other")
        #expect(snapshot.sockets.count == 1)
    }

    @Test func unchangedProcessesChangeNothing() {
        let changes = ProcessChanges()
        var snapshot = base([record(3)])
        changes.note(.exec(pid: 3))
        #expect(changes.apply(to: &snapshot) { _ in record(3) } == .init())
    }
}
