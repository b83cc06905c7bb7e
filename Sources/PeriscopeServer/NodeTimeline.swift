import PeriscopeHistory
import PeriscopeProtocol
import PeriscopeTopology
import PeriscopeViews

/// `node/history`: one view node over a time range, from the view rendered at evenly spaced instants (one pass
/// over the log) — when it was there, which peers it talked to, its metrics — plus, for processes, hosts and
/// containers, the exact intervals the log keeps. Pure apart from reading the log; render-queue thread.
enum NodeTimeline {
    /// Instants sampled across the range (the resolution of `existed`, `peers` and `samples`).
    static let sampleCount = 60

    private struct Span {
        var label: String
        var spans: [(from: Double, to: Double?)] = []
    }

    static func build(_ log: HistoryLog, _ request: ViewRequest, id: String, from: Double, to: Double) throws(RPCError) -> JSONValue {
        let n = to - from < 1 ? 1 : sampleCount
        let step = n > 1 ? (to - from) / Double(n - 1) : 0
        let times = (0..<n).map { from + Double($0) * step }
        let states = try HistoryService.mapped { () throws(HistoryError) in try log.states(at: times) }
        var existed: [(from: Double, to: Double?)] = []
        var peers: [String: Span] = [:]
        var samples: [JSONValue] = []
        var label: String?
        for (i, state) in states.enumerated() {
            let t = times[i]
            let (report, names) = state.report()
            let view = request.render(report, names)
            guard let node = view.nodes[id] else {
                samples.append(["at": .string(HistoryTime.format(t)), "present": false])
                continue
            }
            label = node.label
            extend(&existed, t, previous: i > 0 ? times[i - 1] : nil)
            samples.append(["at": .string(HistoryTime.format(t)), "present": true, "metrics": node.metrics.json])
            for edge in view.edges.values where edge.source == id || edge.target == id {
                let outbound = edge.source == id
                let peer = outbound ? edge.target : edge.source
                let key = (outbound ? "out " : "in ") + peer
                var span = peers[key] ?? Span(label: view.nodes[peer]?.label ?? peer)
                extend(&span.spans, t, previous: i > 0 ? times[i - 1] : nil)
                peers[key] = span
            }
        }
        var exact = false
        for topology in [TopologyKind.process, .host, .container] {
            let spans = (try? log.intervals(HistoryKey(topology, id), from: from, to: to)) ?? []
            if !spans.isEmpty {
                existed = spans.map { ($0.first, $0.last) }
                exact = true
                break
            }
        }
        guard label != nil || exact else {
            throw RPCError.notFound("no node '\(id)' in view '\(request.view)' between \(HistoryTime.format(from)) and \(HistoryTime.format(to))")
        }
        let last = times.last ?? to
        func json(_ spans: [(from: Double, to: Double?)]) -> JSONValue {
            .array(spans.map { span in
                var o: [String: JSONValue] = ["from": .string(HistoryTime.format(span.from))]
                if let end = span.to, end < last || exact { o["to"] = .string(HistoryTime.format(end)) }
                return .object(o)
            })
        }
        let peerList: [JSONValue] = peers.keys.sorted().compactMap { key in
            guard let span = peers[key], let space = key.firstIndex(of: " ") else { return nil }
            return ["id": .string(String(key[key.index(after: space)...])), "label": .string(span.label),
                    "direction": .string(String(key[..<space])), "intervals": json(span.spans)]
        }
        var o: [String: JSONValue] = [
            "view": .string(request.view), "id": .string(id),
            "from": .string(HistoryTime.format(from)), "to": .string(HistoryTime.format(to)),
            "existed": json(existed), "exact": .bool(exact), "peers": .array(peerList), "samples": .array(samples),
        ]
        if let label { o["label"] = .string(label) }
        return .object(o)
    }

    /// Marks `t` as covered: extends the last span when the previous sample was covered, else opens a new one.
    private static func extend(_ spans: inout [(from: Double, to: Double?)], _ t: Double, previous: Double?) {
        if let lastSpan = spans.last, let end = lastSpan.to, let previous, end == previous {
            spans[spans.count - 1].to = t
        } else {
            spans.append((t, t))
        }
    }
}
