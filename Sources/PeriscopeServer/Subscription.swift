import PeriscopeEventLoop
import PeriscopeProtocol
import PeriscopeViews

/// One client's subscription to a shared view: its filter state, the changes not yet sent, and the
/// pacing (`minInterval`) and backpressure rules.
///
/// Changes are coalesced into one ``ChangeSet`` until they can be sent: at most one notification per
/// `minInterval`, none while the client has more than ``Limits/holdAbove`` bytes unread. A backlog
/// larger than ``ServerConfiguration/maxPendingChanges`` is dropped for a `reset` (the full state) once the client
/// catches up; a client that reads nothing for long is dropped by its session (``ServerConfiguration/stallMillis``).
///
/// - Important: loop thread only.
final class Subscription {
    enum Limits {
        static let holdAbove = 256 * 1024
    }

    let id: String
    /// Weak: diffs and timers may fire after the client has gone; the subscription then does nothing.
    private(set) weak var session: Session?
    let shared: SharedView
    let minIntervalMillis: Int
    /// Changed ids owed to the client above which they are dropped for a reset.
    private let maxPendingChanges: Int
    private let slot: SubscriptionSlot
    var filtered: FilteredView
    private var pending = ChangeSet()
    private var needsReset = false
    private(set) var sentRevision: Int64
    private var pendingRevision: Int64
    private var lastSent = 0.0
    private var timer: LoopTimer?

    init(id: String, session: Session, shared: SharedView, minIntervalMillis: Int, filter: FilterExpression?,
         slot: SubscriptionSlot, loop: EventLoop, maxPendingChanges: Int) {
        self.slot = slot
        self.maxPendingChanges = maxPendingChanges
        self.id = id
        self.session = session
        self.shared = shared
        self.minIntervalMillis = minIntervalMillis
        let current = shared.current ?? RenderedView(view: shared.request.view)
        filtered = FilteredView(filter: filter, shared: current)
        sentRevision = shared.revision
        pendingRevision = shared.revision
        lastSent = monotonicMillis()
        timer = LoopTimer(loop: loop) { [weak self] in
            self?.timerDue = nil
            self?.flush()
        }
    }

    /// The snapshot returned by `topology/subscribe`.
    func snapshot() -> TopologySubscribeResult {
        let view = filtered.snapshot(of: shared.current ?? RenderedView(view: shared.request.view))
        return TopologySubscribeResult(subscription: id, revision: sentRevision, snapshot: view.json)
    }

    /// A new shared diff at `revision` (the shared view already holds the new state).
    func absorb(_ diff: ViewDiff, revision: Int64) {
        pendingRevision = revision
        if !needsReset, let current = shared.current {
            filtered.absorb(diff, shared: current, edgesOf: shared.edgesOf, into: &pending)
            if pending.count > maxPendingChanges {
                pending = ChangeSet()
                needsReset = true
            }
        } else if let current = shared.current {
            // Keep visibility current; the reset will carry the state.
            var scratch = ChangeSet()
            filtered.absorb(diff, shared: current, edgesOf: shared.edgesOf, into: &scratch)
        }
        schedule()
    }

    /// Pacing: updates (metrics, labels) wait for `minInterval` since the last notification; additions
    /// and removals wait at most ``structuralPacingMillis`` (or `minInterval` if smaller), so a new
    /// connection or process is never held back behind a stream of metric updates.
    private func schedule() {
        guard let timer else { return }
        let interval = needsReset || pending.hasStructuralChange
            ? min(Double(minIntervalMillis), Self.structuralPacingMillis) : Double(minIntervalMillis)
        let now = monotonicMillis()
        let due = lastSent + interval
        if due <= now {
            timer.cancel()
            timerDue = nil
            flush()
        } else if timerDue.map({ due < $0 }) ?? true {
            timerDue = due
            timer.schedule(afterMillis: Int((due - now).rounded(.up)))
        }
    }

    private var timerDue: Double?

    /// Longest wait for a notification that adds or removes something.
    static let structuralPacingMillis = 20.0

    /// Sends what is pending, if the client can take it.
    func flush() {
        guard let session, !session.isClosed, needsReset || !pending.isEmpty || pendingRevision > sentRevision else { return }
        if session.outputBufferedCount > Limits.holdAbove {
            // The client is behind: hold (and coalesce) until it reads. A client that reads nothing for
            // long is dropped by its session's watchdog.
            timerDue = monotonicMillis() + Double(max(50, minIntervalMillis))
            timer?.schedule(afterMillis: max(50, minIntervalMillis))
            return
        }
        guard needsReset || !pending.isEmpty else {
            return  // only metrics-free revisions passed: nothing visible changed
        }
        var changes = pending
        if needsReset {
            let view = filtered.snapshot(of: shared.current ?? RenderedView(view: shared.request.view))
            changes = ChangeSet()
            for node in view.nodes.values { changes.addNode(node) }
            for edge in view.edges.values { changes.addEdge(edge) }
        }
        let notification = TopologyChangedNotification(subscription: id, revision: pendingRevision, previousRevision: sentRevision,
                                                       changes: changes.changes, reset: needsReset)
        pending = ChangeSet()
        needsReset = false
        sentRevision = pendingRevision
        lastSent = monotonicMillis()
        session.notify(notification)
    }

    func cancel() {
        timer?.cancel()
        timer = nil
        slot.release()
    }
}
