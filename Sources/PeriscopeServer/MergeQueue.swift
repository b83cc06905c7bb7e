import Dispatch
import Synchronization
import PeriscopeSystem
import PeriscopeTopology

/// The aggregator's merge queue: a serial queue owning the ``HostMerger``, on which every publisher message is
/// inflated, parsed and applied in arrival order and the local host's reports are composed with the others, so
/// the loop never merges. The composed report goes to `deliver` at most once per ``minimumGapMillis`` (changes
/// in between coalesce into the newest).
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
            self.deliverSoon()
            self.busyNanos.add(SystemClock.monotonicNanos() &- start, ordering: .relaxed)
            self.backlog.subtract(1, ordering: .relaxed)
        }
    }

    /// Items waiting or running.
    var waiting: Int { backlog.load(ordering: .relaxed) }
    /// Milliseconds of queue time spent so far.
    var busyMillis: Double { Double(busyNanos.load(ordering: .relaxed)) / 1e6 }

    private func deliverSoon() {
        guard merger.changed, !deliveryPending else { return }
        let since = monotonicMillis() - lastDelivery
        // More work queued behind this item: let it land in the same revision (each delivery costs a copy of the
        // changed topologies), unless that would hold the map back longer than the backlog limit.
        if backlog.load(ordering: .relaxed) > 1, since < Self.backlogGapMillis { return }
        let wait = Self.minimumGapMillis - since
        guard wait > 0 else { return deliverNow() }
        deliveryPending = true
        queue.asyncAfter(deadline: .now() + .milliseconds(Int(wait.rounded(.up)))) {
            self.deliveryPending = false
            self.deliverNow()
        }
    }

    private func deliverNow() {
        lastDelivery = monotonicMillis()
        if let composed = merger.takeChanges() { deliver(composed) }
    }
}
