import PeriscopeProtocol

/// Human-readable rendering of views and node details for the terminal.
enum TopologyText {
    static func render(view: JSONValue) -> String {
        let nodes = view["nodes"]?.arrayValue ?? []
        let edges = view["edges"]?.arrayValue ?? []
        var labels: [String: String] = [:]
        for node in nodes {
            if let id = node["id"]?.stringValue { labels[id] = label(node) }
        }
        var out = "\(view["view"]?.stringValue ?? "?") — revision \(view["revision"]?.intValue ?? 0), "
            + "\(nodes.count) nodes, \(edges.count) edges\n\n"
        var table = TextTable(["NODE", "KIND", "CPU%", "MEMORY", "IN", "OUT", "ID", "DETAIL"])
        for node in nodes {
            let metrics = node["metrics"]
            table.add([
                label(node), node["kind"]?.stringValue ?? "",
                metrics?["cpu"]?.doubleValue.map { format($0, decimals: 1) } ?? "",
                metrics?["memory"]?.doubleValue.map(bytes) ?? "",
                metrics?["connectionsIn"].map(number) ?? "", metrics?["connectionsOut"].map(number) ?? "",
                node["id"]?.stringValue ?? "", truncate(node["labelMinor"]?.stringValue ?? "", 60),
            ])
        }
        out += table.isEmpty ? "(no nodes — try --all, or a wider filter)\n" : table.render() + "\n"
        guard !edges.isEmpty else { return out }
        out += "\n"
        var edgeTable = TextTable(["FROM", "", "TO", "PROTO", "PORTS", "CONNS", "BYTES/S", "RTT", "L7"])
        for edge in edges {
            let source = edge["source"]?.stringValue ?? "?"
            let target = edge["target"]?.stringValue ?? "?"
            let protocols = edge["protocols"]?.arrayValue?.compactMap(\.stringValue).joined(separator: ",") ?? ""
            let ports = edge["ports"]?.arrayValue?.compactMap { $0.intValue.map(String.init) }.joined(separator: ",") ?? ""
            let closed = edge["closed"]?.boolValue == true ? " (closed)" : ""
            let l7: String = l7Cell(edge["l7"])
            edgeTable.add([
                labels[source] ?? source, "→", labels[target] ?? target, protocols, ports,
                (edge["connections"].map(number) ?? "") + closed,
                edge["bytesPerSecond"]?.doubleValue.map(bytes) ?? "",
                edge["rttMillis"]?.doubleValue.map { format($0, decimals: 2) + " ms" } ?? "",
                l7,
            ])
        }
        return out + edgeTable.render()
    }

    static func render(details: JSONValue) -> String {
        let node = details["node"] ?? .null
        var out = "\(label(node))  [\(node["kind"]?.stringValue ?? "?")]  \(node["id"]?.stringValue ?? "")\n"
        if let metadata = details["metadata"]?.objectValue {
            for key in metadata.keys.sorted() {
                guard let value = metadata[key] else { continue }
                let text = value.stringValue ?? JSONWriter.string(value)
                out += "  \(key): \(truncate(text, 100))\n"
            }
        }
        for (title, key) in [("inbound", "inbound"), ("outbound", "outbound")] {
            let rows = details[key]?.arrayValue ?? []
            guard !rows.isEmpty else { continue }
            out += "\n\(title) connections (\(rows.count)):\n"
            var table = TextTable(["LOCAL", "REMOTE", "PEER", "PROTO", "STATE", "SENT", "RECEIVED", "RTT"])
            for row in rows {
                table.add([
                    "\(row["localAddress"]?.stringValue ?? ""):\(row["localPort"]?.intValue ?? 0)",
                    "\(row["remoteAddress"]?.stringValue ?? ""):\(row["remotePort"]?.intValue ?? 0)",
                    row["peerLabel"]?.stringValue ?? row["peer"]?.stringValue ?? "",
                    row["protocol"]?.stringValue ?? "", row["state"]?.stringValue ?? "",
                    row["bytesSent"]?.doubleValue.map(bytes) ?? "", row["bytesReceived"]?.doubleValue.map(bytes) ?? "",
                    row["rttMillis"]?.doubleValue.map { format($0, decimals: 2) + " ms" } ?? "",
                ])
            }
            out += table.render() + "\n"
        }
        out += l7Table(details)
        let children = details["children"]?.arrayValue ?? []
        if !children.isEmpty {
            out += "\nmembers (\(children.count)): " + children.map(label).joined(separator: ", ") + "\n"
        }
        return out
    }

    static func label(_ node: JSONValue) -> String {
        let label = node["label"]?.stringValue ?? node["id"]?.stringValue ?? "?"
        if let pid = node["metadata"]?["pid"], node["kind"]?.stringValue == "process" {
            return "\(label) (\(pid.stringValue ?? pid.intValue.map(String.init) ?? ""))"
        }
        return label
    }

    static func number(_ value: JSONValue) -> String {
        value.intValue.map(String.init) ?? value.doubleValue.map { format($0, decimals: 1) } ?? ""
    }

    static func bytes(_ value: Double) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var amount = value
        var unit = 0
        while amount >= 1024, unit < units.count - 1 {
            amount /= 1024
            unit += 1
        }
        return (unit == 0 ? String(Int(amount)) : format(amount, decimals: 1)) + " " + units[unit]
    }

    static func format(_ value: Double, decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        var text = String(rounded)
        if text.hasSuffix(".0"), decimals == 0 { text.removeLast(2) }
        return text
    }

    static func truncate(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }
}
