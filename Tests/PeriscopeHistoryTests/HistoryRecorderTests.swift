import Glibc
import PeriscopeHistory
import PeriscopeProtocol
import PeriscopeTopology
import PeriscopeViews
import Testing

/// The history log against the views: what it gives back for an instant is what was live then.
@Suite("History log")
struct HistoryRecorderTests {
    static let views: [(String, ViewOptions, String?)] = [
        ("processes", ViewOptions(), nil), ("processes", ViewOptions(all: true), nil),
        ("processes-by-name", ViewOptions(), nil), ("hosts", ViewOptions(), nil),
        ("processes", ViewOptions(), "name:server"), ("processes", ViewOptions(), "port:8080"),
    ]

    /// Every view, option and filter rendered from the log at each instant equals the render of the report that
    /// was live then (metrics too: volatile samples are taken at every report here).
    @Test func getAtEqualsWhatWasLive() throws {
        var scenario = HistoryScenario { $0.sampleSeconds = 0; $0.checkpointSeconds = 7 }
        defer { scenario.remove() }
        let recorder = try HistoryRecorder(configuration: scenario.configuration)
        var live: [(Double, [RenderedView])] = []
        for step in 0..<30 {
            let t = HistoryScenario.start + Double(step)
            let report = scenario.report(step)
            recorder.record(report, names: [:], at: t)
            try recorder.commit()
            live.append((t, try Self.views.map { view, options, filter in
                try ViewRenderer.render(report: report, view: view, options: options,
                                        filter: try filter.map { try FilterExpression.parse($0) })
            }))
        }
        let log = try scenario.reader(now: HistoryScenario.start + 30)
        for (t, renders) in live {
            for (i, (view, options, filter)) in Self.views.enumerated() {
                let past = try HistoryScenario.render(log, view, at: t, options: options, filter: filter)
                #expect(past == renders[i], "\(view) \(filter ?? "") at step \(t - HistoryScenario.start)")
            }
            // Half-way to the next instant: still the same.
            let between = try HistoryScenario.render(log, "processes", at: t + 0.5)
            #expect(between == renders[0])
        }
        #expect(recorder.checkpoints >= 4)
    }

    /// With metrics sampled once a minute (the default), the structure is still exact.
    @Test func sampledMetricsKeepTheStructure() throws {
        var scenario = HistoryScenario()
        defer { scenario.remove() }
        let recorder = try HistoryRecorder(configuration: scenario.configuration)
        var live: [Double: RenderedView] = [:]
        for step in 0..<25 {
            let t = HistoryScenario.start + Double(step)
            let report = scenario.report(step)
            recorder.record(report, names: [:], at: t)
            if step % 3 == 0 { try recorder.commit() }
            live[t] = try ViewRenderer.render(report: report, view: "processes")
        }
        try recorder.commit()
        let log = try scenario.reader(now: HistoryScenario.start + 25)
        for (t, view) in live {
            let past = try HistoryScenario.render(log, "processes", at: t)
            #expect(Set(past.nodes.keys) == Set(view.nodes.keys))
            #expect(Set(past.edges.keys) == Set(view.edges.keys))
            #expect(past.nodes.mapValues(\.label) == view.nodes.mapValues(\.label))
        }
    }

