import Glibc
import PeriscopeFixtures
import PeriscopeHistory
import PeriscopeProtocol
import PeriscopeTopology
import PeriscopeViews

/// A host that changes step by step (the fixture scenario with `curl` coming and going, a `worker` process that
/// starts, talks to the server and exits, CPU and byte counters moving), recorded through a ``HistoryRecorder``
/// with an injected clock: one step per second from ``start``.
struct HistoryScenario {
    static let start = 1_780_000_000.0
    let directory: String
    var configuration: HistoryConfiguration
    var builder = ReportBuilder(hostID: "h1")

    init(_ configure: (inout HistoryConfiguration) -> Void = { _ in }) {
        var template = Array("/tmp/periscope-history-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.flatMap { mkdtemp($0) } != nil }
        directory = made ? String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self) : "/tmp"
        configuration = HistoryConfiguration(path: directory + "/history.db")
        configure(&configuration)
    }

    /// The snapshot of `step`.
    static func snapshot(_ step: Int) -> HostSnapshot {
        var s = Fixtures.scenario(t: start + Double(step), includeCurl: step % 4 != 3, bytes: UInt64(1_000 * (step + 1)))
        s.processes[0].cpuPercent = Double(step % 7) * 10
        if (5..<12).contains(step % 20) {
            s.processes.append(Fixtures.process(900, "worker"))
            s.sockets += [Fixtures.conn("127.0.0.1", 41000, "127.0.0.1", 8080, pid: 900, sent: UInt64(step) * 100),
                          Fixtures.conn("127.0.0.1", 8080, "127.0.0.1", 41000, pid: 100, sent: UInt64(step) * 50)]
        }
        return s
    }

    /// The report of `step`, as the live daemon would install it.
    mutating func report(_ step: Int) -> Report { builder.ingest(Self.snapshot(step)) }

    /// A reader of the log on a clock fixed at `now`.
    func reader(now: Double) throws -> HistoryLog {
        try HistoryLog(reading: configuration, clock: { now })
    }

    /// The view rendered from the recorded state at `time`.
    static func render(_ log: HistoryLog, _ view: String, at time: Double, options: ViewOptions = ViewOptions(),
                       filter: String? = nil) throws -> RenderedView {
        let (report, names) = try log.state(at: time).report()
        return try ViewRenderer.render(report: report, view: view, options: options,
                                       filter: try filter.map { try FilterExpression.parse($0) }, names: names)
    }

    func remove() {
        for suffix in ["", "-wal", "-shm", ".lock"] { unlink(configuration.path + suffix) }
        rmdir(directory)
    }
}
