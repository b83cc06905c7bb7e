import PeriscopeFixtures
import Testing
@testable import PeriscopeTopology

/// A counters-only update (``ReportBuilder/ingest(_:removing:adding:counters:metrics:)`` with the sockets whose
/// `tcp_info` moved) gives exactly the report a whole-snapshot ingest of the same snapshot gives: the same
/// samples, rates falling to 0 one pass after a connection goes quiet, the same `last_seen`.
@Suite struct CounterUpdateTests {
    /// The scenario with counters on every TCP connection, so both sides of the loopback pairs have them.
    static func start() -> HostSnapshot {
        var snapshot = Fixtures.scenario(t: 100)
        for i in snapshot.sockets.indices where snapshot.sockets[i].proto == .tcp && snapshot.sockets[i].remotePort != 0 {
            if snapshot.sockets[i].tcpInfo == nil {
                snapshot.sockets[i].tcpInfo = TCPInfoRecord(rttMicros: 300, rttVarMicros: 10, bytesSent: 100,
                                                            bytesReceived: 50, retransmits: 0)
            }
        }
        return snapshot
    }

    /// Moves the counters of a few sockets (none, some, sometimes both sides of a connection) and returns the
    /// sockets that changed, as the collector hands them over.
    static func step(_ snapshot: inout HostSnapshot, _ random: inout SplitMix64) -> [SocketRecord] {
        var changed: [SocketRecord] = []
        let candidates = snapshot.sockets.indices.filter { snapshot.sockets[$0].tcpInfo != nil }
        let moves = random.int(4)  // 0: a quiet pass
        for _ in 0..<moves {
            let i = random.pick(candidates)
            guard var info = snapshot.sockets[i].tcpInfo else { continue }
            switch random.int(3) {
            case 0: info.bytesSent += UInt64(1 + random.int(5_000))
            case 1: info.bytesReceived += UInt64(1 + random.int(5_000))
            default: info.rttMicros = UInt32(50 + random.int(2_000))
            }
            snapshot.sockets[i].tcpInfo = info
            let s = snapshot.sockets[i]
            changed.removeAll { $0.inode == s.inode && $0.netns == s.netns && $0.remotePort == s.remotePort }
            changed.append(snapshot.sockets[i])
        }
        return changed
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func countersOnlyUpdateEqualsWholeIngest(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        var snapshot = Self.start()
        var counters = ReportBuilder(hostID: "h1", retention: 5, connectionHistoryLength: 4)
        var whole = ReportBuilder(hostID: "h1", retention: 5, connectionHistoryLength: 4)
        #expect(counters.ingest(snapshot) == whole.ingest(snapshot))
        for pass in 0..<60 {
            snapshot.timestamp += 1
            for i in snapshot.processes.indices { snapshot.processes[i].cpuPercent = Double(random.int(100)) }
            let changed = Self.step(&snapshot, &random)
            let expected = whole.ingest(snapshot)
            // Every tenth pass is a full one on both sides (the slow reconciliation).
            let update = pass % 10 == 9 ? counters.ingest(snapshot)
                : counters.ingest(snapshot, removing: [], adding: [], counters: changed, metrics: true)
            let got = try #require(update, "seed \(seed) pass \(pass)")
            for kind in TopologyKind.allCases {
                #expect(Set(got[kind].nodes.keys) == Set(expected[kind].nodes.keys), "seed \(seed) pass \(pass) \(kind)")
                for (id, node) in expected[kind].nodes where got[kind].nodes[id] != node {
                    Issue.record("seed \(seed) pass \(pass): \(id) differs")
                }
            }
        }
        #expect(counters.current.connections.count > 5)
    }

    /// A connection whose counters stopped moving gets one more sample (its rate falls to 0) on the next
    /// counters-only update, and is left alone after that.
    @Test func quietConnectionIsSampledOnceMoreThenLeftAlone() throws {
        var snapshot = Self.start()
        var builder = ReportBuilder(hostID: "h1", retention: 5, connectionHistoryLength: 4)
        _ = builder.ingest(snapshot)
        snapshot.timestamp += 1
        _ = builder.ingest(snapshot)  // two equal samples: every connection idle
        // The server side's received bytes are the exact client → server count.
        let i = try #require(snapshot.sockets.firstIndex { $0.localPort == 8080 && $0.remotePort == 40001 })
        snapshot.sockets[i].tcpInfo?.bytesReceived += 4_000
        snapshot.timestamp += 1
        let movedUpdate = builder.ingest(snapshot, removing: [], adding: [], counters: [snapshot.sockets[i]], metrics: true)
        let moved = try #require(movedUpdate)
        let id = try #require(moved.connections.nodes.first { $0.value.metrics[MetricKey.clientBytesSent]?.samples.last?.value == 5_000 }?.key)
        #expect(moved.connections.nodes[id]?.metrics[MetricKey.clientBytesSent]?.samples.count == 3)
        snapshot.timestamp += 1
        let quietUpdate = builder.ingest(snapshot, removing: [], adding: [], counters: [], metrics: true)
        let quiet = try #require(quietUpdate)
        let samples = try #require(quiet.connections.nodes[id]?.metrics[MetricKey.clientBytesSent]?.samples)
        #expect(samples.count == 4 && samples.last?.timestamp == snapshot.timestamp)
        snapshot.timestamp += 1
        let stillUpdate = builder.ingest(snapshot, removing: [], adding: [], counters: [], metrics: true)
        let still = try #require(stillUpdate)
        #expect(still.connections.nodes[id] == quiet.connections.nodes[id])
    }
}