    /// The diff between two instants is exactly the diff between what was live at each.
    @Test func diffListsExactlyTheChanges() throws {
        var scenario = HistoryScenario { $0.sampleSeconds = 0 }
        defer { scenario.remove() }
        let recorder = try HistoryRecorder(configuration: scenario.configuration)
        var live: [RenderedView] = []
        for step in 0..<15 {
            let report = scenario.report(step)
            recorder.record(report, names: [:], at: HistoryScenario.start + Double(step))
            try recorder.commit()
            live.append(try ViewRenderer.render(report: report, view: "processes"))
        }
        let log = try scenario.reader(now: HistoryScenario.start + 15)
        for (a, b) in [(0, 6), (4, 12), (2, 3), (7, 14), (9, 9)] {
            let past = ViewDiff(from: try HistoryScenario.render(log, "processes", at: HistoryScenario.start + Double(a)),
                                to: try HistoryScenario.render(log, "processes", at: HistoryScenario.start + Double(b)))
            #expect(past == ViewDiff(from: live[a], to: live[b]), "\(a)→\(b)")
        }
        // Step 4 → 12: the worker came (step 5) and went (step 12): nothing of it remains; curl went at 3 and
        // came back at 4, went at 7, came back at 8, went at 11: present at 4 and at 12.
        let diff = ViewDiff(from: live[4], to: live[6])
        #expect(diff.addedNodes.map(\.id) == ["h1;900"])
        #expect(diff.addedEdges.map(\.id) == ["h1;900->h1;100"])
    }

    /// Older data goes first: after three simulated hours with a one-hour retention, the oldest instant kept is
    /// about an hour back, an older one is a clear error, and the newest is still exact.
    @Test func retentionDropsTheOldest() throws {
        var scenario = HistoryScenario { $0.retentionSeconds = 3600; $0.checkpointSeconds = 600 }
        defer { scenario.remove() }
        let recorder = try HistoryRecorder(configuration: scenario.configuration)
        let end = 3 * 3600
        for step in stride(from: 0, through: end, by: 10) {
            recorder.record(scenario.report(step), names: [:], at: HistoryScenario.start + Double(step))
            try recorder.commit()
        }
        let now = HistoryScenario.start + Double(end)
        let log = try scenario.reader(now: now)
        let window = try log.window()
        #expect(window.oldest >= now - 3600 - 600)
        #expect(window.oldest <= now - 3600)
        #expect(throws: HistoryError.self) { try log.state(at: HistoryScenario.start + 60) }
        do {
            _ = try log.state(at: HistoryScenario.start + 60)
        } catch {
            #expect(error.message.contains("before the oldest history kept"), "\(error.message)")
        }
        _ = try log.state(at: now - 3600)
    }

    /// Past the size limit the oldest checkpoints go (and the file stays near the limit).
    @Test func sizeLimitDropsTheOldest() throws {
        let limit: Int64 = 192 << 10
        var scenario = HistoryScenario { $0.maxBytes = limit; $0.checkpointSeconds = 60; $0.sampleSeconds = 0 }
        defer { scenario.remove() }
        let recorder = try HistoryRecorder(configuration: scenario.configuration)
        let steps = 3000
        for step in 0..<steps {
            recorder.record(scenario.report(step), names: ["203.0.113.7": "peer-\(step)"], at: HistoryScenario.start + Double(step))
            try recorder.commit()
        }
        let log = try scenario.reader(now: HistoryScenario.start + Double(steps))
        let window = try log.window()
        #expect(window.oldest > HistoryScenario.start + 600, "the oldest data went")
        var info = stat()
        #expect(stat(scenario.configuration.path, &info) == 0)
        #expect(Int64(info.st_size) <= limit + (128 << 10), "file \(info.st_size) bytes")
        _ = try log.state(at: window.oldest)
    }

