import PeriscopeTopology

/// The merged map of the hosts on the report bus as of each stored message, for the history log's backfill
/// (``BusBackfill``): fed the decoded messages in stream order (the order JetStream stored them), it keeps each
/// host's report as of its messages — a full report, then the deltas after it — in a ``HostMerger`` of its own,
/// exactly as the live merge does (a delta applies only to the revision it names; a host's deltas before its first
/// full report apply to nothing), marks hosts stale and removes them by the live rules
/// (``MultiHostConfiguration/isStale(silentMillis:refreshMillis:)``), silence counted in stored time, and hands
/// out at most one record per ``gapSeconds`` of stored time: the map after the last message of each such
/// interval, at that message's stored time.
///
/// One record per second bounds the log's work by the time the stream spans, not by its message count (a few
/// hundred hosts publish many messages a second), while anything that lasted a second or more is in the past it
/// records. Pure; one thread at a time.
final class BackfillComposer {
    /// The merged map at `time` (seconds since the epoch, the stream's stored time).
    struct Record {
        let report: Report
        let time: Double
    }

    let gapSeconds: Double
    private let settings: MultiHostConfiguration
    private let merger = HostMerger()
    /// Hosts the merger holds: stored time of their last message, refresh interval, and whether marked stale.
    private var heard: [String: (time: Double, refreshMillis: Int, stale: Bool)] = [:]
    /// Stored time of the last message applied and not yet in a record.
    private var pending: Double?
    private var lastTime = -Double.infinity
    /// Messages applied, and those that applied to nothing (a delta without its base, a refused message).
    private(set) var applied = 0
    private(set) var unused = 0

    init(settings: MultiHostConfiguration, gapSeconds: Double = 1) {
        self.settings = settings
        self.gapSeconds = gapSeconds
    }

    /// Applies the next message; returns the record due before it (the previous interval's last state) if the
    /// message starts a new interval.
    func add(_ delivery: BusDelivery) -> Record? {
        let time = max(delivery.storedSeconds, lastTime)  // stored times ascend; a leader change may step back a little
        lastTime = time
        var due: Record?
        if let pending, (time / gapSeconds).rounded(.down) != (pending / gapSeconds).rounded(.down) { due = take(at: pending) }
        apply(delivery, at: time)
        pending = time
        return due
    }

    /// The last interval's record, if it has not been handed out.
    func finish() -> Record? { pending.map { take(at: $0) } }

    private func apply(_ delivery: BusDelivery, at time: Double) {
        let outcome: HostMerger.Outcome
        let host: String
        switch delivery.content {
        case .report(let name, let report):
            host = name
            reviveIfStale(host)
            outcome = merger.full(host, revision: delivery.revision, report: report)
        case .delta(let name, let base, let delta):
            host = name
            guard heard[host] != nil else {
                unused += 1
                return
            }
            reviveIfStale(host)
            outcome = merger.delta(host, base: base, revision: delivery.revision, delta)
        case .refused:
            unused += 1
            return
        }
        if case .ack = outcome { applied += 1 } else { unused += 1 }
        heard[host] = (time, delivery.refreshMillis, false)
    }

    private func reviveIfStale(_ host: String) {
        if heard[host]?.stale == true { merger.setStale(host, false, at: 0) }
    }

    /// Ages the hosts at `time` and returns the map then.
    private func take(at time: Double) -> Record {
        for (host, state) in heard {
            let silent = (time - state.time) * 1000
            if settings.isExpired(silentMillis: silent) {
                heard[host] = nil
                merger.remove(host)
            } else if !state.stale, settings.isStale(silentMillis: silent, refreshMillis: state.refreshMillis) {
                heard[host]?.stale = true
                merger.setStale(host, true, at: state.time + Double(settings.staleAfterIntervals * state.refreshMillis) / 1000)
            }
        }
        pending = nil
        return Record(report: merger.composed, time: time)
    }
}
