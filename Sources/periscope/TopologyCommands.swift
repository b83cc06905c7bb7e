import ArgumentParser
import PeriscopeClient
import PeriscopeProtocol

/// Options that select what part of a view to fetch.
/// What every view command takes: the view, a filter, and the option flags.
struct ViewSelection: ParsableArguments {
    @Argument(help: "View name: processes, processes-by-name, containers, containers-by-image, containers-by-hostname, hosts (`periscope views` lists them).")
    var view: String = "processes"

    @Option(help: "Filter expression, e.g. 'name:postgres', 'port:5432', 'cpu>50', '!pseudo:true'.")
    var filter: String?

    @Flag(help: "Include every process, not only those with connections.")
    var all = false

    @Flag(help: "Hide pseudo nodes (The Internet, remote peers).")
    var hidePseudo = false

    func query() -> ViewQuery {
        ViewSelection.query(view: view, filter: filter, all: all, hidePseudo: hidePseudo)
    }

    /// The `topology/get` params (the view part of `topology/subscribe`'s) for a view with these choices (also
    /// used by `top`, whose choices change as it runs). Flags not given leave the option to the view's default.
    static func query(view: String, filter: String?, all: Bool, hidePseudo: Bool) -> ViewQuery {
        ViewQuery(view: view, options: ViewOptions(all: all ? true : nil, hidePseudo: hidePseudo ? true : nil), filter: filter)
    }
}

struct Views: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the views the daemon serves, with their node and edge counts.")

    @OptionGroup var options: ClientOptions

    func run() throws {
        let client = try options.connect()
        let raw = try reportingErrors { try client.call(TopologyViewsRequest.self) }
        if options.json {
            printJSON(raw)
            return
        }
        let result = TerminalText.sanitized(raw)
        var table = TextTable(["VIEW", "NODES", "EDGES", "DESCRIPTION"])
        for view in result["views"]?.arrayValue ?? [] {
            table.add([view["name"]?.stringValue ?? "?", view["nodeCount"].map(TopologyText.number) ?? "",
                       view["edgeCount"].map(TopologyText.number) ?? "", view["description"]?.stringValue ?? ""])
        }
        print(table.render())
    }
}

struct Get: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a view: its nodes and who talks to whom.",
        discussion: "Views: processes, processes-by-name, containers, containers-by-image, containers-by-hostname, hosts (periscope views lists them)."
    )

    @OptionGroup var options: ClientOptions
    @OptionGroup var selection: ViewSelection

    @Option(parsing: .unconditional, help: "Show the view as it was at a past instant (from the daemon's history): relative (-10m, 1h) or RFC 3339.")
    var at: String?

    func run() throws {
        let client = try options.connect()
        let result = try reportingErrors { try client.call(TopologyGetRequest.self, .init(selection.query(), at: at)) }
        if options.json {
            printJSON(result)
            return
        }
        let empty = (result["nodes"]?.arrayValue ?? []).isEmpty
        let reason = empty && Get.isContainerView(selection.view) ? Get.missingEngine(client) : nil
        print(TopologyText.render(view: TerminalText.sanitized(result), emptyReason: reason))
    }

    static func isContainerView(_ view: String) -> Bool { view.hasPrefix("containers") }

    /// "no container engine (see `periscope status`)" when the daemon's container collector is not working,
    /// else `nil` (the engine runs; the view is empty for another reason).
    static func missingEngine(_ client: RPCClient) -> String? {
        guard let status = try? client.call(DaemonStatusRequest.self) else { return nil }
        let containers = status["collectors"]?["containers"]
        if containers?["state"]?.stringValue == "ok" { return nil }
        return "no container engine (see `periscope status`)"
    }
}

struct Node: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show one node's details: metadata, cpu/memory with sparklines, connections.",
        discussion: """
            NODE is a name, a pid, or a unique prefix of the id (`periscope node containers ux-db1`, \
            `periscope node processes 932`, `periscope node containers 36ff`). With one argument, the node is \
            looked for in the containers view, then processes.
            """
    )

    @OptionGroup var options: ClientOptions

    @Argument(help: "View name (processes, processes-by-name, containers, containers-by-image, containers-by-hostname, hosts).")
    var view: String

    @Argument(help: "Node: a name, a pid, or a unique id prefix.")
    var node: String?

    func run() throws {
        let client = try options.connect()
        let (view, id) = try resolve(client)
        let result = try reportingErrors { try client.call(NodeGetRequest.self, NodeRef(view: view, id: id)) }
        if options.json {
            printJSON(result)
            return
        }
        print(TopologyText.render(details: TerminalText.sanitized(result)))
    }

    /// The view and node id meant: `VIEW NODE`, or `NODE` alone (a container, else a process).
    private func resolve(_ client: RPCClient) throws -> (String, String) {
        if let node { return (view, try NodeResolver(client: client, view: view).resolve(node)) }
        let name = view
        if let found = try NodeResolver(client: client, view: "containers").find(name) { return ("containers", found) }
        return ("processes", try NodeResolver(client: client, view: "processes").resolve(name))
    }
}
