import PeriscopeEventLoop
import PeriscopeProtocol
import PeriscopeTopology
import PeriscopeViews

/// `topology/subscribe`, `topology/unsubscribe`, `node/subscribe`: shared views kept current per
/// report, with each subscriber's filter applied to the changes (see ``FilteredView``).
///
/// Per new report, each shared view (one per distinct view + options, whatever the number of
/// subscribers and filters) is re-rendered once on the render queue and diffed there; the loop then
/// hands the diff to its subscribers. Subscriptions end with `topology/unsubscribe` or the session.
///
/// - Important: loop thread only.
final class SubscriptionManager {
    private unowned let topology: TopologyService
    private var shared: [String: SharedView] = [:]
    private var subscriptions: [String: Subscription] = [:]
    private var nodeSubscriptions: [String: NodeSubscription] = [:]
    private var nextID = 1
    private var nextViewLane = -1

    init(topology: TopologyService) {
        self.topology = topology
        let router = topology.core.router
        router.register("topology/subscribe") { [unowned self] context throws(RPCError) in
            try self.subscribe(context)
        }
        router.register("topology/unsubscribe") { [unowned self] context throws(RPCError) in
            try context.params.allowOnly(["subscription"])
            let id = try context.params.requiredString("subscription")
            guard self.remove(id, owner: context.session) else {
                throw RPCError.notFound("no subscription '\(id)' on this connection")
            }
            return .result(.null)
        }
        router.register("node/subscribe") { [unowned self] context throws(RPCError) in
            try self.subscribeNode(context)
        }
        topology.onReport.append { [unowned self] report, revision in self.update(report, revision) }
        topology.hasSubscribers = { [unowned self] in !self.subscriptions.isEmpty || !self.nodeSubscriptions.isEmpty }
        topology.core.health["subscriptions"] = { [unowned self] in
            [
                "state": "ok",
                "summary": .string("\(self.subscriptions.count) view and \(self.nodeSubscriptions.count) node subscriptions over \(self.shared.count) shared views"),
                "subscriptions": JSONValue(self.subscriptions.count),
                "nodeSubscriptions": JSONValue(self.nodeSubscriptions.count),
                "sharedViews": JSONValue(self.shared.count),
            ]
        }
    }

    /// Takes one of `session`'s subscription slots (held from the request until the subscription ends or
    /// fails), so requests in a batch or pipelined count before any of them is answered.
    private func reserveSlot(_ session: Session) throws(RPCError) -> SubscriptionSlot {
        let limit = topology.core.configuration.maxSubscriptionsPerSession
        guard session.subscriptionSlots < limit else {
            throw RPCError(code: ErrorCode.limitExceeded, message: "too many subscriptions on this connection (limit \(limit))")
        }
        return SubscriptionSlot(session)
    }

    private func makeID() -> String {
        defer { nextID += 1 }
        return "s\(nextID)"
    }

    private func subscribe(_ context: MethodContext) throws(RPCError) -> Reply {
        let request = try ViewRequest(context.params, extra: ["minInterval"])
        let minInterval = Int(try context.params.int("minInterval", in: 0...60_000) ?? 100)
        guard let pending = context.pending else { return .deferred }
        let session = context.session
        let slot = try reserveSlot(session)
        let key = request.view + "|" + JSONWriter.string(request.optionsJSON ?? .null)
        let view = shared[key] ?? startSharedView(key: key, request: request)
        let start = { [weak self, weak session] in
            guard let self else { return }
            guard let session, !session.isClosed, !pending.isFinished else {
                // Cancelled or disconnected before the first render: drop a view nobody uses.
                slot.release()
                if view.subscriptions.isEmpty, view.waiting.isEmpty, self.shared[key] === view { self.shared[key] = nil }
                return
            }
            let subscription = Subscription(id: self.makeID(), session: session, shared: view, minIntervalMillis: minInterval,
                                            filter: request.filter, slot: slot, loop: self.topology.core.loop)
            view.subscriptions.append(subscription)
            self.subscriptions[subscription.id] = subscription
            session.onClose { [weak self] in _ = self?.remove(subscription.id, owner: session) }
            pending.succeed(subscription.snapshotJSON())
        }
        if view.current == nil { view.waiting.append(start) } else { start() }
        return .deferred
    }

