import PeriscopeProtocol
import PeriscopeTopology

/// The Prometheus text exposition (format 0.0.4) of a report's processes view, for `periscoped --metrics`: per
/// edge, the L7 request and error counters, a latency histogram, bytes per second and open connections; per
/// process, the L7 counters by protocol and side. Pure: any thread.
///
/// Counters are the figures' totals since the connections (edges) or processes were first seen, so an edge's
/// counters restart when its connections are replaced (Prometheus treats a drop as a counter reset).
public enum MetricsExposition {
    /// Upper bounds of the histogram buckets, seconds. Each of the programs' buckets (≤ 12.5 % wide) is counted
    /// under the first bound at or above its upper end; `_sum` adds bucket midpoints (within 6.25 %).
    static let bounds: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// The exposition text of `report` (its `processes` view, with reverse-DNS `names` for labels).
    public static func render(report: Report, names: [String: String] = [:]) -> String {
        guard let spec = try? ViewSpec(view: ViewCatalog.processes, options: ViewOptions()) else { return "" }
        var assembler = ViewAssembler(report: report, view: spec.view, options: spec.effective, names: names)
        assembler.accumulate()
        let nodes = assembler.candidateNodes()
        let edges = assembler.edgeSummaries().values.sorted { $0.id < $1.id }
        var out = Output()
        func edgeLabels(_ e: EdgeSummary) -> [(String, String)] {
            [("source", e.source), ("source_label", nodes[e.source]?.label ?? e.source),
             ("target", e.target), ("target_label", nodes[e.target]?.label ?? e.target)]
        }
        out.header("periscope_edge_connections", "gauge", "Open connections merged into the edge.")
        for e in edges { out.sample("periscope_edge_connections", edgeLabels(e), Double(e.connections)) }
        out.header("periscope_edge_bytes_per_second", "gauge", "TCP bytes per second on the edge, both directions.")
        for e in edges { if let b = e.bytesPerSecond { out.sample("periscope_edge_bytes_per_second", edgeLabels(e), b) } }
        let l7 = edges.compactMap { e in assembler.tally.l7[e.id].map { (e, $0) } }
            .filter { $0.1.protocolName != "unknown" }
        out.header("periscope_edge_l7_requests_total", "counter", "Requests on the edge's connections (L7 programs).")
        for (e, f) in l7 {
            out.sample("periscope_edge_l7_requests_total", edgeLabels(e) + [("protocol", f.protocolName)], Double(f.totalRequests))
        }
        out.header("periscope_edge_l7_errors_total", "counter", "Error responses on the edge's connections.")
        for (e, f) in l7 {
            out.sample("periscope_edge_l7_errors_total", edgeLabels(e) + [("protocol", f.protocolName)], Double(f.totalErrors))
        }
        out.header("periscope_edge_l7_request_duration_seconds", "histogram", "Request latency on the edge.")
        for (e, f) in l7 {
            out.histogram("periscope_edge_l7_request_duration_seconds", edgeLabels(e) + [("protocol", f.protocolName)],
                          f.totalHistogram)
        }
        var rows: [(NodeSummary, L7Row)] = []
        for node in nodes.values.sorted(by: { $0.id < $1.id }) where node.kind == .process {
            guard let p = report.processes.nodes[node.id] else { continue }
            for row in NodeL7.rows(of: [p]) { rows.append((node, row)) }
        }
        func rowLabels(_ n: NodeSummary, _ r: L7Row) -> [(String, String)] {
            [("node", n.id), ("label", n.label), ("protocol", r.protocolName), ("side", r.side)]
        }
        out.header("periscope_node_l7_requests_total", "counter", "Requests a process answered (side=server) or sent.")
        for (n, r) in rows { out.sample("periscope_node_l7_requests_total", rowLabels(n, r), Double(r.figures.requests)) }
        out.header("periscope_node_l7_errors_total", "counter", "Error responses a process sent (server) or received.")
        for (n, r) in rows { out.sample("periscope_node_l7_errors_total", rowLabels(n, r), Double(r.figures.errors)) }
        out.header("periscope_node_l7_requests_per_second", "gauge", "Requests per second over the last refresh window.")
        for (n, r) in rows {
            out.sample("periscope_node_l7_requests_per_second", rowLabels(n, r), r.figures.requestsPerSecond)
        }
        return out.text
    }

    struct Output {
        var text = ""

        mutating func header(_ name: String, _ type: String, _ help: String) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }

        mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
            text += name + Self.labels(labels) + " " + Self.number(value) + "\n"
        }

        mutating func histogram(_ name: String, _ labels: [(String, String)], _ buckets: [Int: Int]) {
            var counts = [Int](repeating: 0, count: MetricsExposition.bounds.count + 1)
            var sum = 0.0, total = 0
            for (b, n) in buckets {
                let r = L7Histogram.range(b)
                let upper = r.upper / 1e6
                let slot = MetricsExposition.bounds.firstIndex { upper <= $0 } ?? MetricsExposition.bounds.count
                counts[slot] += n
                sum += (r.lower + r.upper) / 2e6 * Double(n)
                total += n
            }
            var cumulative = 0
            for (i, bound) in MetricsExposition.bounds.enumerated() {
                cumulative += counts[i]
                sample(name + "_bucket", labels + [("le", Self.number(bound))], Double(cumulative))
            }
            sample(name + "_bucket", labels + [("le", "+Inf")], Double(total))
            sample(name + "_sum", labels, sum)
            sample(name + "_count", labels, Double(total))
        }

        static func labels(_ pairs: [(String, String)]) -> String {
            "{" + pairs.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",") + "}"
        }

        static func escape(_ s: String) -> String {
            var out = ""
            for c in s.unicodeScalars {
                switch c {
                case "\\": out += "\\\\"
                case "\"": out += "\\\""
                case "\n": out += "\\n"
                default: out.unicodeScalars.append(c)
                }
            }
            return out
        }

        static func number(_ v: Double) -> String {
            if v.isNaN { return "NaN" }
            if v.rounded() == v && abs(v) < 1e15 { return String(Int64(v)) }
            return String(v)
        }
    }
}
