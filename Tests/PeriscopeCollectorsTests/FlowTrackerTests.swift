import PeriscopeCollectors
import PeriscopeTopology
import Testing

/// Processes and namespaces a test says exist, instead of /proc.
private final class FakeLookup: ProcessLookup {
    var processes: [Int32: ProcessRecord] = [:]
    var namespaces: [Int32: UInt64] = [:]
    private(set) var asked: [Int32] = []

    func process(pid: Int32) -> ProcessRecord? {
        asked.append(pid)
        return processes[pid]
    }

    func networkNamespace(pid: Int32) -> UInt64? { namespaces[pid] }
}

private let hostNetns: UInt64 = 4_026_531_840

private func process(_ pid: Int32, uid: UInt32 = 1000, netns: UInt64 = hostNetns) -> ProcessRecord {
    ProcessRecord(pid: pid, ppid: 1, name: "client\(pid)", command: "client\(pid)", uid: uid, netns: netns)
}

private func snapshot(processes: [ProcessRecord], sockets: [SocketRecord] = [], at time: Double = 100) -> HostSnapshot {
    HostSnapshot(timestamp: time, host: HostRecord(hostname: "test"), processes: processes, sockets: sockets,
                 hostNetns: hostNetns)
}

/// A TCP transition of the connection 127.0.0.1:`port` → 127.0.0.1:5432.
private func event(_ old: String, _ new: String, port: UInt16, pid: Int32?, at time: Double,
                   proto: TransportProtocol = .tcp) -> SocketStateEvent {
    SocketStateEvent(timestamp: time, pid: pid, family: .ipv4, proto: proto, localAddress: "127.0.0.1",
                     localPort: port, remoteAddress: "127.0.0.1", remotePort: 5432, oldState: old, newState: new)
}

/// The socket a kernel dump would list for that connection.
private func dumped(port: UInt16, pid: Int32?, state: String = "established", inode: UInt64 = 777) -> SocketRecord {
    SocketRecord(proto: .tcp, family: .ipv4, state: state, localAddress: "127.0.0.1", localPort: port,
                 remoteAddress: "127.0.0.1", remotePort: 5432, inode: inode, uid: 1000, netns: hostNetns, pid: pid)
}

private func flowSockets(_ snapshot: HostSnapshot?, port: UInt16) -> [SocketRecord] {
    snapshot?.sockets.filter { $0.localPort == port && $0.remotePort == 5432 } ?? []
}

@Suite("Flow tracker")
struct FlowTrackerTests {
    @Test func aNewFlowBecomesAClientSocketOwnedByTheConnectingPid() throws {
        let lookup = FakeLookup()
        lookup.namespaces[42] = hostNetns
        let flows = FlowTracker(lookup: lookup)
        flows.record([event("close", "syn-sent", port: 40000, pid: 42, at: 101)])
        #expect(flows.hasWork)

        let patched = try #require(flows.patch(snapshot(processes: [process(42)]), now: 102))
        #expect(patched.timestamp == 102)
        let socket = try #require(flowSockets(patched, port: 40000).first)
        #expect(flowSockets(patched, port: 40000).count == 1)
        #expect(socket.proto == .tcp && socket.family == .ipv4 && socket.state == "established")
        #expect(socket.localAddress == "127.0.0.1" && socket.remoteAddress == "127.0.0.1")
        #expect(socket.pid == 42 && socket.uid == 1000 && socket.netns == hostNetns)
        #expect(socket.inode >> 62 == 3, "synthetic inodes have the top bits set: the kernel never hands them out")
        #expect(lookup.asked.isEmpty, "a process the snapshot has is not read again")

        // Shown once: nothing more to do until something changes.
        #expect(!flows.hasWork)
        #expect(flows.patch(snapshot(processes: [process(42)]), now: 103) == nil)
    }

    @Test func onlyConnectsWithAPidAndAPortOpenFlows() {
        let flows = FlowTracker(lookup: FakeLookup())
        flows.record([
            event("close", "syn-sent", port: 40001, pid: nil, at: 101),          // owner unknown
            event("close", "syn-sent", port: 0, pid: 42, at: 101),               // port not chosen yet
            event("syn-recv", "established", port: 40002, pid: 42, at: 101),     // the server side
            event("close", "syn-sent", port: 40003, pid: 42, at: 101, proto: .udp),
        ])
        #expect(!flows.hasWork)
        #expect(flows.patch(snapshot(processes: [process(42)]), now: 102) == nil)
    }

    @Test func anEstablishedConnectOpensAFlowAndTheFirstOwnerStays() throws {
        let flows = FlowTracker(lookup: FakeLookup())
        flows.record([
            event("syn-sent", "established", port: 40010, pid: 42, at: 101),
            event("close", "syn-sent", port: 40010, pid: 43, at: 101.5),
        ])
        let patched = try #require(flows.patch(snapshot(processes: [process(42), process(43)]), now: 102))
        #expect(flowSockets(patched, port: 40010).map(\.pid) == [42])
    }

    @Test func aProcessTheSnapshotLacksIsReadAndAdded() throws {
        let lookup = FakeLookup()
        let flows = FlowTracker(lookup: lookup)
        flows.record([event("close", "syn-sent", port: 40020, pid: 50, at: 101)])

        // Unknown to the snapshot and unreadable: nothing to show yet, and the flow waits.
        #expect(flows.patch(snapshot(processes: [process(42)]), now: 102) == nil)
        #expect(lookup.asked == [50])
        #expect(flows.hasWork)

        lookup.processes[50] = process(50, uid: 7, netns: 9)
        let patched = try #require(flows.patch(snapshot(processes: [process(42)]), now: 103))
        #expect(patched.processes.map(\.pid) == [42, 50])
        let socket = try #require(flowSockets(patched, port: 40020).first)
        #expect(socket.pid == 50 && socket.uid == 7)
        #expect(socket.netns == 9, "without a current namespace, the process record's")
    }