    /// A log reopened after its writer went away (as after kill -9) goes on: the old instants stay answerable and
    /// the new run starts with a checkpoint.
    @Test func reopenedLogGoesOn() throws {
        var scenario = HistoryScenario { $0.sampleSeconds = 0 }
        defer { scenario.remove() }
        var first: RenderedView?
        do {
            let recorder = try HistoryRecorder(configuration: scenario.configuration)
            let report = scenario.report(5)
            first = try ViewRenderer.render(report: report, view: "processes")
            recorder.record(report, names: [:], at: HistoryScenario.start + 5)
            try recorder.commit()
        }
        let recorder = try HistoryRecorder(configuration: scenario.configuration)
        let report = scenario.report(3)
        recorder.record(report, names: [:], at: HistoryScenario.start + 100)
        try recorder.commit()
        let log = try scenario.reader(now: HistoryScenario.start + 100)
        #expect(try HistoryScenario.render(log, "processes", at: HistoryScenario.start + 5) == first)
        #expect(try HistoryScenario.render(log, "processes", at: HistoryScenario.start + 100)
                == ViewRenderer.render(report: report, view: "processes"))
    }

    /// A file that is not a database leaves history off, with the reason.
    @Test func corruptFileTurnsHistoryOff() throws {
        let scenario = HistoryScenario()
        defer { scenario.remove() }
        let fd = open(scenario.configuration.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let garbage = [UInt8](repeating: 0x5a, count: 8192)
        _ = write(fd, garbage, garbage.count)
        close(fd)
        let log = HistoryLog(configuration: scenario.configuration)
        defer { log.stop() }
        #expect(!log.status.enabled)
        #expect(log.status.reason?.contains("not a database") == true, "\(log.status.reason ?? "")")
        #expect(throws: HistoryError.self) { try log.state(at: HistoryScenario.start) }
    }

    @Test func timesParse() {
        let now = 1_780_000_000.0
        #expect(HistoryTime.parse("-10m", now: now) == now - 600)
        #expect(HistoryTime.parse("1h", now: now) == now - 3600)
        #expect(HistoryTime.parse("1h30m", now: now) == now - 5400)
        #expect(HistoryTime.parse("now", now: now) == now)
        #expect(HistoryTime.parse("2026-05-28T20:26:40Z", now: now) == 1_780_000_000)
        #expect(HistoryTime.parse("2026-05-28T22:26:40.5+02:00", now: now) == 1_780_000_000.5)
        #expect(HistoryTime.parse("yesterday", now: now) == nil)
        #expect(HistoryTime.parse("-10x", now: now) == nil)
        #expect(HistoryTime.format(1_780_000_000.25) == "2026-05-28T20:26:40.250Z")
        #expect(HistoryConfiguration.parseSize("1GiB") == 1 << 30)
        #expect(HistoryConfiguration.parseDuration("7d") == 7.0 * 86_400)
    }

    /// The recorder's cost follows the changes: a node still sharing the storage it was hashed from is skipped. A
    /// node whose metrics moved between two samples is still sampled at the next one, even when it did not move
    /// again by then (skipping on "unchanged since the last report" would lose that sample).
    @Test func unchangedNodesAreSkippedAndHeldChangesStillSampled() throws {
        var scenario = HistoryScenario { $0.sampleSeconds = 5 }
        defer { scenario.remove() }
        let recorder = try HistoryRecorder(configuration: scenario.configuration)
        let t0 = HistoryScenario.start
        var report = scenario.report(0)
        let total = report.topologies.values.reduce(0) { $0 + $1.nodes.count }
        recorder.record(report, names: [:], at: t0)
        #expect(recorder.nodesHashed == total)
        recorder.record(report, names: [:], at: t0 + 1)
        #expect(recorder.nodesHashed == total, "an unchanged report hashes nothing")

        let id = try #require(report.processes.nodes.keys.sorted().first)
        report[.process].nodes[id]?.record(MetricKey.cpu, 77, at: t0 + 2)
        recorder.record(report, names: [:], at: t0 + 2)  // not a sampling instant: hashed, nothing written
        #expect(recorder.nodesHashed == total + 1)
        recorder.record(report, names: [:], at: t0 + 6)  // sampling, the node as it was at t0 + 2
        recorder.record(report, names: [:], at: t0 + 7)
        #expect(recorder.nodesHashed == total + 2, "hashed once more at the sample, then skipped")
        try recorder.commit()

        let log = try scenario.reader(now: t0 + 8)
        let past = try HistoryScenario.render(log, "processes", at: t0 + 6.5)
        #expect(past == (try ViewRenderer.render(report: report, view: "processes")), "the held change was sampled")
        let before = try HistoryScenario.render(log, "processes", at: t0 + 2.5)
        #expect(before != past, "before the sample the log still had the old CPU")
    }
}

