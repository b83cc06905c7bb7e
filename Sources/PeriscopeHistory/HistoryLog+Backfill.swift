import Dispatch
import PeriscopeSystem
import PeriscopeTopology

/// Backfill: recording instants of the past, before the live ones (an aggregator on a report bus records the
/// merged map as of the messages the stream held when it started, SPEC §19.3).
///
/// The recorder needs time to move forward (a record is clamped to the newest instant written), so live
/// reports must not be written before the past ones or the past collapses onto now. While a backfill runs, live
/// reports therefore wait — the newest only, as when the writer falls behind — and are written when it ends, at
/// their own instant (after the last past one). The wait is bounded: past its deadline the next live report or
/// past record ends the backfill, and past records are refused from then on. The writer drops a past record
/// older than what the log holds (an earlier run wrote later instants): each past record is a whole state, so
/// the next one after that instant stands on its own.
extension HistoryLog {
    /// What a backfill recorded: `records` handed over and written, `olderThanLog` dropped because the log
    /// already held a later instant, the first and last instant written (seconds), and whether live recording
    /// stopped waiting for it (``Status/backfill``).
    public struct Backfill: Sendable {
        public var running = true
        public var timedOut = false
        public var records = 0
        public var olderThanLog = 0
        public var from: Double?
        public var to: Double?

        public init() {}
    }

    /// Starts a backfill: live reports wait until ``endBackfill()`` or for `timeoutMillis` at most. Nothing
    /// happens when history is off or a backfill already began. Any thread.
    public func beginBackfill(timeoutMillis: Int) {
        shared.withLock { s in
            guard s.status.enabled, s.running, s.status.backfill == nil else { return }
            s.backfillDeadline = SystemClock.monotonicMillis() + Double(timeoutMillis)
            s.status.backfill = Backfill()
        }
    }

    /// Queues `report` as the state at the past instant `time` (seconds; instants must ascend). Waits while the
    /// writer's queue is full (a backfill drops nothing). `false` when no backfill runs (never begun, ended, timed
    /// out, history off or stopped): the caller stops. Not on the loop thread.
    public func record(_ report: Report, names: [String: String], at time: Double) -> Bool {
        let entry = Entry(report: report, names: names, time: time, past: true)
        while true {
            enum Step { case queued, wait, refused(ended: Bool) }
            let step = shared.withLock { s -> Step in
                guard s.status.enabled, s.running, let deadline = s.backfillDeadline else { return .refused(ended: false) }
                guard SystemClock.monotonicMillis() < deadline else {
                    Self.endBackfill(&s, timedOut: true)
                    return .refused(ended: true)
                }
                guard s.queue.count < Self.maxQueued else {
                    s.roomWanted = true
                    return .wait
                }
                s.queue.append(entry)
                return .queued
            }
            switch step {
            case .queued:
                wake.signal()
                return true
            case .refused(let ended):
                if ended { wake.signal() }
                return false
            case .wait:
                _ = room.wait(timeout: .now() + .milliseconds(100))
            }
        }
    }

    /// Whether a backfill runs and may still record (begun, not ended, its wait not over). Any thread.
    public var isBackfilling: Bool {
        shared.withLock { s in s.backfillDeadline.map { SystemClock.monotonicMillis() < $0 } ?? false }
    }

    /// Ends the backfill: the live report that waited is queued after the past ones. Any thread.
    public func endBackfill() {
        let ended = shared.withLock { s -> Bool in
            guard s.backfillDeadline != nil else { return false }
            Self.endBackfill(&s, timedOut: false)
            return true
        }
        if ended { wake.signal() }
    }

    /// Ends the backfill under the lock; the waiting live report joins the queue.
    static func endBackfill(_ s: inout Shared, timedOut: Bool) {
        s.backfillDeadline = nil
        s.status.backfill?.running = false
        if timedOut { s.status.backfill?.timedOut = true }
        if let held = s.held { enqueue(held, &s) }
        s.held = nil
    }

    /// Records a batch taken from the queue (writer thread): past records older than what the log holds are
    /// dropped and counted.
    func record(_ batch: [Entry], _ recorder: HistoryRecorder) {
        var written = 0, older = 0
        var from: Double?, to: Double?
        for entry in batch {
            if entry.past {
                guard entry.time >= recorder.lastRecordedTime else {
                    older += 1
                    continue
                }
                written += 1
                from = from ?? entry.time
                to = entry.time
            }
            recorder.record(entry.report, names: entry.names, at: entry.time)
        }
        guard written + older > 0 else { return }
        shared.withLock { s in
            s.status.backfill?.records += written
            s.status.backfill?.olderThanLog += older
            if s.status.backfill?.from == nil { s.status.backfill?.from = from }
            if let to { s.status.backfill?.to = to }
        }
    }
}
