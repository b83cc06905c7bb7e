import PeriscopeProtocol
import PeriscopeTopology

/// One option a view accepts.
public struct ViewOptionDescriptor: Sendable, Hashable, JSONRepresentable {
    public var name: String
    /// The JSON type of the value (`boolean`).
    public var type: String
    public var defaultValue: Bool
    public var description: String

    public var json: JSONValue {
        ["name": .string(name), "type": .string(type), "default": .bool(defaultValue),
         "description": .string(description)]
    }
}

/// A view the renderer offers.
public struct ViewDescriptor: Sendable, Hashable, JSONRepresentable {
    /// The name clients pass as `view`.
    public var name: String
    public var description: String
    public var options: [ViewOptionDescriptor]

    /// The option names this view accepts.
    public var optionNames: [String] { options.map(\.name) }

    public var json: JSONValue {
        ["name": .string(name), "description": .string(description), "options": .array(options.map(\.json))]
    }

    func option(_ name: String) -> Bool {
        options.first(where: { $0.name == name })?.defaultValue ?? false
    }
}

/// The views (`topology/views`).
public enum ViewCatalog {
    public static let processes = "processes"
    public static let processesByName = "processes-by-name"
    public static let hosts = "hosts"
    public static let containers = "containers"
    public static let containersByImage = "containers-by-image"
    public static let containersByHostname = "containers-by-hostname"

    /// Whether `view` draws containers (see ``ViewAssembler/projectToContainer(_:)``).
    static func isContainerView(_ view: String) -> Bool {
        view == containers || view == containersByImage || view == containersByHostname
    }

    private static func opt(_ name: String, _ value: Bool, _ text: String) -> ViewOptionDescriptor {
        ViewOptionDescriptor(name: name, type: "boolean", defaultValue: value, description: text)
    }

    private static let common = [
        opt("hidePseudo", false, "Hide pseudo nodes (The Internet, remote peers, unattributed sockets)."),
        opt("includeClosed", true, "Show connections closed within the retention period, marked closed."),
    ]

    private static let processOptions = [
        opt("all", false, "Include every process, not only those with connections."),
        opt("hideUnconnected", true, "Hide nodes without edges (defaults to false when all is true)."),
    ] + common

    /// Every view, in display order.
    public static let all: [ViewDescriptor] = [
        ViewDescriptor(name: processes,
                       description: "One node per process with connections; edges from client to server.",
                       options: processOptions),
        ViewDescriptor(name: processesByName,
                       description: "Processes grouped by process name (as Scope did), edges merged.",
                       options: processOptions),
        ViewDescriptor(name: hosts,
                       description: "Hosts, with edges to other hosts, remote peers and the Internet.",
                       options: [opt("hideUnconnected", false, "Hide hosts without edges.")] + common),
    ] + containerViews

    private static let containerOptions = [
        opt("all", false, "Include stopped containers (marked stopped), not only running and paused ones."),
        opt("system", false, "Include system containers (pod infrastructure, labelled periscope.system=true)."),
        opt("hideUnconnected", false, "Hide containers without edges."),
    ] + common

    private static let containerViews: [ViewDescriptor] = [
        ViewDescriptor(name: containers,
                       description: "One node per container; host processes outside containers as Uncontained.",
                       options: containerOptions),
        ViewDescriptor(name: containersByImage,
                       description: "Containers merged by image, edges merged.", options: containerOptions),
        ViewDescriptor(name: containersByHostname,
                       description: "Containers grouped by container hostname.", options: containerOptions),
    ]

    /// The descriptor of `name`.
    /// - Throws: ``ViewError`` `unknownView`, listing the known views.
    public static func descriptor(named name: String) throws(ViewError) -> ViewDescriptor {
        guard let d = all.first(where: { $0.name == name }) else {
            throw ViewError(.unknownView, "unknown view '\(name)'; known views: \(all.map(\.name).joined(separator: ", "))")
        }
        return d
    }

    /// The `topology/views` result: every view with its node and edge counts under default options.
    public static func listing(report: Report, names: [String: String] = [:]) -> [ViewListing] {
        all.map { d in
            let view = (try? ViewSpec(view: d.name)).map { ViewRenderer.render(report: report, spec: $0, names: names) }
            return ViewListing(descriptor: d, nodeCount: view?.nodes.count ?? 0, edgeCount: view?.edges.count ?? 0)
        }
    }
}

/// One entry of the `topology/views` result.
public struct ViewListing: Sendable, Hashable, JSONRepresentable {
    public var descriptor: ViewDescriptor
    public var nodeCount: Int
    public var edgeCount: Int

    /// `{name, description, options: [{name, type, default, description}], nodeCount, edgeCount}`.
    public var json: JSONValue {
        var o = descriptor.json.objectValue ?? [:]
        o["nodeCount"] = .int(Int64(nodeCount))
        o["edgeCount"] = .int(Int64(edgeCount))
        return .object(o)
    }
}