    private func startSharedView(key: String, request: ViewRequest) -> SharedView {
        let view = SharedView(key: key, request: request, lane: nextViewLane)
        nextViewLane -= 1
        shared[key] = view
        topology.whenReady { [weak self] in
            guard let self, let report = self.topology.report else { return }
            self.render(view, report: report, revision: self.topology.revision, names: self.topology.names)
        }
        return view
    }

    /// A new report: re-render every shared view once.
    private func update(_ report: Report, _ revision: Int64) {
        for view in shared.values { render(view, report: report, revision: revision, names: topology.names) }
        for node in nodeSubscriptions.values {
            node.refresh(report, revision: revision, names: topology.names) { [weak self] ended in
                self?.nodeSubscriptions[ended.id] = nil
            }
        }
    }

    private func render(_ view: SharedView, report: Report, revision: Int64, names: [String: String]) {
        let request = view.request
        let state = view.renderState
        let bound = LoopBound(view, loop: topology.core.loop)
        let loop = topology.core.loop
        topology.renders.submit(RenderScheduler.Job(lane: view.lane, key: "view", isCancelled: { false }) {
            guard let rendered = try? request.renderUnfiltered(report, names) else { return }
            let diff = state.previous.map { ViewDiff(from: $0, to: rendered) }
            state.previous = rendered
            loop.execute {
                let view = bound.value
                guard let diff else {
                    view.install(rendered, revision: revision)
                    let waiting = view.waiting
                    view.waiting.removeAll()
                    for work in waiting { work() }
                    return
                }
                view.apply(diff, view: rendered, revision: revision)
                for subscription in view.subscriptions { subscription.absorb(diff, revision: revision) }
            }
        })
    }

    @discardableResult
    private func remove(_ id: String, owner: Session) -> Bool {
        if let subscription = subscriptions[id], subscription.session === owner {
            subscription.cancel()
            subscriptions[id] = nil
            let view = subscription.shared
            view.subscriptions.removeAll { $0 === subscription }
            if view.subscriptions.isEmpty, view.waiting.isEmpty { shared[view.key] = nil }
            return true
        }
        if let node = nodeSubscriptions[id], node.session === owner {
            node.end()
            nodeSubscriptions[id] = nil
            return true
        }
        return false
    }

    private func subscribeNode(_ context: MethodContext) throws(RPCError) -> Reply {
        try context.params.allowOnly(["view", "id"])
        let view = try context.params.requiredString("view")
        let nodeID = try context.params.requiredString("id")
        _ = try ViewRequest.descriptor(view)
        guard let pending = context.pending else { return .deferred }
        let session = context.session
        let slot = try reserveSlot(session)
        let subscription = NodeSubscription(id: makeID(), session: session, view: view, nodeID: nodeID,
                                            slot: slot, topology: topology)
        topology.whenReady { [weak self, weak session] in
            guard let self, let report = self.topology.report, let session, !pending.isFinished else {
                subscription.end()
                return
            }
            let revision = self.topology.revision
            // Registered before the first render lands, so a report arriving meanwhile reaches it too.
            self.nodeSubscriptions[subscription.id] = subscription
            subscription.first(report, revision: revision, names: self.topology.names) { result in
                switch result {
                case .success(let details):
                    guard !session.isClosed, !pending.isFinished else {
                        subscription.end()
                        self.nodeSubscriptions[subscription.id] = nil
                        return
                    }
                    session.onClose { [weak self] in _ = self?.remove(subscription.id, owner: session) }
                    pending.succeed(["subscription": .string(subscription.id), "revision": .int(revision), "node": details])
                case .failure(let error):
                    subscription.end()
                    self.nodeSubscriptions[subscription.id] = nil
                    pending.fail(error)
                }
            }
        }
        return .deferred
    }
}

extension ViewRequest {
    /// The view with its options but without the filter: what a shared view holds.
    func renderUnfiltered(_ report: Report, _ names: [String: String]) throws -> RenderedView {
        try ViewRenderer.render(report: report, view: view, options: options, filter: nil, names: names)
    }
}
