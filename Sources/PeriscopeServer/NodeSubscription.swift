import PeriscopeEventLoop
import PeriscopeProtocol
import PeriscopeTopology
import PeriscopeViews

/// Live details of one node: re-rendered per report on the render queue, sent as `node/changed`
/// when they differ from what the client has. When the node goes away the client gets
/// `node/changed` with `"removed": true` and the subscription ends.
///
/// - Important: loop thread only (rendering happens on the render queue).
final class NodeSubscription {
    let id: String
    unowned let session: Session
    let view: String
    let nodeID: String
    private unowned let topology: TopologyService
    private var last: JSONValue?
    private var ended = false

    init(id: String, session: Session, view: String, nodeID: String, topology: TopologyService) {
        self.id = id
        self.session = session
        self.view = view
        self.nodeID = nodeID
        self.topology = topology
    }

    /// Renders the first details and hands them to `completion` on the loop.
    func first(_ report: Report, revision: Int64, names: [String: String],
               completion: @escaping (Result<JSONValue, RPCError>) -> Void) {
        render(report, names) { [self] details in
            guard let details else {
                completion(.failure(.notFound("no node '\(nodeID)' in view '\(view)'")))
                return
            }
            if last == nil { last = details }
            completion(.success(details))
        }
    }

    /// Renders the details for a new report; calls `onEnd` when the node is gone (the subscription ends).
    func refresh(_ report: Report, revision: Int64, names: [String: String], onEnd: @escaping (NodeSubscription) -> Void) {
        guard !ended else { return }
        render(report, names) { [self] details in
            guard !ended, !session.isClosed else { return }
            guard let details else {
                ended = true
                session.notify("node/changed", ["subscription": .string(id), "revision": .int(revision), "removed": true])
                onEnd(self)
                return
            }
            guard last != nil, details != last else {
                if last == nil { last = details }
                return
            }
            last = details
            session.notify("node/changed", ["subscription": .string(id), "revision": .int(revision), "node": details])
        }
    }

    private func render(_ report: Report, _ names: [String: String], _ done: @escaping (JSONValue?) -> Void) {
        let view = self.view
        let nodeID = self.nodeID
        let bound = LoopBound(done, loop: topology.core.loop)
        let loop = topology.core.loop
        topology.renderQueue.async {
            let details = ViewRenderer.details(report: report, view: view, id: nodeID, names: names)?.json
            loop.execute { bound.value(details) }
        }
    }
}
