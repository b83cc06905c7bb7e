import Glibc
import PeriscopeClient
import PeriscopeProtocol

/// The state and drawing of `periscope top`: a subscribed view kept current, rendered as a table.
struct TopScreen {
    static let views = ["processes", "processes-by-name", "hosts"]

    var view: String
    var filter: String?
    var all: Bool
    /// `--hide-pseudo`: no Internet, remote or unattributed nodes.
    let hidePseudo: Bool
    var bySpeed = false
    private var nodes: [String: JSONValue] = [:]
    private var edges: [String: JSONValue] = [:]
    private var revision: Int64 = 0
    private var subscription: String?
    private var message = ""

    init(view: String, filter: String?, all: Bool, hidePseudo: Bool) {
        self.view = view
        self.filter = filter
        self.all = all
        self.hidePseudo = hidePseudo
    }

    mutating func nextView() {
        let index = TopScreen.views.firstIndex(of: view) ?? -1
        view = TopScreen.views[(index + 1) % TopScreen.views.count]
    }

    /// (Re)subscribes with the current view, filter and scope.
    mutating func subscribe(_ client: RPCClient) throws {
        if let subscription {
            _ = try? client.call(TopologyUnsubscribeRequest.self, .init(subscription: subscription))
        }
        let query = ViewSelection.query(view: view, filter: filter, all: all && view != "hosts", hidePseudo: hidePseudo)
        do {
            let snapshot = try client.call(TopologySubscribeRequest.self, .init(query, minInterval: 250))
            subscription = snapshot.subscription
            revision = snapshot.revision
            nodes = [:]
            edges = [:]
            for node in snapshot.nodes.map(TerminalText.sanitized) { if let id = node["id"]?.stringValue { nodes[id] = node } }
            for edge in snapshot.edges.map(TerminalText.sanitized) { if let id = edge["id"]?.stringValue { edges[id] = edge } }
            message = ""
        } catch let error as RPCError {
            message = "error: \(TerminalText.escape(error.message))"
            filter = nil
        }
    }

    mutating func apply(_ raw: JSONValue) {
        guard raw["subscription"]?.stringValue == subscription else { return }
        let change = TerminalText.sanitized(raw)
        if change["reset"]?.boolValue == true { nodes = [:]; edges = [:] }
        for id in change["removed"]?["nodes"]?.arrayValue?.compactMap(\.stringValue) ?? [] { nodes[id] = nil }
        for id in change["removed"]?["edges"]?.arrayValue?.compactMap(\.stringValue) ?? [] { edges[id] = nil }
        for key in ["added", "updated"] {
            for node in change[key]?["nodes"]?.arrayValue ?? [] { if let id = node["id"]?.stringValue { nodes[id] = node } }
            for edge in change[key]?["edges"]?.arrayValue ?? [] { if let id = edge["id"]?.stringValue { edges[id] = edge } }
        }
        revision = change["revision"]?.intValue ?? revision
    }

    func draw() {
        var size = winsize()
        let rows = ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_row > 0 ? Int(size.ws_row) : 40
        let cols = size.ws_col > 0 ? Int(size.ws_col) : 120
        func connections(_ node: JSONValue) -> Int64 {
            (node["metrics"]?["connectionsIn"]?.intValue ?? 0) + (node["metrics"]?["connectionsOut"]?.intValue ?? 0)
        }
        let sorted = nodes.values.sorted { a, b in
            let ka = bySpeed ? (a["metrics"]?["cpu"]?.doubleValue ?? 0) : Double(connections(a))
            let kb = bySpeed ? (b["metrics"]?["cpu"]?.doubleValue ?? 0) : Double(connections(b))
            return ka != kb ? ka > kb : (a["id"]?.stringValue ?? "") < (b["id"]?.stringValue ?? "")
        }
        var outgoing: [String: [String]] = [:]
        for edge in edges.values {
            guard let source = edge["source"]?.stringValue, let target = edge["target"]?.stringValue else { continue }
            let label = nodes[target].map(TopologyText.label) ?? target
            let ports = edge["ports"]?.arrayValue?.compactMap { $0.intValue.map(String.init) }.joined(separator: ",") ?? ""
            outgoing[source, default: []].append("\(label):\(ports)")
        }
        var lines: [String] = []
        let scope = [filter.map { "filter '\(TerminalText.escape($0))'" }, all ? "all processes" : nil, hidePseudo ? "no pseudo nodes" : nil]
            .compactMap { $0 }.joined(separator: ", ")
        lines.append("periscope top — \(view)  rev \(revision)  \(nodes.count) nodes \(edges.count) edges  sort: \(bySpeed ? "cpu" : "connections")  \(scope)")
        lines.append("keys: v view  s sort  a all  f filter  q quit   \(message)")
        lines.append("")
        var table = TextTable(["NODE", "CPU%", "MEMORY", "IN", "OUT", "TALKS TO"])
        for node in sorted.prefix(max(1, rows - 5)) {
            let metrics = node["metrics"]
            let id = node["id"]?.stringValue ?? ""
            table.add([
                TopologyText.truncate(TopologyText.label(node), 32),
                metrics?["cpu"]?.doubleValue.map { TopologyText.format($0, decimals: 1) } ?? "",
                metrics?["memory"]?.doubleValue.map(TopologyText.bytes) ?? "",
                metrics?["connectionsIn"].map(TopologyText.number) ?? "", metrics?["connectionsOut"].map(TopologyText.number) ?? "",
                (outgoing[id] ?? []).sorted().joined(separator: " "),
            ])
        }
        lines += table.render().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var out = "\u{1B}[H\u{1B}[2J"
        for line in lines.prefix(rows) { out += String(line.prefix(cols)) + "\r\n" }
        TopScreen.write(out)
    }

    static func write(_ text: String) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { _ = Glibc.write(STDOUT_FILENO, $0.baseAddress, $0.count) }
    }

    /// Reads a line in cooked mode.
    static func prompt(_ text: String) -> String? {
        write("\u{1B}[?1049l\u{1B}[?25h" + text)
        let line = readLine(strippingNewline: true)
        return line.flatMap { $0.isEmpty ? nil : $0 }
    }
}
