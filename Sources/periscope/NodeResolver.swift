import ArgumentParser
import PeriscopeClient
import PeriscopeProtocol

/// Finds the node a person means: `ux-db1`, `932`, `36ff4` or a full id, in one view.
///
/// Fetches the view with everything in it (every process, stopped and system containers) and matches, in order:
/// the exact id; a name, label, pid or container id equal to the text; an id or container id starting with it (or
/// a label starting with it). One match answers; several print the candidates and exit 1; none print the
/// nearest names and exit 1. Runs on the caller's thread, one `topology/get`.
struct NodeResolver {
    let client: RPCClient
    let view: String

    /// The node id `text` names in `view`; none: the nearest names on stderr, exit 1.
    func resolve(_ text: String) throws -> String {
        let nodes = try fetch()
        if let found = try find(text, in: nodes) { return found }
        let lowered = text.lowercased()
        let near = nodes.filter { (TopologyText.label($0) + " " + ($0["id"]?.stringValue ?? "")).lowercased().contains(lowered) }
        var message = "no node '\(text)' in view \(view)"
        message += near.isEmpty ? " (`periscope get \(view) --all` lists them)" : "; did you mean: " + describe(near)
        printError("periscope: \(message)")
        throw ExitCode(1)
    }

    /// The node id `text` names in `view`, or `nil` when none matches (several: exit 1, as ``resolve(_:)``).
    func find(_ text: String) throws -> String? { try find(text, in: fetch()) }

    private func find(_ text: String, in nodes: [JSONValue]) throws -> String? {
        if nodes.contains(where: { $0["id"]?.stringValue == text }) { return text }
        let exact = nodes.filter { keys(of: $0).contains(text) }
        if let only = try choose(exact, text) { return only }
        let prefixed = nodes.filter { node in
            let id = node["id"]?.stringValue ?? ""
            let cid = node["metadata"]?["containerID"]?.stringValue ?? ""
            return id.hasPrefix(text) || (!cid.isEmpty && cid.hasPrefix(text)) || id.hasPrefix("container:" + text)
                || (node["label"]?.stringValue ?? "").hasPrefix(text)
        }
        return try choose(prefixed, text)
    }

    /// The one node of `matches`, `nil` when there is none; several: the candidates on stderr, exit 1.
    private func choose(_ matches: [JSONValue], _ text: String) throws -> String? {
        if matches.count == 1 { return matches[0]["id"]?.stringValue }
        if matches.isEmpty { return nil }
        printError("periscope: '\(text)' matches \(matches.count) nodes of view \(view): \(describe(matches)); "
            + "give more of the id, or the pid")
        throw ExitCode(1)
    }

    private func describe(_ nodes: [JSONValue]) -> String {
        let shown = nodes.prefix(8).map { node in
            "\(TopologyText.label(node)) [\(TopologyText.shortID(node["id"]?.stringValue ?? ""))]"
        }
        return shown.joined(separator: ", ") + (nodes.count > 8 ? ", … (\(nodes.count - 8) more)" : "")
    }

    /// What a person may call a node: its label, name, pid, container id.
    private func keys(of node: JSONValue) -> Set<String> {
        var keys: Set<String> = []
        if let label = node["label"]?.stringValue { keys.insert(label) }
        let meta = node["metadata"]
        if let name = meta?["name"]?.stringValue { keys.insert(name) }
        if let pid = meta?["pid"]?.intValue, node["kind"]?.stringValue == "process" { keys.insert(String(pid)) }
        if let cid = meta?["containerID"]?.stringValue, node["kind"]?.stringValue == "container" { keys.insert(cid) }
        return keys
    }

    private func fetch() throws -> [JSONValue] {
        let descriptor = try reportingErrors { try client.call(TopologyViewsRequest.self) }
        let view = self.view
        let known = descriptor["views"]?.arrayValue?.first { $0["name"]?.stringValue == view }
        let options = Set(known?["options"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
        let query = ViewQuery(view: view, options: ViewOptions(all: options.contains("all") ? true : nil,
                                                                hideUnconnected: options.contains("hideUnconnected") ? false : nil,
                                                                system: options.contains("system") ? true : nil))
        let result = try reportingErrors { try client.call(TopologyGetRequest.self, .init(query)) }
        return (result["nodes"]?.arrayValue ?? []).map(TerminalText.sanitized)
    }
}
