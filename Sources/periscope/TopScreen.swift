import Glibc
import PeriscopeClient
import PeriscopeProtocol

/// The state and drawing of `periscope top`: a subscribed view kept current, rendered as a table.
struct TopScreen {
    /// Every view the daemon serves, in its `topology/views` order.
    static let views = ["processes", "processes-by-name", "hosts", "containers", "containers-by-image", "containers-by-hostname"]

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
    /// The selected row's node id (kept across updates and re-sorts), and whether its details pane is open.
    private(set) var selected: String?
    var showDetails = false
    /// The last `node/get` of the selected node, for the details pane.
    var details: JSONValue?

    init(view: String, filter: String?, all: Bool, hidePseudo: Bool) {
        self.view = view
        self.filter = filter
        self.all = all
        self.hidePseudo = hidePseudo
    }

    mutating func nextView() {
        let index = TopScreen.views.firstIndex(of: view) ?? -1
        view = TopScreen.views[(index + 1) % TopScreen.views.count]
        selected = nil
        showDetails = false
        details = nil
    }

    /// Moves the selection `step` rows down (negative: up) in the current order.
    mutating func move(_ step: Int) {
        let order = sortedNodes().compactMap { $0["id"]?.stringValue }
        guard !order.isEmpty else { return }
        let index = selected.flatMap { order.firstIndex(of: $0) } ?? (step > 0 ? -1 : order.count)
        selected = order[min(max(index + step, 0), order.count - 1)]
    }

    /// Fetches the selected node's details for the pane (closes it when the node is gone).
    mutating func refreshDetails(_ client: RPCClient) {
        guard showDetails, let selected else { details = nil; return }
        do {
            details = TerminalText.sanitized(try client.call(NodeGetRequest.self, NodeRef(view: view, id: selected)))
        } catch {
            details = nil
            showDetails = false
        }
    }

    private func sortedNodes() -> [JSONValue] {
        func connections(_ node: JSONValue) -> Int64 {
            (node["metrics"]?["connectionsIn"]?.intValue ?? 0) + (node["metrics"]?["connectionsOut"]?.intValue ?? 0)
        }
        return nodes.values.sorted { a, b in
            let ka = bySpeed ? (a["metrics"]?["cpu"]?.doubleValue ?? 0) : Double(connections(a))
            let kb = bySpeed ? (b["metrics"]?["cpu"]?.doubleValue ?? 0) : Double(connections(b))
            return ka != kb ? ka > kb : (a["id"]?.stringValue ?? "") < (b["id"]?.stringValue ?? "")
        }
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

    mutating func apply(_ notification: TopologyChangedNotification) {
        guard notification.subscription == subscription else { return }
        let change = notification.sanitizedForTerminal.changes
        if notification.reset { nodes = [:]; edges = [:] }
        for id in change.removed.nodes { nodes[id] = nil }
        for id in change.removed.edges { edges[id] = nil }
        for group in [change.added, change.updated] {
            for node in group.nodes { if let id = node["id"]?.stringValue { nodes[id] = node } }
            for edge in group.edges { if let id = edge["id"]?.stringValue { edges[id] = edge } }
        }
        revision = notification.revision
    }

    func draw() {
        var size = winsize()
        let rows = ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_row > 0 ? Int(size.ws_row) : 40
        let cols = size.ws_col > 0 ? Int(size.ws_col) : 120
        let sorted = sortedNodes()
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
        lines.append("keys: v view  s sort  a all  f filter  ↑↓/jk select  enter details  q quit   \(message)")
        lines.append("")
        var table = TextTable(["NODE", "CPU%", "MEMORY", "IN", "OUT", "TALKS TO"])
        let pane = showDetails ? detailsPane(width: cols) : []
        let room = max(1, rows - 5 - pane.count)
        let selectedIndex = selected.flatMap { id in sorted.firstIndex { $0["id"]?.stringValue == id } } ?? 0
        let first = max(0, min(selectedIndex - room + 1, sorted.count - room))
        var marked: Int?
        for (offset, node) in sorted.dropFirst(first).prefix(room).enumerated() {
            if node["id"]?.stringValue == selected { marked = offset }
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
        var rendered = table.render().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if let marked, marked + 1 < rendered.count {  // the header is line 0
            rendered[marked + 1] = "\u{1B}[7m" + "> " + String(rendered[marked + 1].prefix(cols - 2)) + "\u{1B}[0m"
        }
        if sorted.isEmpty, TopScreen.isContainerView(view), let engineNote { rendered.append("(\(engineNote))") }
        lines += rendered
        lines += pane
        var out = "\u{1B}[H\u{1B}[2J"
        for line in lines.prefix(rows) { out += (line.hasPrefix("\u{1B}[7m") ? line : String(line.prefix(cols))) + "\r\n" }
        TopScreen.write(out)
    }

    /// Set by `top` when the daemon has no container engine (container views are empty).
    var engineNote: String?

    static func isContainerView(_ view: String) -> Bool { view.hasPrefix("containers") }

    /// The details pane of the selected node: what it is, cpu/memory with sparklines, its connections.
    private func detailsPane(width: Int) -> [String] {
        guard let details else { return ["", "── details: loading…"] }
        let node = details["node"] ?? .null
        var lines = ["", "── \(TopologyText.label(node))  [\(node["kind"]?.stringValue ?? "?")]  \(TopologyText.shortID(node["id"]?.stringValue ?? ""))"]
        lines += TopologyText.metrics(details).split(separator: "\n").map(String.init)
        if let minor = node["labelMinor"]?.stringValue, !minor.isEmpty { lines.append("  \(minor)") }
        for (title, key) in [("in ", "inbound"), ("out", "outbound")] {
            let rows = details[key]?.arrayValue ?? []
            guard !rows.isEmpty else { continue }
            let peers = rows.prefix(6).map { row in
                "\(row["peerLabel"]?.stringValue ?? "?"):\(key == "inbound" ? row["localPort"]?.intValue ?? 0 : row["remotePort"]?.intValue ?? 0)"
                    + (row["closed"]?.boolValue == true ? " (closed)" : "")
            }
            lines.append("  \(title) \(rows.count): " + peers.joined(separator: ", ") + (rows.count > 6 ? ", …" : ""))
        }
        return lines.map { String($0.prefix(width)) }
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
