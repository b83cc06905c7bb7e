import PeriscopeHistory
import PeriscopeTopology
import Testing
@testable import PeriscopeServer

/// The history backfill's core, without a bus: stored messages in stream order become the merged map of the
/// hosts as of each one (full reports, then deltas on them, a delta without its base applying to nothing), one
/// record per second of stored time, silent hosts marked stale; and the log writes those past instants before
/// the live report that waited meanwhile.
@Suite struct BackfillComposerTests {
    static let t0 = 1_780_000_000.0

    static func host(_ name: String, processes: [Int], at time: Double) -> Report {
        var report = Report()
        var node = Node(id: name, topology: .host)
        node.set("hostname", name, at: time)
        report.add(node)
        for pid in processes {
            var process = Node(id: "\(name);\(pid)", topology: .process)
            process.set("name", "p\(pid)", at: time)
            process.addParent(.host, name)
            report.add(process)
        }
        return report
    }

    static func full(_ report: Report, of host: String, revision: Int64, at time: Double) -> BusDelivery {
        BusDelivery(content: .report(host: host, report: report), revision: revision, refreshMillis: 1000, size: 0,
                    storedSeconds: time)
    }

    static func delta(_ old: Report, _ new: Report, of host: String, base: Int64, at time: Double) -> BusDelivery {
        BusDelivery(content: .delta(host: host, base: base, delta: ReportDelta(from: old, to: new)), revision: base + 1,
                    refreshMillis: 1000, size: 0, storedSeconds: time)
    }

    static func processes(_ report: Report) -> Set<String> { Set(report[.process].nodes.keys) }

    @Test func messagesInStreamOrderBecomeTheMergedMapPerSecond() {
        let composer = BackfillComposer(settings: MultiHostConfiguration())
        let a0 = Self.host("a", processes: [1], at: Self.t0)
        let a1 = Self.host("a", processes: [1, 2], at: Self.t0 + 1.5)
        let a2 = Self.host("a", processes: [1], at: Self.t0 + 4.2)
        let b0 = Self.host("b", processes: [7], at: Self.t0)
        var records: [BackfillComposer.Record] = []
        let messages = [
            Self.delta(b0, b0, of: "b", base: 3, at: Self.t0 + 0.1),  // b's deltas before its full report: nothing to apply to
            Self.full(a0, of: "a", revision: 1, at: Self.t0 + 0.2),
            Self.full(b0, of: "b", revision: 5, at: Self.t0 + 0.5),
            Self.delta(a0, a1, of: "a", base: 1, at: Self.t0 + 1.5),
            Self.delta(a1, a1, of: "a", base: 2, at: Self.t0 + 1.9),  // a heartbeat in the same second
            Self.delta(a0, a2, of: "a", base: 1, at: Self.t0 + 2.5),  // a gap (base 1, 3 held): not applied
            Self.full(a2, of: "a", revision: 9, at: Self.t0 + 4.2),
        ]
        for message in messages { if let record = composer.add(message) { records.append(record) } }
        if let last = composer.finish() { records.append(last) }
        #expect(composer.finish() == nil, "the last record is handed out once")

        #expect(records.map(\.time) == [Self.t0 + 0.5, Self.t0 + 1.9, Self.t0 + 2.5, Self.t0 + 4.2])
        #expect(Self.processes(records[0].report) == ["a;1", "b;7"])
        #expect(Self.processes(records[1].report) == ["a;1", "a;2", "b;7"])
        #expect(Self.processes(records[2].report) == ["a;1", "a;2", "b;7"], "a gap leaves the host as it was")
        #expect(Self.processes(records[3].report) == ["a;1", "b;7"])
        #expect(composer.applied == 5 && composer.unused == 2)
        // b is silent from +0.5: stale after 3 of its 1 s intervals (and the tick's slack), marked in the record at +4.2.
        #expect(records[2].report[.host].nodes["b"]?.latest[NodeKey.stale] == nil)
        #expect(records[3].report[.host].nodes["b"]?.latest[NodeKey.stale] == "true")
        #expect(records[3].report[.host].nodes["a"]?.latest[NodeKey.stale] == nil)
        // Each record is the merge of every host as of then, as the live merge would show it.
        #expect(records[1].report == HostMergerTests.mergedFromScratch(local: Report(), hosts: ["a": a1, "b": b0], stale: [:]))
    }

    @Test func aHostSilentPastExpiryLeavesTheMap() {
        var settings = MultiHostConfiguration()
        settings.hostExpiryMillis = 5000
        let composer = BackfillComposer(settings: settings)
        let a = Self.host("a", processes: [1], at: Self.t0), b = Self.host("b", processes: [2], at: Self.t0)
        _ = composer.add(Self.full(a, of: "a", revision: 1, at: Self.t0))
        _ = composer.add(Self.full(b, of: "b", revision: 1, at: Self.t0 + 0.5))
        for second in 1...8 { _ = composer.add(Self.delta(b, b, of: "b", base: 1, at: Self.t0 + Double(second))) }
        let last = composer.finish()
        #expect(last.map { Self.processes($0.report) } == ["b;2"], "a expired after 5 s of silence")
    }
}
