import PeriscopeCollectors
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
    /// One per view and options as parsed (``ViewSpec``): the filter is applied per subscriber.
    private(set) var shared: [ViewSpec: SharedView] = [:]
    private var subscriptions: [String: Subscription] = [:]
    private var nodeSubscriptions: [String: NodeSubscription] = [:]
    private var nextID = 1
    private var nextViewLane = -1
    /// The render lane of each view's node-detail refreshes.
    private var detailLanes: [String: Int] = [:]

    init(topology: TopologyService) {
        self.topology = topology
        let router = topology.core.router
        router.register(TopologySubscribeRequest.self) { [unowned self] context, params throws(RPCError) in
            try self.subscribe(context, params)
        }
        router.register(TopologyUnsubscribeRequest.self) { [unowned self] context, params throws(RPCError) in
            let id = params.subscription
            guard self.remove(id, owner: context.session) else {
                throw RPCError.notFound("no subscription '\(id)' on this connection")
            }
            return .result(.null)
        }
        router.register(NodeSubscribeRequest.self) { [unowned self] context, node throws(RPCError) in
            try self.subscribeNode(context, node)
        }
        topology.onReport.append { [unowned self] report, revision in self.update(report, revision) }
        topology.hasSubscribers = { [unowned self] in !self.subscriptions.isEmpty || !self.nodeSubscriptions.isEmpty }
        topology.core.health["subscriptions"] = { [unowned self] in
            SourceHealth(state: "ok",
                         summary: "\(self.subscriptions.count) view and \(self.nodeSubscriptions.count) node subscriptions over \(self.shared.count) shared views",
                         figures: ["subscriptions": JSONValue(self.subscriptions.count),
                                   "nodeSubscriptions": JSONValue(self.nodeSubscriptions.count),
                                   "sharedViews": JSONValue(self.shared.count),
                                   "renders": JSONValue(self.shared.values.reduce(0) { $0 + $1.renders.count }),
                                   "rendersStartedOver": JSONValue(self.shared.values.reduce(0) { $0 + $1.renders.startedOver }),
                                   "connectionsResolved": JSONValue(self.shared.values.reduce(0) { $0 + $1.renders.resolved }),
                                   "renderMillis": JSONValue(self.shared.values.reduce(0) { $0 + $1.renders.millis })]).json
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

    private func subscribe(_ context: MethodContext,
                           _ params: TopologySubscribeRequest.Params) throws(RPCError) -> Reply<TopologySubscribeResult> {
        let request = try ViewRequest(params.query)
        let minInterval = Int(params.minInterval ?? TopologySubscribeRequest.Params.defaultMinInterval)
        guard let pending = context.pending else { return .deferred }
        let session = context.session
        let slot = try reserveSlot(session)
        let key = request.spec
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
                                            filter: request.filter, slot: slot, loop: self.topology.core.loop,
                                            maxPendingChanges: self.topology.core.configuration.maxPendingChanges)
            view.subscriptions.append(subscription)
            self.subscriptions[subscription.id] = subscription
            session.onClose { [weak self] in _ = self?.remove(subscription.id, owner: session) }
            pending.succeed(subscription.snapshot())
        }
        if view.current == nil { view.waiting.append(start) } else { start() }
        return .deferred
    }

    private func startSharedView(key: ViewSpec, request: ViewRequest) -> SharedView {
        let view = SharedView(key: key, request: request, lane: nextViewLane)
        nextViewLane -= 1
        shared[key] = view
        topology.whenReady { [weak self] in
            guard let self, let report = self.topology.report else { return }
            self.render(view, report: report, revision: self.topology.revision, names: self.topology.names)
        }
        return view
    }

    /// A new report: re-render every shared view once, and the details of every subscribed node once
    /// per view (one assembly of the view serves all its node subscriptions).
    private func update(_ report: Report, _ revision: Int64) {
        for view in shared.values { render(view, report: report, revision: revision, names: topology.names) }
        var byView: [String: [NodeSubscription]] = [:]
        for node in nodeSubscriptions.values where !node.ended {
            byView[node.view.name, default: []].append(node)
        }
        for nodes in byView.values {
            if let view = nodes.first?.view { refreshDetails(view, nodes, report: report, revision: revision) }
        }
    }

    /// Renders the details of `nodes` (all of `view`) in the view's own render lane; a newer report
    /// replaces a refresh still waiting for its turn.
    private func refreshDetails(_ view: ViewDescriptor, _ nodes: [NodeSubscription], report: Report, revision: Int64) {
        let lane = detailLanes[view.name] ?? {
            defer { nextViewLane -= 1 }
            detailLanes[view.name] = nextViewLane
            return nextViewLane
        }()
        let ids = Set(nodes.map(\.nodeID))
        let names = topology.names
        let bound = LoopBound((self, nodes), loop: topology.core.loop)
        let loop = topology.core.loop
        topology.renders.submit(RenderScheduler.Job(lane: lane, key: "details", isCancelled: { nodes.allSatisfy(\.ended) }) {
            let details = ViewRenderer.details(report: report, view: view, ids: ids, names: names).mapValues(\.json)
            loop.execute {
                let (manager, nodes) = bound.value
                for node in nodes {
                    node.deliver(details[node.nodeID], revision: revision) { [weak manager] ended in
                        manager?.nodeSubscriptions[ended.id] = nil
                    }
                }
            }
        })
    }

    private func render(_ view: SharedView, report: Report, revision: Int64, names: [String: String]) {
        let request = view.request
        let state = view.renderState
        let bound = LoopBound(view, loop: topology.core.loop)
        let loop = topology.core.loop
        topology.renders.submit(RenderScheduler.Job(lane: view.lane, key: "view", isCancelled: { false }) {
            let start = monotonicMillis()
            var renderer = state.renderer ?? IncrementalRenderer(spec: request.spec)
            state.renderer = nil  // the renderer's tables uniquely referenced while it updates them
            let rendered = renderer.render(report, names: names)
            let (resolved, startedOver) = (renderer.lastResolved, renderer.lastStartedOver)
            state.renderer = renderer
            let diff = state.previous.map { ViewDiff(from: $0, to: rendered) }
            state.previous = rendered
            let millis = monotonicMillis() - start
            loop.execute {
                let view = bound.value
                view.count(resolved: resolved, startedOver: startedOver, millis: millis)
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

    private func subscribeNode(_ context: MethodContext, _ node: NodeRef) throws(RPCError) -> Reply<NodeSubscribeRequest.Result> {
        let view = try ViewRequest.descriptor(node.view)
        let nodeID = node.id
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
                    pending.succeed(NodeSubscribeRequest.Result(subscription: subscription.id, revision: revision, node: details))
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
