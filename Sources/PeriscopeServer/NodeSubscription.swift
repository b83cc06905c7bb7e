import PeriscopeEventLoop
import PeriscopeProtocol
import PeriscopeTopology
import PeriscopeViews

/// Live details of one node: the first details render in its client's render turn; later ones come
/// per report from one render per view shared by every node subscription on that view
/// (``SubscriptionManager``), sent as `node/changed` when they differ from what the client has. When the node goes away the client gets
/// `node/changed` with `"removed": true` and the subscription ends.
///
/// Renders finish later on the render queue, possibly after the client has gone: the subscription
/// holds its session weakly and does nothing once it has ended.
///
/// - Important: loop thread only (rendering happens on the render queue).
final class NodeSubscription {
    let id: String
    private(set) weak var session: Session?
    let view: ViewDescriptor
    let nodeID: String
    private let lane: Int
    private let topology: TopologyService
    private let slot: SubscriptionSlot
    private var last: JSONValue?
    private(set) var ended = false

    init(id: String, session: Session, view: ViewDescriptor, nodeID: String, slot: SubscriptionSlot, topology: TopologyService) {
        self.id = id
        self.session = session
        self.lane = session.id
        self.view = view
        self.nodeID = nodeID
        self.slot = slot
        self.topology = topology
    }

    /// Ends the subscription: no more renders or notifications; its slot is given back.
    func end() {
        ended = true
        slot.release()
    }

    /// Renders the first details and hands them to `completion` on the loop.
    func first(_ report: Report, revision: Int64, names: [String: String],
               completion: @escaping (Result<JSONValue, RPCError>) -> Void) {
        render(report, names) { [self] details in
            guard let details else {
                completion(.failure(.notFound("no node '\(nodeID)' in view '\(view.name)'")))
                return
            }
            if last == nil { last = details }
            completion(.success(details))
        }
    }

    /// The node's details at a new revision (`nil`: the node is gone); notifies the client when they
    /// changed and calls `onEnd` when the subscription ends (node or client gone).
    func deliver(_ details: JSONValue?, revision: Int64, onEnd: (NodeSubscription) -> Void) {
        guard !ended else { return }
        guard let session, !session.isClosed else {
            end()
            onEnd(self)
            return
        }
        guard let details else {
            end()
            session.notify(NodeChangedNotification(subscription: id, revision: revision, change: .removed))
            onEnd(self)
            return
        }
        guard last != nil, details != last else {
            if last == nil { last = details }
            return
        }
        last = details
        session.notify(NodeChangedNotification(subscription: id, revision: revision, change: .details(details)))
    }

    /// Renders in the client's turn.
    private func render(_ report: Report, _ names: [String: String], _ done: @escaping (JSONValue?) -> Void) {
        let view = self.view
        let nodeID = self.nodeID
        let bound = LoopBound(done, loop: topology.core.loop)
        let loop = topology.core.loop
        let isCancelled = { [weak self] () -> Bool in
            guard let self, !self.ended, let session = self.session else { return true }
            return session.isClosed
        }
        topology.renders.submit(RenderScheduler.Job(lane: lane, key: nil, isCancelled: isCancelled) {
            let details = ViewRenderer.details(report: report, view: view, id: nodeID, names: names)?.json
            loop.execute { bound.value(details) }
        })
    }
}
