import PeriscopeFixtures
import Testing
@testable import PeriscopeTopology

/// An event-driven update that hands the builder only the sockets that changed
/// (``ReportBuilder/ingest(_:removing:adding:)``) gives the report a whole-snapshot ingest gives, apart from
/// timestamps and metric samples of the connections it did not touch.
@Suite struct SocketDeltaTests {
    /// Each step: sockets added to and removed from the previous step's snapshot (flows opening and closing, an
    /// owner filled in, a socket in another namespace on a new address), half a second apart; step 6 waits past
    /// the retention so closed connections expire.
    static func steps() -> [(removed: [SocketRecord], added: [SocketRecord], dt: Double)] {
        let a = Fixtures.conn("127.0.0.1", 41000, "127.0.0.1", 8080, pid: 200)
        let b = Fixtures.conn("127.0.0.1", 41001, "127.0.0.1", 60000, pid: 701)
        let c = Fixtures.conn("192.168.1.10", 41002, "203.0.113.9", 443, pid: 600)
        let ownerless = Fixtures.conn("127.0.0.1", 41003, "127.0.0.1", 9000, pid: nil)
        var owned = ownerless
        owned.pid = 501
        let other = Fixtures.conn("10.200.0.77", 41004, "10.200.0.1", 8080, pid: 300, netns: Fixtures.otherNS)
        return [
            ([], [a, b], 0.5),
            ([], [c, ownerless], 0.5),
            ([ownerless], [owned], 0.5),
            ([a], [other], 0.5),
            ([b, other], [], 0.5),
            ([], [a], 0.5),
            ([], [], 20),
            ([c, owned, a], [], 0.5),
        ]
    }

    @Test func deltaEqualsWholeSnapshotIngest() throws {
        var snapshot = Fixtures.scenario(t: 100)
        var delta = ReportBuilder(hostID: "h1", retention: 5, connectionHistoryLength: 3)
        var whole = ReportBuilder(hostID: "h1", retention: 5, connectionHistoryLength: 3)
        _ = delta.ingest(snapshot)
        _ = whole.ingest(snapshot)
        for (i, step) in Self.steps().enumerated() {
            snapshot.timestamp += step.dt
            for socket in step.removed {
                let index = try #require(snapshot.sockets.firstIndex(of: socket), "step \(i)")
                snapshot.sockets.remove(at: index)
            }
            snapshot.sockets.append(contentsOf: step.added)
            let updated = delta.ingest(snapshot, removing: step.removed, adding: step.added)
            let a = try #require(updated, "step \(i)")
            let b = whole.ingest(snapshot, metrics: false)
            for kind in TopologyKind.allCases {
                #expect(Set(a[kind].nodes.keys) == Set(b[kind].nodes.keys), "step \(i) \(kind)")
                for (id, node) in b[kind].nodes {
                    let other = a[kind].nodes[id]
                    for key in node.latest.entries.keys where key != NodeKey.lastSeen {
                        #expect(other?.latest[key] == node.latest[key], "step \(i) \(id) \(key)")
                    }
                    #expect(other?.adjacency == node.adjacency, "step \(i) \(id)")
                    #expect(other?.parents == node.parents, "step \(i) \(id)")
                    #expect(other?.sets == node.sets, "step \(i) \(id)")
                }
            }
        }
        #expect(delta.current.connections.count > 0)
    }

    /// A change the delta path cannot apply exactly changes nothing and says so.
    @Test func unknownSocketOrListenerFallsBack() {
        let snapshot = Fixtures.scenario(t: 100)
        var builder = ReportBuilder(hostID: "h1", retention: 5)
        let early = builder.ingest(snapshot, removing: [], adding: [])
        #expect(early == nil)  // no state yet
        let first = builder.ingest(snapshot)
        let stranger = Fixtures.conn("127.0.0.1", 42000, "127.0.0.1", 8080, pid: 200)
        let unknown = builder.ingest(snapshot, removing: [stranger], adding: [])
        #expect(unknown == nil)
        let listener = builder.ingest(snapshot, removing: [], adding: [Fixtures.listen("0.0.0.0", 7000, pid: 100)])
        #expect(listener == nil)
        #expect(builder.current == first)
    }
}
