import Dispatch
import Synchronization
import PeriscopeSystem
import PeriscopeTopology

/// The aggregator's merge queue: a serial queue owning the ``HostMerger``, on which every publisher message is
/// inflated, parsed and applied in arrival order and the local host's reports are composed with the others, so
/// the loop never merges. The composed report goes to `deliver` at most once per ``minimumGapMillis`` — longer
/// for a map so large that copying it after each delivery would dominate — (changes in between coalesce into
/// the newest).
///
/// - Important: ``submit(_:)`` from any thread; the merger and the pacing state are touched only on the queue.
final class MergeQueue: @unchecked Sendable {
    /// Shortest gap between two deliveries, ms: with many publishers, reports arriving together cost one new
    /// revision (and one re-render of each subscribed view) instead of one each.
    static let minimumGapMillis = 50.0
    /// Longest a delivery waits while more work is queued behind it, ms.
    static let backlogGapMillis = 250.0

    private let queue = DispatchQueue(label: "periscope.merge")
    private let merger = HostMerger()
    private let deliver: @Sendable (Report) -> Void
    private var lastDelivery = -1e12
    private var deliveryPending = false
    /// Queue time of the first item after the last delivery, ms: it pays for copying what it changes of the
    /// delivered composition (the loop holds it): the touched shards of each ``NodeTable`` and their shard
    /// arrays, so the cost grows with the change, and only slowly (the shard count) with the merged map.
    private var copyMillis = 0.0
    private var firstAfterDelivery = false
    /// Longest gap the copy cost may stretch deliveries to, ms.
    static let maximumGapMillis = 1000.0
    /// Work items submitted and not finished (any thread reads it for `daemon/status`).
    private let backlog = Atomic<Int>(0)
    /// Queue CPU spent merging, ns (read for `daemon/status`).
    private let busyNanos = Atomic<UInt64>(0)

    /// `deliver` receives each new composed report, on the queue.
    init(deliver: @escaping @Sendable (Report) -> Void) {
        self.deliver = deliver
    }

    /// Runs `work` on the queue with the merger, then delivers the composition if it changed and the gap allows.
    func submit(_ work: @escaping @Sendable (HostMerger) -> Void) {
        backlog.add(1, ordering: .relaxed)
        queue.async {
            let start = SystemClock.monotonicNanos()
            work(self.merger)
            let elapsed = SystemClock.monotonicNanos() &- start
            if self.firstAfterDelivery, self.merger.changed {
                self.firstAfterDelivery = false
                self.copyMillis = Double(elapsed) / 1e6
            }
            self.deliverSoon()
            self.busyNanos.add(elapsed, ordering: .relaxed)
            self.backlog.subtract(1, ordering: .relaxed)
        }
    }

    /// Items waiting or running.
    var waiting: Int { backlog.load(ordering: .relaxed) }
    /// Milliseconds of queue time spent so far.
    var busyMillis: Double { Double(busyNanos.load(ordering: .relaxed)) / 1e6 }

    /// The gap between deliveries: ``minimumGapMillis``, stretched so that copying the merged map after each
    /// delivery takes at most a quarter of the queue's time (many hosts: a large map), up to ``maximumGapMillis``.
    private var gapMillis: Double { min(Self.maximumGapMillis, max(Self.minimumGapMillis, 4 * copyMillis)) }

    private func deliverSoon() {
        guard merger.changed, !deliveryPending else { return }
        let since = monotonicMillis() - lastDelivery
        // More work queued behind this item: let it land in the same revision (each delivery costs a copy of the
        // changed topologies), unless that would hold the map back longer than the backlog limit.
        if backlog.load(ordering: .relaxed) > 1, since < max(Self.backlogGapMillis, gapMillis) { return }
        let wait = gapMillis - since
        guard wait > 0 else { return deliverNow() }
        deliveryPending = true
        queue.asyncAfter(deadline: .now() + .milliseconds(Int(wait.rounded(.up)))) {
            self.deliveryPending = false
            self.deliverNow()
        }
    }

    private func deliverNow() {
        lastDelivery = monotonicMillis()
        firstAfterDelivery = true
        if let composed = merger.takeChanges() { deliver(composed) }
    }
}
