import Foundation
import PeriscopeFixtures
import Testing
@testable import PeriscopeTopology

/// A touched ``LatestMap`` (the touch held beside the stored entries) reads, compares, hashes, encodes and merges
/// exactly as the map with the touch written into its entries; and a connection the builder refreshes keeps sharing
/// its entries' storage with the node of the report before it.
@Suite struct LatestTouchTests {
    /// A map with a few keys (sometimes the touched key among them) at assorted timestamps.
    static func randomMap(_ random: inout SplitMix64) -> LatestMap {
        var map = LatestMap()
        for _ in 0..<random.int(6) {
            map.set(["a", "b", "state", NodeKey.lastSeen, "closed"][random.int(5)], "v\(random.int(4))",
                    at: Double(random.int(5)))
        }
        return map
    }

    /// The touch written out by hand: every key at `t`, `key` set to `value`.
    static func written(_ map: LatestMap, at t: Double, _ key: String, _ value: String) -> LatestMap {
        var entries: [String: LatestEntry] = [:]
        for (k, e) in map.entries { entries[k] = LatestEntry(timestamp: t, value: e.value) }
        entries[key] = LatestEntry(timestamp: t, value: value)
        return LatestMap(entries)
    }

    @Test(arguments: Array(1...200) as [UInt64])
    func touchReadsAsTheWrittenMap(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let base = Self.randomMap(&random)
        var touched = base
        let t = Double(3 + random.int(4))
        touched.touch(at: t, setting: NodeKey.lastSeen, to: "seen\(random.int(3))")
        if random.int(2) == 0 { touched.touch(at: t + 1, setting: NodeKey.lastSeen, to: "again") }  // a second pass
        let expected = Self.written(base, at: touched.entry(NodeKey.lastSeen)?.timestamp ?? -1,
                                    NodeKey.lastSeen, touched[NodeKey.lastSeen] ?? "")
        #expect(touched == expected)
        #expect(expected == touched)
        #expect(touched.hashValue == expected.hashValue)
        #expect(touched.entries == expected.entries)
        #expect(touched.count == expected.count)
        #expect(Dictionary(uniqueKeysWithValues: touched.map { ($0.key, $0.value) }) == expected.entries)
        for key in ["a", "b", "state", NodeKey.lastSeen, "closed", "none"] {
            #expect(touched[key] == expected[key])
            #expect(touched.entry(key) == expected.entry(key))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        #expect(try encoder.encode(touched) == encoder.encode(expected))
        #expect(try JSONDecoder().decode(LatestMap.self, from: encoder.encode(touched)) == expected)

        // Merging either way, and writing on top, gives what the written map gives.
        let other = Self.randomMap(&random)
        var a = touched, b = expected
        a.merge(other); b.merge(other)
        #expect(a == b)
        var c = other, d = other
        c.merge(touched); d.merge(expected)
        #expect(c == d)
        var e = touched, f = expected
        e.set("state", "x", at: 4); f.set("state", "x", at: 4)
        #expect(e == f)
        e.set("b", "w", at: 9); f.set("b", "w", at: 9)
        #expect(e == f)
        // A touched map differs from the untouched one whenever the touch changed something.
        if base != expected { #expect(touched != base) }
    }

    /// A connection whose counters moved is refreshed in place; the report before it, still held (as the served
    /// report is), keeps its node, and both nodes' entries are one storage: the refresh copied no dictionary.
    @Test func refreshedConnectionSharesItsEntriesWithThePreviousReport() throws {
        var snapshot = CounterUpdateTests.start()
        var builder = ReportBuilder(hostID: "h1", retention: 5, connectionHistoryLength: 4)
        _ = builder.ingest(snapshot)
        snapshot.timestamp += 1
        let before = builder.ingest(snapshot)
        let i = try #require(snapshot.sockets.firstIndex { $0.localPort == 8080 && $0.remotePort == 40001 })
        snapshot.sockets[i].tcpInfo?.bytesReceived += 4_000
        snapshot.timestamp += 1
        let after = builder.ingest(snapshot)
        var refreshed = 0
        for (id, node) in after.connections.nodes {
            let old = try #require(before.connections.nodes[id])
            guard node != old else { continue }
            refreshed += 1
            #expect(node.latest.sharesStorage(with: old.latest), "\(id)")
            #expect(node.latest[NodeKey.lastSeen] == String(snapshot.timestamp))
            #expect(node.latest.allSatisfy { $0.value.timestamp == snapshot.timestamp })
            #expect(node.latest == Self.written(old.latest, at: snapshot.timestamp, NodeKey.lastSeen,
                                                String(snapshot.timestamp)))
            #expect(old.latest[NodeKey.lastSeen] == String(snapshot.timestamp - 1))  // the held report is unchanged
        }
        #expect(refreshed == 1)
    }
}
