import PeriscopeEventLoop
import PeriscopeProtocol
import PeriscopeViews

/// One client's subscription to a shared view: its filter state, the changes not yet sent, and the
/// pacing (`minInterval`) and backpressure rules.
///
/// Changes are coalesced into one ``ChangeSet`` until they can be sent: at most one notification per
/// `minInterval`, none while the client has more than ``Limits/holdAbove`` bytes unread. A backlog
/// larger than ``Limits/maxPendingChanges`` is dropped for a `reset` (the full state) once the client
/// catches up; a client that stays unreadable for ``Limits/stallMillis`` is disconnected.
///
/// - Important: loop thread only.
final class Subscription {
    enum Limits {
        static let holdAbove = 256 * 1024
        static let maxPendingChanges = 20_000
        static let stallMillis = 15_000.0
    }

    let id: String
    unowned let session: Session
    let shared: SharedView
    let minIntervalMillis: Int
    var filtered: FilteredView
    private var pending = ChangeSet()
    private var needsReset = false
    private(set) var sentRevision: Int64
    private var pendingRevision: Int64
    private var lastSent = 0.0
    private var stalledSince: Double?
    private var timer: LoopTimer?
    /// Notifications sent and resets sent, for status and tests.
    private(set) var notifications = 0
    private(set) var resets = 0

    init(id: String, session: Session, shared: SharedView, minIntervalMillis: Int, filter: FilterExpression?,
         loop: EventLoop) {
        self.id = id
        self.session = session
        self.shared = shared
        self.minIntervalMillis = minIntervalMillis
        let current = shared.current ?? RenderedView(view: shared.request.view)
        filtered = FilteredView(filter: filter, shared: current)
        sentRevision = shared.revision
        pendingRevision = shared.revision
        lastSent = monotonicMillis()
        timer = LoopTimer(loop: loop) { [unowned self] in
            self.timerDue = nil
            self.flush()
        }
    }

    /// The snapshot returned by `topology/subscribe`.
    func snapshotJSON() -> JSONValue {
        let view = filtered.snapshot(of: shared.current ?? RenderedView(view: shared.request.view))
        var members = view.json(revision: sentRevision).objectValue ?? [:]
        members["subscription"] = .string(id)
        return .object(members)
    }

    /// A new shared diff at `revision` (the shared view already holds the new state).
    func absorb(_ diff: ViewDiff, revision: Int64) {
        pendingRevision = revision
        if !needsReset, let current = shared.current {
            filtered.absorb(diff, shared: current, edgesOf: shared.edgesOf, into: &pending)
            if pending.count > Limits.maxPendingChanges {
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
        guard !session.isClosed, needsReset || !pending.isEmpty || pendingRevision > sentRevision else { return }
        if session.outputBufferedCount > Limits.holdAbove {
            let now = monotonicMillis()
            let since = stalledSince ?? now
            stalledSince = since
            if now - since > Limits.stallMillis {
                session.core.counters.droppedSlow += 1
                session.logger.warning("dropping subscriber \(session.peer): unread for \(Int(Limits.stallMillis / 1000)) s")
                session.disconnect(reason: "subscriber stopped reading for \(Int(Limits.stallMillis / 1000)) s")
                return
            }
            timerDue = monotonicMillis() + Double(max(50, minIntervalMillis))
            timer?.schedule(afterMillis: max(50, minIntervalMillis))
            return
        }
        stalledSince = nil
        guard needsReset || !pending.isEmpty else {
            return  // only metrics-free revisions passed: nothing visible changed
        }
        var members: [String: JSONValue] = [
            "subscription": .string(id),
            "revision": .int(pendingRevision),
            "previousRevision": .int(sentRevision),
        ]
        if needsReset {
            let view = filtered.snapshot(of: shared.current ?? RenderedView(view: shared.request.view))
            var all = ChangeSet()
            for node in view.nodes.values { all.addNode(node) }
            for edge in view.edges.values { all.addEdge(edge) }
            members.merge(all.json) { $1 }
            members["reset"] = true
            resets += 1
        } else {
            members.merge(pending.json) { $1 }
        }
        pending = ChangeSet()
        needsReset = false
        sentRevision = pendingRevision
        lastSent = monotonicMillis()
        notifications += 1
        session.notify("topology/changed", .object(members))
    }

    func cancel() {
        timer?.cancel()
        timer = nil
    }
}
