import Dispatch
import PeriscopeHistory
import PeriscopeProtocol
import PeriscopeSystem
import Synchronization

/// The stream as shared history (issue 15): an aggregator with history on records the past its report bus holds.
/// The messages its consumer delivers while catching up — those JetStream stored before the consumer was made —
/// are composed (``BackfillComposer``) into the merged map of the hosts at their stored times and recorded into
/// the ``HistoryLog`` at those times, so `topology/get {at}`, `topology/diff` and `node/history` answer for the
/// past the stream covers, not only from the moment the aggregator started.
///
/// Ordering with live recording: the log holds live reports back (the newest only) from the moment this is made
/// until the backfill ends (``HistoryLog/beginBackfill(timeoutMillis:)``, at most ``holdMillis``), because the
/// log's time only moves forward: a live report written first would pull every past record onto now. Holding
/// live recording costs nothing a person asks about — the live map of those seconds is the state the backfill
/// ends with, and the newest live report is written right after it — where recording the past first and then
/// replaying held live reports would need an unbounded queue.
///
/// Catch-up ends at the first message stored at or after the consumer was made (this daemon's own first report is
/// one) or at one with nothing pending behind it. Messages are copied on the delivery thread and decoded and
/// composed on a queue of their own, beside the live path (which may coalesce them: a full report supersedes what
/// of its host waits undecoded; the past needs every message). Bounded: at most ``maxMessages`` messages and
/// ``maxBacklogBytes`` waiting undecoded — past either the backfill stops there (`capped`: the past up to it is
/// recorded) — and one record per second of stored time (``BackfillComposer``). The aggregator's own host is
/// included (an earlier run of it published there).
///
/// - Important: ``offer(host:pending:storedNanos:_:)`` from the delivery thread, ``consumerMade(at:)`` from the
///   setup queue, ``json`` from any thread; composing runs on the backfill queue.
final class BusBackfill: @unchecked Sendable {
    enum Phase: String {
        /// The consumer delivers what the stream held.
        case catchingUp = "catching up"
        /// All of it was delivered; the queue still composes and records.
        case composing
        case done
        /// Stopped at ``maxMessages`` or ``maxBacklogBytes``.
        case capped
    }

    private struct State {
        var phase = Phase.catchingUp
        var capped = false
        /// Realtime seconds when the consumer was last made (nil: not yet).
        var consumerMadeAt: Double?
        var messages = 0
        var backlogBytes = 0
    }

    private let log: HistoryLog
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "periscope.bus.backfill", qos: .utility)
    /// Backfill queue only; released when the backfill ends (it holds every host's report).
    private var composer: BackfillComposer?

    static let maxMessages = 50_000
    static let maxBacklogBytes = 256 << 20
    /// Longest live recording waits for the backfill, ms.
    static let holdMillis = 60_000

    init(log: HistoryLog, settings: MultiHostConfiguration) {
        self.log = log
        composer = BackfillComposer(settings: settings)
        log.beginBackfill(timeoutMillis: Self.holdMillis)
    }

    /// The consumer is about to be made at realtime `seconds` (setup queue).
    func consumerMade(at seconds: Double) {
        state.withLock { if $0.phase == .catchingUp { $0.consumerMadeAt = seconds } }
    }

    /// A message of `host` delivered by the consumer, `pending` more behind it (delivery thread): taken while the
    /// consumer catches up (`message` copies it only then).
    func offer(host: String, pending: UInt64, storedNanos: Int64, _ message: () -> BusChannel.Waiting) {
        enum Take { case none, message, last, end }
        let take = state.withLock { s -> Take in
            guard s.phase == .catchingUp, let madeAt = s.consumerMadeAt else { return .none }
            if Double(storedNanos) / 1e9 >= madeAt {
                s.phase = .composing
                return .end
            }
            if s.messages >= Self.maxMessages || s.backlogBytes >= Self.maxBacklogBytes {
                s.phase = .composing
                s.capped = true
                return .end
            }
            s.messages += 1
            guard pending > 0 else {
                s.phase = .composing
                return .last
            }
            return .message
        }
        if take == .message || take == .last {
            let entry = message()
            state.withLock { $0.backlogBytes += entry.data.count }
            queue.async { self.compose(entry, host: host) }
        }
        if take == .last || take == .end { queue.async { self.finish() } }
    }

    /// Decodes and applies one message; records the interval it closes. Backfill queue.
    private func compose(_ entry: BusChannel.Waiting, host: String) {
        defer { state.withLock { $0.backlogBytes -= entry.data.count } }
        guard let composer else { return }
        guard log.isBackfilling else { return self.composer = nil }  // live recording stopped waiting: too late
        if let record = composer.add(BusChannel.decode(entry, host: host)) { write(record) }
    }

    private func write(_ record: BackfillComposer.Record) {
        if !log.record(record.report, names: [:], at: record.time) { composer = nil }  // the wait ran out meanwhile
    }

    /// Records the last interval and lets live recording go on. Backfill queue.
    private func finish() {
        if let record = composer?.finish() { write(record) }
        composer = nil
        log.endBackfill()
        state.withLock { $0.phase = $0.capped ? .capped : .done }
    }

    /// `collectors.bus.consumer.backfill`: `{state, messages, records, olderThanLog, from?, to?}` (SPEC §19.4).
    var json: JSONValue {
        let (phase, messages) = state.withLock { ($0.phase, $0.messages) }
        let figures = log.status.backfill ?? HistoryLog.Backfill()
        var o: [String: JSONValue] = [
            "state": .string(figures.timedOut ? "timed out" : phase.rawValue), "messages": .int(Int64(messages)),
            "records": .int(Int64(figures.records)), "olderThanLog": .int(Int64(figures.olderThanLog)),
        ]
        if let from = figures.from { o["from"] = .string(HistoryTime.format(from)) }
        if let to = figures.to { o["to"] = .string(HistoryTime.format(to)) }
        return .object(o)
    }
}
