import Glibc
import PeriscopeProtocol

/// Text for `periscope diff` and `periscope history`. Pure functions over the daemon's JSON (already sanitized).
enum HistoryText {
    /// `+`/`-`/`~` lines: `+ edge myservice (42) → postgres (77):5432 (new since 14:02)`.
    static func diffLines(_ diff: JSONValue, updates: Bool) -> [String] {
        var labels: [String: String] = [:]
        for group in ["added", "removed", "updated"] {
            for node in diff[group]?["nodes"]?.arrayValue ?? [] {
                if let id = node["id"]?.stringValue { labels[id] = TopologyText.label(node) }
            }
        }
        let since = clock(diff["from"]?.stringValue)
        func name(_ id: JSONValue?) -> String {
            let id = id?.stringValue ?? "?"
            return labels[id] ?? id
        }
        func edge(_ sign: String, _ e: JSONValue, _ note: String) -> String {
            let ports = e["ports"]?.arrayValue?.compactMap { $0.intValue.map(String.init) } ?? []
            let target = name(e["target"]) + (ports.isEmpty ? "" : ":" + ports.joined(separator: ","))
            return "\(sign) edge \(name(e["source"])) → \(target) (\(note))"
        }
        var lines: [String] = []
        for node in diff["added"]?["nodes"]?.arrayValue ?? [] {
            lines.append("+ \(node["kind"]?.stringValue ?? "node") \(TopologyText.label(node)) (new since \(since))")
        }
        for e in diff["added"]?["edges"]?.arrayValue ?? [] { lines.append(edge("+", e, "new since \(since)")) }
        for e in diff["removed"]?["edges"]?.arrayValue ?? [] { lines.append(edge("-", e, "gone since \(since)")) }
        for node in diff["removed"]?["nodes"]?.arrayValue ?? [] {
            lines.append("- \(node["kind"]?.stringValue ?? "node") \(TopologyText.label(node)) (gone since \(since))")
        }
        if updates {
            for node in diff["updated"]?["nodes"]?.arrayValue ?? [] {
                lines.append("~ \(node["kind"]?.stringValue ?? "node") \(TopologyText.label(node)) (changed)")
            }
            for e in diff["updated"]?["edges"]?.arrayValue ?? [] { lines.append(edge("~", e, "changed")) }
        }
        return lines
    }

    static func render(history h: JSONValue) -> String {
        var out = ["\(h["label"]?.stringValue ?? h["id"]?.stringValue ?? "?") in \(h["view"]?.stringValue ?? "?"), "
            + "\(clock(h["from"]?.stringValue, seconds: true)) → \(clock(h["to"]?.stringValue, seconds: true))"]
        let exact = h["exact"]?.boolValue == true
        out.append("existed\(exact ? "" : " (sampled)"):")
        for span in h["existed"]?.arrayValue ?? [] { out.append("  " + interval(span)) }
        let peers = h["peers"]?.arrayValue ?? []
        out.append(peers.isEmpty ? "peers: none" : "peers:")
        for peer in peers {
            let arrow = peer["direction"]?.stringValue == "out" ? "→" : "←"
            let spans = (peer["intervals"]?.arrayValue ?? []).map(interval).joined(separator: ", ")
            out.append("  \(arrow) \(peer["label"]?.stringValue ?? "?") [\(peer["id"]?.stringValue ?? "?")]  \(spans)")
        }
        var table = TextTable(["AT", "CPU%", "MEMORY", "IN", "OUT"])
        for sample in h["samples"]?.arrayValue ?? [] where sample["present"]?.boolValue == true {
            let m = sample["metrics"]
            table.add([clock(sample["at"]?.stringValue, seconds: true),
                       m?["cpu"]?.doubleValue.map { TopologyText.format($0, decimals: 1) } ?? "",
                       m?["memory"]?.doubleValue.map(TopologyText.bytes) ?? "",
                       m?["connectionsIn"].map(TopologyText.number) ?? "", m?["connectionsOut"].map(TopologyText.number) ?? ""])
        }
        out.append(table.render())
        return out.joined(separator: "\n")
    }

    private static func interval(_ span: JSONValue) -> String {
        "\(clock(span["from"]?.stringValue, seconds: true)) → \(span["to"].map { clock($0.stringValue, seconds: true) } ?? "now")"
    }

    /// An RFC 3339 instant from the daemon as local `HH:MM` (or `HH:MM:SS`), with the date when not today.
    static func clock(_ text: String?, seconds: Bool = false) -> String {
        guard let text, let t = parse(text) else { return text ?? "?" }
        var time = time_t(t)
        var now = time_t(Glibc.time(nil))
        var local = tm(), today = tm()
        localtime_r(&time, &local)
        localtime_r(&now, &today)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        var out = "\(two(local.tm_hour)):\(two(local.tm_min))" + (seconds ? ":\(two(local.tm_sec))" : "")
        if local.tm_yday != today.tm_yday || local.tm_year != today.tm_year {
            out = "\(local.tm_year + 1900)-\(two(local.tm_mon + 1))-\(two(local.tm_mday)) " + out
        }
        return out
    }

    /// `YYYY-MM-DDTHH:MM:SS(.fff)Z` as the daemon writes it.
    private static func parse(_ text: String) -> Double? {
        let c = Array(text.utf8)
        guard c.count >= 20, c.last == 90 else { return nil }
        func n(_ a: Int, _ b: Int) -> Int32? { Int32(String(decoding: c[a..<b], as: UTF8.self)) }
        guard let y = n(0, 4), let mo = n(5, 7), let d = n(8, 10), let h = n(11, 13), let mi = n(14, 16), let s = n(17, 19) else { return nil }
        var t = tm()
        t.tm_year = y - 1900; t.tm_mon = mo - 1; t.tm_mday = d; t.tm_hour = h; t.tm_min = mi; t.tm_sec = s
        return Double(timegm(&t))
    }
}
