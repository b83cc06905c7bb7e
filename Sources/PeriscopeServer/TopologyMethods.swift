import PeriscopeProtocol
import PeriscopeTopology
import PeriscopeViews

/// `topology/views`, `topology/get`, `node/get` and `report/get`: parameter checking on the loop,
/// rendering on the render queue.
enum TopologyMethods {
    static func register(_ service: TopologyService) {
        let router = service.core.router
        router.register("topology/views") { [unowned service] context throws(RPCError) in
            try context.params.allowOnly([])
            service.answer(context, cacheKey: "views") { report, names, _ in
                .object(["views": .array(ViewCatalog.listing(report: report, names: names).map(\.json))])
            }
            return .deferred
        }
        router.register("topology/get") { [unowned service] context throws(RPCError) in
            let request = try ViewRequest(context.params, extra: [])
            service.answer(context, cacheKey: "get|" + request.cacheKey) { report, names, revision throws(RPCError) in
                let view = try request.render(report, names)
                return view.json(revision: revision)
            }
            return .deferred
        }
        router.register("node/get") { [unowned service] context throws(RPCError) in
            try context.params.allowOnly(["view", "id"])
            let view = try context.params.requiredString("view")
            let id = try context.params.requiredString("id")
            _ = try ViewRequest.descriptor(view)
            service.answer(context, cacheKey: nil) { report, names, _ throws(RPCError) in
                guard let details = ViewRenderer.details(report: report, view: view, id: id, names: names) else {
                    throw RPCError.notFound("no node '\(id)' in view '\(view)'")
                }
                return details.json
            }
            return .deferred
        }
        router.register("report/get") { [unowned service] context throws(RPCError) in
            try context.params.allowOnly([])
            let hostID = service.hostID
            service.answer(context, cacheKey: "report") { report, _, revision in
                ["revision": .int(revision), "host": .string(hostID), "report": report.json]
            }
            return .deferred
        }
    }
}

/// A view, its options and filter, checked on the loop so errors name the bad parameter.
struct ViewRequest: Sendable {
    let view: String
    let options: ViewOptions
    let filter: FilterExpression?
    let filterText: String?
    let optionsJSON: JSONValue?

    init(_ params: Params, extra: Set<String>) throws(RPCError) {
        try params.allowOnly(Set(["view", "options", "filter"]).union(extra))
        view = try params.requiredString("view")
        let descriptor = try ViewRequest.descriptor(view)
        optionsJSON = try params.value("options")
        do {
            options = try ViewOptions(json: optionsJSON)
        } catch {
            throw RPCError.invalidParams("params.options: \(error)")
        }
        for name in ViewOptions.names where !descriptor.optionNames.contains(name) {
            if optionsJSON?[name] != nil {
                throw RPCError.invalidParams("params.options.\(name) is not an option of view '\(view)'; it takes: \(descriptor.optionNames.joined(separator: ", "))")
            }
        }
        filterText = try params.string("filter")
        if let filterText, !filterText.isEmpty {
            do {
                filter = try FilterExpression.parse(filterText)
            } catch {
                throw RPCError.invalidParams("params.filter: \(error)")
            }
        } else {
            filter = nil
        }
    }

    static func descriptor(_ view: String) throws(RPCError) -> ViewDescriptor {
        do {
            return try ViewCatalog.descriptor(named: view)
        } catch {
            throw RPCError.invalidParams("params.view: \(error)")
        }
    }

    var cacheKey: String {
        view + "|" + JSONWriter.string(optionsJSON ?? .null) + "|" + (filterText ?? "")
    }

    func render(_ report: Report, _ names: [String: String]) throws(RPCError) -> RenderedView {
        do {
            return try ViewRenderer.render(report: report, view: view, options: options, filter: filter, names: names)
        } catch {
            throw RPCError.invalidParams("\(error)")
        }
    }
}