/// Backfill: past instants recorded before the live report, which waits for them.
@Suite("History backfill")
struct HistoryBackfillTests {
    static func processes(_ log: HistoryLog, at time: Double) throws -> Set<String> {
        Set(try log.state(at: time).report().0[.process].nodes.keys)
    }

    @Test func pastInstantsComeBeforeTheLiveReportThatWaited() throws {
        let scenario = HistoryScenario()
        defer { scenario.remove() }
        let t0 = HistoryScenario.start
        let now = t0 + 100
        let log = HistoryLog(configuration: scenario.configuration, clock: { now })
        defer { log.stop() }
        var builder = ReportBuilder(hostID: "h1")
        let past = (0..<12).map { builder.ingest(HistoryScenario.snapshot($0)) }
        let live = builder.ingest(HistoryScenario.snapshot(30))

        log.beginBackfill(timeoutMillis: 60_000)
        log.record(live, names: [:])  // waits for the backfill
        for (i, report) in past.enumerated() { #expect(log.record(report, names: [:], at: t0 + Double(i))) }
        log.endBackfill()
        #expect(!log.record(past[0], names: [:], at: t0 + 50), "after the end, past records are refused")

        for (i, report) in past.enumerated() {
            #expect(try Self.processes(log, at: t0 + Double(i) + 0.5) == Set(report[.process].nodes.keys), "at +\(i)")
        }
        #expect(try Self.processes(log, at: now) == Set(live[.process].nodes.keys))
        #expect(try log.window().oldest == t0)
        let figures = try #require(log.status.backfill)
        #expect(figures.records == 12, "\(figures)")
        #expect(figures.olderThanLog == 0 && !figures.running && !figures.timedOut)
        #expect(figures.from == t0 && figures.to == t0 + 11)
    }

    /// A log that already holds later instants keeps them: older past records are dropped and counted; and a
    /// backfill that outlives its wait stops, live recording goes on.
    @Test func olderThanTheLogAndTimedOut() throws {
        let scenario = HistoryScenario()
        defer { scenario.remove() }
        let t0 = HistoryScenario.start
        var builder = ReportBuilder(hostID: "h1")
        do {  // an earlier run wrote up to +10 (a log takes the file's lock for the process's life: a recorder here)
            let first = try HistoryRecorder(configuration: scenario.configuration)
            first.record(builder.ingest(HistoryScenario.snapshot(0)), names: [:], at: t0 + 10)
            try first.commit()
        }

        let log = HistoryLog(configuration: scenario.configuration, clock: { t0 + 20 })
        defer { log.stop() }
        log.beginBackfill(timeoutMillis: 60_000)
        #expect(log.record(builder.ingest(HistoryScenario.snapshot(5)), names: [:], at: t0 + 5))
        #expect(log.record(builder.ingest(HistoryScenario.snapshot(6)), names: [:], at: t0 + 15))
        log.endBackfill()
        _ = try log.window()
        // The writer counts a record when it takes it: a read's flush can return after a commit of the first
        // while the second waits in the queue (it failed that way once in CI), so wait for both to be counted.
        for _ in 0..<500 {    // 5 s at most
            guard let b = log.status.backfill, b.records + b.olderThanLog < 2 else { break }
            usleep(10_000)
        }
        let figures = try #require(log.status.backfill)
        #expect(figures.records == 1 && figures.olderThanLog == 1 && figures.from == t0 + 15)

        let other = HistoryScenario()
        defer { other.remove() }
        let late = HistoryLog(configuration: other.configuration, clock: { t0 })
        defer { late.stop() }
        late.beginBackfill(timeoutMillis: 0)
        #expect(!late.record(builder.ingest(HistoryScenario.snapshot(1)), names: [:], at: t0 - 5))
        late.record(builder.ingest(HistoryScenario.snapshot(2)), names: [:])
        #expect(try late.window().oldest == t0, "live recording went on")
        #expect(late.status.backfill?.timedOut == true)
    }
}
