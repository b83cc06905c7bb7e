import PeriscopeFixtures
import PeriscopeProtocol
import PeriscopeTopology
import Testing
@testable import PeriscopeServer

/// Report deltas and the aggregator's incremental merge: a delta takes the old report exactly to the new one
/// (through its wire form), the incremental composition always equals merging every host from scratch, and a
/// gap is never papered over.
@Suite struct HostMergerTests {
    /// A random report of `host`: processes, a host node, host-scoped endpoints and a few shared (global)
    /// endpoints every host may add its parent to.
    static func report(_ host: String, _ rng: inout SplitMix64, time: Double) -> Report {
        var report = Report()
        var hostNode = Node(id: host, topology: .host)
        hostNode.set("hostname", host, at: time)
        hostNode.record("cpu", Double(rng.int(100)), at: time)
        report.add(hostNode)
        for pid in 0..<(3 + rng.int(6)) where rng.int(4) != 0 {
            var process = Node(id: "\(host);\(pid)", topology: .process)
            process.set("name", "p\(rng.int(3))", at: time)
            process.addParent(.host, host)
            report.add(process)
            var endpoint = Node(id: "\(host)/1;127.0.0.1;\(4000 + pid);tcp", topology: .endpoint)
            endpoint.addParent(.process, "\(host);\(pid)")
            report.add(endpoint)
        }
        for port in 0..<3 where rng.bool() {
            var shared = Node(id: ";10.0.0.9;\(80 + port);tcp", topology: .endpoint)
            shared.addParent(.host, host)
            shared.set("seen_by_\(host)", "\(rng.int(5))", at: time)
            report.add(shared)
        }
        return report
    }

    /// What the aggregator must show: every host's report (stale ones marked) merged with the local one.
    static func mergedFromScratch(local: Report, hosts: [String: Report], stale: [String: Double]) -> Report {
        var merged = local
        for (host, report) in hosts {
            var contribution = report
            if let since = stale[host] {
                for kind in [TopologyKind.process, .host, .container] {
                    var topology = contribution[kind]
                    for id in Array(topology.nodes.keys) { topology.nodes[id]?.set(NodeKey.stale, "true", at: since) }
                    contribution[kind] = topology
                }
            }
            merged.merge(contribution)
        }
        return merged
    }

    @Test func aDeltaThroughItsWireFormTakesTheOldReportToTheNewOne() throws {
        var rng = SplitMix64(seed: 11)
        for round in 0..<50 {
            let old = Self.report("h1", &rng, time: Double(round))
            let new = Self.report("h1", &rng, time: Double(round) + 0.5)
            let delta = ReportDelta(from: old, to: new)
            let parsed = try ReportDelta.parse(JSONWriter.bytes(delta.json))
            #expect(parsed == delta)
            var applied = old
            parsed.apply(to: &applied)
            #expect(applied == new, "round \(round)")
        }
        let same = Self.report("h1", &rng, time: 1)
        #expect(ReportDelta(from: same, to: same).isEmpty)
        #expect(throws: ReportWireError.self) { try ReportDelta.parse(Array(#"{"topologies":{},"removed":{"pods":[]}}"#.utf8)) }
        #expect(throws: ReportWireError.self) { try ReportDelta.parse(Array(#"{"topologies":{},"removed":{"process":[1]}}"#.utf8)) }
    }

    @Test func theIncrementalMergeEqualsMergingEveryHostFromScratch() {
        var rng = SplitMix64(seed: 42)
        let merger = HostMerger()
        var local = Report()
        var hosts: [String: Report] = [:]
        var revisions: [String: Int64] = [:]
        var stale: [String: Double] = [:]
        let names = ["h1", "h2", "h3", "h4"]
        for step in 0..<400 {
            let host = rng.pick(names)
            let time = Double(step)
            switch rng.int(6) {
            case 0:
                local = Self.report("agg", &rng, time: time)
                merger.setLocal(local)
            case 1:
                let report = Self.report(host, &rng, time: time)
                hosts[host] = report
                revisions[host] = Int64(step)
                #expect(merger.full(host, revision: Int64(step), report: report) == .ack(Int64(step)))
            case 2, 3:
                guard let old = hosts[host], let base = revisions[host] else { continue }
                let new = Self.report(host, &rng, time: time)
                #expect(merger.delta(host, base: base, revision: Int64(step), ReportDelta(from: old, to: new)) == .ack(Int64(step)))
                hosts[host] = new
                revisions[host] = Int64(step)
            case 4:
                guard hosts[host] != nil else { continue }
                let mark = stale[host] == nil
                stale[host] = mark ? time : nil
                merger.setStale(host, mark, at: time)
            default:
                hosts[host] = nil
                revisions[host] = nil
                stale[host] = nil
                merger.remove(host)
            }
            #expect(merger.composed == Self.mergedFromScratch(local: local, hosts: hosts, stale: stale), "step \(step)")
        }
    }

    @Test func aGapAsksForTheFullReportAndNothingIsAppliedUntilItComes() {
        var rng = SplitMix64(seed: 7)
        let merger = HostMerger()
        let first = Self.report("h1", &rng, time: 1)
        let second = Self.report("h1", &rng, time: 2)
        let third = Self.report("h1", &rng, time: 3)
        // No report held yet: a delta or a heartbeat is a gap.
        #expect(merger.delta("h1", base: 0, revision: 1, ReportDelta(from: Report(), to: first)) == .resend(held: -1))
        #expect(merger.heartbeat("h1", revision: 1) == .resend(held: -1))
        #expect(merger.full("h1", revision: 1, report: first) == .ack(1))
        #expect(merger.delta("h1", base: 1, revision: 2, ReportDelta(from: first, to: second)) == .ack(2))
        #expect(merger.heartbeat("h1", revision: 2) == .ack(2))
        // A delta lost on the way: the next one builds on revision 3, which is not held.
        #expect(merger.delta("h1", base: 3, revision: 4, ReportDelta(from: second, to: third)) == .resend(held: 2))
        #expect(merger.composed == second, "nothing of the delta after the gap is applied")
        // Until the full report comes, later deltas and heartbeats are ignored (one resend per gap).
        #expect(merger.delta("h1", base: 4, revision: 5, ReportDelta(from: third, to: first)) == .ignored)
        #expect(merger.heartbeat("h1", revision: 5) == .ignored)
        #expect(merger.composed == second)
        #expect(merger.full("h1", revision: 6, report: third) == .ack(6))
        #expect(merger.composed == third)
        #expect(merger.delta("h1", base: 6, revision: 7, ReportDelta(from: third, to: first)) == .ack(7))
        #expect(merger.composed == first)
        #expect(merger.takeChanges() == first)
        #expect(merger.takeChanges() == nil, "no change since")
    }
}
