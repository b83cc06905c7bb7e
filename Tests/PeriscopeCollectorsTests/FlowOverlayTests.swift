import PeriscopeCollectors
import PeriscopeTopology
import Testing

private final class NoLookup: ProcessLookup {
    func process(pid: Int32) -> ProcessRecord? { nil }
    func networkNamespace(pid: Int32) -> UInt64? { nil }
}

private let netns: UInt64 = 4_026_531_840

private func connect(port: UInt16, pid: Int32, at time: Double) -> SocketStateEvent {
    SocketStateEvent(timestamp: time, pid: pid, family: .ipv4, proto: .tcp, localAddress: "127.0.0.1",
                     localPort: port, remoteAddress: "127.0.0.1", remotePort: 5432, oldState: "close", newState: "syn-sent")
}

private func dumped(port: UInt16, pid: Int32?) -> SocketRecord {
    SocketRecord(proto: .tcp, family: .ipv4, state: "established", localAddress: "127.0.0.1", localPort: port,
                 remoteAddress: "127.0.0.1", remotePort: 5432, inode: UInt64(port), uid: 1000, netns: netns, pid: pid)
}

/// The index of a base snapshot's sockets that the flow tracker keeps between patches.
@Suite("Flow overlay")
struct FlowOverlayTests {
    /// An owner a full pass filled in from a flow is in the kept index as an owned socket: a later patch
    /// on the same base neither fills it again nor adds the flow as a socket of its own.
    @Test func ownersFilledAtAFullPassCountAsPresent() throws {
        let flows = FlowTracker(lookup: NoLookup())
        let processes = [ProcessRecord(pid: 42, ppid: 1, name: "c", command: "c", netns: netns)]
        var base = HostSnapshot(timestamp: 100, host: HostRecord(hostname: "t"), processes: processes,
                                sockets: [dumped(port: 40000, pid: nil), dumped(port: 40001, pid: 7)], hostNetns: netns)
        flows.record([connect(port: 40000, pid: 42, at: 101)])
        let overlay = try #require(flows.overlay(on: base, version: 1, fresh: true))
        #expect(overlay.fills == [0: 42] && overlay.appended.isEmpty)
        base.sockets[0].pid = 42
        flows.ownersFilled(at: overlay.fills.keys, in: base.sockets, version: 1)

        // A flow opened after: the next patch adds only it; the filled socket counts as present.
        flows.record([connect(port: 40002, pid: 42, at: 102)])
        let next = try #require(flows.overlay(on: base, version: 1))
        #expect(next.fills.isEmpty)
        #expect(next.appended.map(\.localPort) == [40002])
        // The same with an index built afresh.
        let fresh = FlowTracker(lookup: NoLookup())
        fresh.record([connect(port: 40000, pid: 42, at: 101), connect(port: 40002, pid: 42, at: 102)])
        let rebuilt = try #require(fresh.overlay(on: base, version: nil))
        #expect(rebuilt.fills == next.fills && rebuilt.appended == next.appended)
    }
}
