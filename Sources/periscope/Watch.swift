import ArgumentParser
import Glibc
import PeriscopeClient
import PeriscopeProtocol

/// `periscope watch VIEW`: subscribe and print changes as they happen.
struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print changes to a view as they happen (one line per change, or NDJSON with --json).",
        discussion: "Lines: '+ process …' / '- process …' for nodes, '+ edge a → b tcp:80' for edges; --updates also prints '~' lines for changed metrics."
    )

    @OptionGroup var options: ClientOptions
    @OptionGroup var selection: ViewSelection

    @Argument(help: "View name.")
    var view: String = "processes"

    @Option(help: "Coalesce changes: at most one notification per this many milliseconds.")
    var minInterval: Int = 100

    @Flag(help: "Also print nodes and edges whose metrics changed.")
    var updates = false

    @Flag(help: "Print the initial snapshot's nodes and edges as '+' lines too.")
    var initial = false

    func run() throws {
        let client = try options.connect()
        var params = selection.params(view: view).objectValue ?? [:]
        params["minInterval"] = .int(Int64(minInterval))
        let snapshot = try reportingErrors { try client.call("topology/subscribe", .object(params)) }
        var labels: [String: String] = [:]
        var edges: [String: JSONValue] = [:]
        func learn(_ node: JSONValue) {
            if let id = node["id"]?.stringValue { labels[id] = TopologyText.label(node) }
        }
        for node in snapshot["nodes"]?.arrayValue ?? [] { learn(node) }
        for edge in snapshot["edges"]?.arrayValue ?? [] { if let id = edge["id"]?.stringValue { edges[id] = edge } }
        if options.json {
            emit(JSONWriter.string(["snapshot": snapshot]))
        } else {
            let nodeCount = snapshot["nodes"]?.arrayValue?.count ?? 0
            emit("# watching \(view) from revision \(snapshot["revision"]?.intValue ?? 0): \(nodeCount) nodes, \(edges.count) edges")
            if initial {
                for node in snapshot["nodes"]?.arrayValue ?? [] { emit(Watch.line("+", node: node)) }
                for edge in edges.values { emit(Watch.line("+", edge: edge, labels: labels)) }
            }
        }
        while true {
            let notification: (method: String, params: JSONValue?)?
            do {
                notification = try client.nextNotification()
            } catch let error as ClientError {
                printError("periscope: \(error.message)")
                throw ExitCode(74)
            }
            guard let notification, notification.method == "topology/changed", let change = notification.params else { continue }
            if options.json {
                emit(JSONWriter.string(change))
                continue
            }
            if change["reset"]?.boolValue == true {
                emit("# reset at revision \(change["revision"]?.intValue ?? 0) (the daemon dropped history for this client)")
                labels.removeAll()
                edges.removeAll()
            }
            for node in change["added"]?["nodes"]?.arrayValue ?? [] {
                learn(node)
                emit(Watch.line("+", node: node))
            }
            for node in change["updated"]?["nodes"]?.arrayValue ?? [] {
                learn(node)
                if updates { emit(Watch.line("~", node: node)) }
            }
            for edge in (change["added"]?["edges"]?.arrayValue ?? []) {
                if let id = edge["id"]?.stringValue { edges[id] = edge }
                emit(Watch.line("+", edge: edge, labels: labels))
            }
            for edge in (change["updated"]?["edges"]?.arrayValue ?? []) {
                if let id = edge["id"]?.stringValue { edges[id] = edge }
                if updates || edge["closed"]?.boolValue == true { emit(Watch.line(edge["closed"]?.boolValue == true ? "x" : "~", edge: edge, labels: labels)) }
            }
            for id in change["removed"]?["edges"]?.arrayValue?.compactMap(\.stringValue) ?? [] {
                if let edge = edges.removeValue(forKey: id) { emit(Watch.line("-", edge: edge, labels: labels)) }
            }
            for id in change["removed"]?["nodes"]?.arrayValue?.compactMap(\.stringValue) ?? [] {
                emit("- node \(labels.removeValue(forKey: id) ?? id)")
            }
        }
    }

    /// Writes one line to stdout unbuffered, so `periscope watch | jq` sees each change at once.
    func emit(_ text: String) {
        let bytes = Array((text + "\n").utf8)
        bytes.withUnsafeBytes { _ = write(STDOUT_FILENO, $0.baseAddress, $0.count) }
    }

    static func line(_ sign: String, node: JSONValue) -> String {
        "\(sign) \(node["kind"]?.stringValue ?? "node") \(TopologyText.label(node))"
    }

    static func line(_ sign: String, edge: JSONValue, labels: [String: String]) -> String {
        let source = edge["source"]?.stringValue ?? "?"
        let target = edge["target"]?.stringValue ?? "?"
        let protocols = edge["protocols"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let ports = edge["ports"]?.arrayValue?.compactMap { $0.intValue.map(String.init) } ?? []
        let closed = edge["closed"]?.boolValue == true ? " (closed)" : ""
        return "\(sign) edge \(labels[source] ?? source) → \(labels[target] ?? target) \(protocols.joined(separator: ",")):\(ports.joined(separator: ","))\(closed)"
    }
}
