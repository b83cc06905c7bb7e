import PeriscopeProtocol

/// What flows on edges and nodes (issue 14), for the terminal: an edge's `l7` as one cell, a node's `l7` rows as a
/// table.
extension TopologyText {
    /// `http 120/s 2 err/s p50 4.1 ms p99 9 ms` (`tls example.com` for TLS), or "" when the edge has no `l7`.
    static func l7Cell(_ l7: JSONValue?) -> String {
        guard let l7, let name = l7["protocol"]?.stringValue else { return "" }
        var parts = [name]
        if let sni = l7["sni"]?.stringValue { parts.append(TerminalText.escape(sni)) }
        if name != "tls" {
            parts.append(format(l7["requestsPerSecond"]?.doubleValue ?? 0, decimals: 1) + "/s")
            if let errors = l7["errorsPerSecond"]?.doubleValue, errors > 0 { parts.append(format(errors, decimals: 1) + " err/s") }
            if let p50 = l7["latencyP50Ms"]?.doubleValue { parts.append("p50 " + format(p50, decimals: 2) + " ms") }
            if let p99 = l7["latencyP99Ms"]?.doubleValue { parts.append("p99 " + format(p99, decimals: 2) + " ms") }
        }
        return parts.joined(separator: " ")
    }

    /// The node's per-protocol table, or "" when it has none.
    static func l7Table(_ details: JSONValue) -> String {
        let rows = details["l7"]?.arrayValue ?? []
        guard !rows.isEmpty else { return "" }
        var table = TextTable(["PROTOCOL", "SIDE", "REQ/S", "ERR/S", "P50", "P99", "REQUESTS", "ERRORS", "SNI"])
        for row in rows {
            table.add([
                row["protocol"]?.stringValue ?? "", row["side"]?.stringValue ?? "",
                format(row["requestsPerSecond"]?.doubleValue ?? 0, decimals: 1),
                format(row["errorsPerSecond"]?.doubleValue ?? 0, decimals: 1),
                row["latencyP50Ms"]?.doubleValue.map { format($0, decimals: 2) + " ms" } ?? "",
                row["latencyP99Ms"]?.doubleValue.map { format($0, decimals: 2) + " ms" } ?? "",
                row["requests"].map(number) ?? "", row["errors"].map(number) ?? "",
                TerminalText.escape(row["sni"]?.stringValue ?? ""),
            ])
        }
        return "\nwhat flows (L7):\n" + table.render() + "\n"
    }
}
