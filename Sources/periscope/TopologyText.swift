import PeriscopeProtocol

/// Human-readable rendering of views and node details for the terminal.
enum TopologyText {
    /// `emptyReason`: what to say instead of "no nodes — try --all" when the view is empty (no container engine).
    static func render(view: JSONValue, emptyReason: String? = nil) -> String {
        let nodes = view["nodes"]?.arrayValue ?? []
        let edges = view["edges"]?.arrayValue ?? []
        var labels: [String: String] = [:]
        for node in nodes {
            if let id = node["id"]?.stringValue { labels[id] = label(node) }
        }
        // A past view (`--at`) has an instant instead of a revision.
        let when = view["at"]?.stringValue.map { "at \(HistoryText.clock($0, seconds: true))" }
            ?? "revision \(view["revision"]?.intValue ?? 0)"
        var out = "\(view["view"]?.stringValue ?? "?") — \(when), "
            + "\(nodes.count) nodes, \(edges.count) edges\n\n"
        var table = TextTable(["NODE", "KIND", "CPU%", "MEMORY", "IN", "OUT", "ID", "DETAIL"])
        for node in nodes {
            let metrics = node["metrics"]
            table.add([
                label(node), node["kind"]?.stringValue ?? "",
                metrics?["cpu"]?.doubleValue.map { format($0, decimals: 1) } ?? "",
                metrics?["memory"]?.doubleValue.map(bytes) ?? "",
                metrics?["connectionsIn"].map(number) ?? "", metrics?["connectionsOut"].map(number) ?? "",
                shortID(node["id"]?.stringValue ?? ""), truncate(node["labelMinor"]?.stringValue ?? "", 60),
            ])
        }
        out += table.isEmpty ? "(\(emptyReason ?? "no nodes — try --all, or a wider filter"))\n" : table.render() + "\n"
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
        out += metrics(details)
        if let metadata = details["metadata"]?.objectValue {
            for key in metadata.keys.sorted() {
                guard let value = metadata[key] else { continue }
                let text = Humanize.metadata(key, value) ?? value.stringValue ?? JSONWriter.string(value)
                out += "  \(key): \(truncate(text, 100))\n"
            }
        }
        for parent in details["parents"]?.arrayValue ?? [] {
            out += "  in \(parent["topology"]?.stringValue ?? "?"): \(parent["label"]?.stringValue ?? "")"
                + " [\(shortID(parent["id"]?.stringValue ?? ""))]\n"
        }
        for (title, key) in [("inbound", "inbound"), ("outbound", "outbound")] {
            let rows = details[key]?.arrayValue ?? []
            guard !rows.isEmpty else { continue }
            out += "\n\(title) connections (\(rows.count)):\n"
            var table = TextTable(["LOCAL", "REMOTE", "PEER", "PROTO", "STATE", "SENT", "RECEIVED", "RTT"])
            for row in rows {
                var state = row["state"]?.stringValue ?? ""
                if row["closed"]?.boolValue == true {
                    state = "closed" + (row["lastSeen"]?.doubleValue.map { " " + Humanize.age($0) } ?? "")
                }
                table.add([
                    "\(row["localAddress"]?.stringValue ?? ""):\(row["localPort"]?.intValue ?? 0)",
                    "\(row["remoteAddress"]?.stringValue ?? ""):\(row["remotePort"]?.intValue ?? 0)",
                    row["peerLabel"]?.stringValue ?? row["peer"]?.stringValue ?? "",
                    row["protocol"]?.stringValue ?? "", state,
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

    /// `cpu  1.2%  ▁▁▃█▂` and `memory  19.3 MiB  ▁▁▁▂▂` from the details' metric histories (current node
    /// metrics when there is no history).
    static func metrics(_ details: JSONValue) -> String {
        var out = ""
        let current = details["node"]?["metrics"]
        for (key, unit) in [("cpu", "%"), ("memory", "")] {
            let values = Humanize.samples(details["metrics"]?[key])
            guard let now = values.last ?? current?[key]?.doubleValue else { continue }
            let text = unit == "%" ? format(now, decimals: 1) + "%" : bytes(now)
            out += "  " + pad(key, 7) + pad(text, 11) + Humanize.sparkline(values) + "\n"
        }
        return out
    }

    /// `cat (ux-db1)` for a process in a container, `cat (976)` for a host process, else the label.
    static func label(_ node: JSONValue) -> String {
        let label = node["label"]?.stringValue ?? node["id"]?.stringValue ?? "?"
        if node["kind"]?.stringValue == "process", let container = node["metadata"]?["container"]?.stringValue {
            return "\(label) (\(container))"
        }
        if let pid = node["metadata"]?["pid"], node["kind"]?.stringValue == "process" {
            return "\(label) (\(pid.stringValue ?? pid.intValue.map(String.init) ?? ""))"
        }
        return label
    }

    static func number(_ value: JSONValue) -> String {
        value.intValue.map(String.init) ?? value.doubleValue.map { format($0, decimals: 1) } ?? ""
    }

    static func bytes(_ value: Double) -> String { Humanize.bytes(value) }

    /// A node id short enough for a table: `container:` and the first 12 digits of the container id (the CLI
    /// takes any unique prefix back).
    static func shortID(_ id: String) -> String {
        guard id.hasPrefix("container:"), id.count > 22 else { return id }
        return String(id.prefix(22))
    }

    static func format(_ value: Double, decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        var text = String(rounded)
        if text.hasSuffix(".0"), decimals == 0 { text.removeLast(2) }
        return text
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    static func truncate(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }
}