    @Test func theNamespaceIsThePidsCurrentOne() throws {
        let lookup = FakeLookup()
        lookup.namespaces[42] = 12345  // entered another namespace (`ip netns exec`) after the last pass
        let flows = FlowTracker(lookup: lookup)
        flows.record([event("close", "syn-sent", port: 40030, pid: 42, at: 101)])
        let patched = try #require(flows.patch(snapshot(processes: [process(42)]), now: 102))
        #expect(flowSockets(patched, port: 40030).first?.netns == 12345)
    }

    @Test func aClosedFlowIsLeftOutAfterItWasShown() throws {
        let flows = FlowTracker(lookup: FakeLookup())
        let base = snapshot(processes: [process(42)])
        flows.record([event("close", "syn-sent", port: 40040, pid: 42, at: 101)])
        #expect(flowSockets(flows.patch(base, now: 102), port: 40040).count == 1)

        flows.record([event("established", "fin-wait-1", port: 40040, pid: 42, at: 103)])
        #expect(flows.hasWork)
        // Left out, so the report builder marks the connection closed and keeps it for its retention.
        let closed = try #require(flows.patch(base, now: 104))
        #expect(flowSockets(closed, port: 40040).isEmpty)
        #expect(!flows.hasWork)
        #expect(flows.patch(base, now: 105) == nil)
    }

    @Test func aFlowThatClosedBeforeAnyReportIsShownOnce() throws {
        let flows = FlowTracker(lookup: FakeLookup())
        let base = snapshot(processes: [process(42)])
        flows.record([
            event("close", "syn-sent", port: 40050, pid: 42, at: 101),
            event("syn-sent", "established", port: 40050, pid: 42, at: 101.001),
            event("established", "fin-wait-1", port: 40050, pid: 42, at: 101.002),
            event("fin-wait-1", "fin-wait-2", port: 40050, pid: 42, at: 101.003),
        ])
        #expect(flowSockets(flows.patch(base, now: 102), port: 40050).count == 1, "a 3 ms connection still reaches a report")
        let after = try #require(flows.patch(base, now: 103))
        #expect(flowSockets(after, port: 40050).isEmpty)
    }

    @Test func aDumpedSocketWithAnOwnerIsNotDuplicated() {
        let flows = FlowTracker(lookup: FakeLookup())
        flows.record([event("close", "syn-sent", port: 40060, pid: 42, at: 101)])
        let withSocket = snapshot(processes: [process(42)], sockets: [dumped(port: 40060, pid: 42)])
        #expect(flows.patch(withSocket, now: 102) == nil, "the dump already shows it")

        // Confirmed by the dump: after a full pass that started later, the kernel is authoritative.
        flows.fullPassDone(passStart: 101.5)
        #expect(!flows.hasWork)
        #expect(flows.patch(snapshot(processes: [process(42)]), now: 103) == nil)
    }

    @Test func aDumpedSocketWithoutAnOwnerGetsTheConnectingPid() throws {
        let flows = FlowTracker(lookup: FakeLookup())
        flows.record([event("close", "syn-sent", port: 40070, pid: 42, at: 101)])
        let listener = SocketRecord(proto: .tcp, family: .ipv4, state: "listen", localAddress: "127.0.0.1", localPort: 40070,
                                    remoteAddress: "0.0.0.0", remotePort: 0, inode: 5, uid: 0, netns: hostNetns, pid: 1)
        let ownerless = snapshot(processes: [process(42)], sockets: [listener, dumped(port: 40070, pid: nil)])
        let patched = try #require(flows.patch(ownerless, now: 102))
        #expect(patched.sockets.count == 2, "filled in, not added")
        #expect(flowSockets(patched, port: 40070).map(\.pid) == [42])
        #expect(flowSockets(patched, port: 40070).first?.inode == 777, "the kernel's socket, not a synthetic one")
    }

    @Test func aFullPassForgetsWhatItCoversAndKeepsWhatWasNeverShown() throws {
        let lookup = FakeLookup()
        let flows = FlowTracker(lookup: lookup)
        let base = snapshot(processes: [process(42)])
        flows.record([
            event("close", "syn-sent", port: 40080, pid: 42, at: 100),  // shown, then covered by the pass
            event("close", "syn-sent", port: 40081, pid: 60, at: 100),  // its process cannot be read yet
        ])
        #expect(flowSockets(flows.patch(base, now: 100.5), port: 40080).count == 1)
        flows.fullPassDone(passStart: 101)
        lookup.processes[60] = process(60)
        let later = try #require(flows.patch(base, now: 102))
        #expect(flowSockets(later, port: 40080).isEmpty, "the full pass is authoritative for it")
        #expect(flowSockets(later, port: 40081).map(\.pid) == [60], "kept until a report has it")

        // A flow whose process never shows up is given up on after 30 s.
        flows.record([event("close", "syn-sent", port: 40082, pid: 61, at: 200)])
        flows.fullPassDone(passStart: 229)
        #expect(flows.hasWork)
        flows.fullPassDone(passStart: 231)
        lookup.processes[61] = process(61)
        #expect(flowSockets(flows.patch(base, now: 232), port: 40082).isEmpty)
    }
}
