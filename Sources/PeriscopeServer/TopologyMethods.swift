import PeriscopeProtocol
import PeriscopeTopology
import PeriscopeViews

/// `topology/views`, `topology/get`, `node/get` and `report/get`: params arrive decoded (``RPCParams``); the
/// view is checked against the catalog here, on the loop, and rendered on the render queue.
enum TopologyMethods {
    static func register(_ service: TopologyService) {
        let router = service.core.router
        router.register(TopologyViewsRequest.self) { [unowned service] context, _ throws(RPCError) in
            service.answer(context, cacheKey: .views) { report, names, _ in
                .object(["views": .array(ViewCatalog.listing(report: report, names: names).map(\.json))])
            }
            return .deferred
        }
        router.register(TopologyGetRequest.self) { [unowned service] context, params throws(RPCError) in
            let request = try ViewRequest(params.query)
            if let at = params.at {
                guard let history = service.history else { throw RPCError.notFound("history is off") }
                try history.get(context, request, at: at)
                return .deferred
            }
            service.answerView(context, request)
            return .deferred
        }
        router.register(NodeGetRequest.self) { [unowned service] context, node throws(RPCError) in
            let view = try ViewRequest.descriptor(node.view)
            service.answer(context, cacheKey: nil) { report, names, _ throws(RPCError) in
                guard let details = ViewRenderer.details(report: report, view: view, id: node.id, names: names) else {
                    throw RPCError.notFound("no node '\(node.id)' in view '\(node.view)'")
                }
                return details.json
            }
            return .deferred
        }
        router.register(ReportGetRequest.self) { [unowned service] context, _ throws(RPCError) in
            let hostID = service.hostID
            service.answer(context, cacheKey: .report) { report, _, revision in
                ["revision": .int(revision), "host": .string(hostID), "report": report.json]
            }
            return .deferred
        }
    }
}
