import PeriscopeCollectors
import PeriscopeHistory
import PeriscopeProtocol
import PeriscopeTopology
import PeriscopeViews

/// History and time travel: every report the host map installs is handed to the ``HistoryLog`` (recorded on its
/// own writer thread), and `topology/get {at}`, `topology/diff` and `node/history` render the stored past
/// through the ordinary views, options and filters on the render queue.
///
/// - Important: loop thread only (the log and the renders are thread-safe).
final class HistoryService {
    let log: HistoryLog
    private unowned let topology: TopologyService

    init(topology: TopologyService, log: HistoryLog) {
        self.log = log
        self.topology = topology
        topology.history = self
        topology.onReport.append { [unowned topology, log] report, _ in log.record(report, names: topology.names) }
        topology.core.health["history"] = { [log] in Self.health(log) }
        let router = topology.core.router
        router.register(TopologyDiffRequest.self) { [unowned self] context, params throws(RPCError) in
            try self.diff(context, params)
            return .deferred
        }
        router.register(NodeHistoryRequest.self) { [unowned self] context, params throws(RPCError) in
            try self.nodeHistory(context, params)
            return .deferred
        }
    }

    func stop() { log.stop() }

    /// An instant of a request: RFC 3339 or relative, not in the future.
    private func instant(_ text: String, _ name: String) throws(RPCError) -> Double {
        let now = log.now
        guard let t = HistoryTime.parse(text, now: now) else {
            throw RPCError.invalidParams("params.\(name): cannot read '\(text)' as a time; use RFC 3339 (2026-01-31T14:02:00Z) or a relative time (-10m, 1h, 2d)")
        }
        guard t <= now + 1 else { throw RPCError.invalidParams("params.\(name): \(HistoryTime.format(t)) is in the future") }
        return min(t, now)
    }

    /// `topology/get {at}`: the view as it was at `at`.
    func get(_ context: MethodContext, _ request: ViewRequest, at text: String) throws(RPCError) {
        let at = try instant(text, "at")
        let log = self.log
        topology.answer(context, cacheKey: nil) { _, _, _ throws(RPCError) in
            let past = try Self.render(log, request, at: at)
            var o = past.json.objectValue ?? [:]
            o["at"] = .string(HistoryTime.format(at))
            return .object(o)
        }
    }

    private func diff(_ context: MethodContext, _ params: TopologyDiffRequest.Params) throws(RPCError) {
        let request = try ViewRequest(params.query)
        let from = try instant(params.from, "from")
        let to = try params.to.map { (t) throws(RPCError) in try instant(t, "to") } ?? log.now
        guard from <= to else { throw RPCError.invalidParams("params.from is after params.to") }
        let log = self.log
        topology.answer(context, cacheKey: nil) { _, _, _ throws(RPCError) in
            let before = try Self.render(log, request, at: from)
            let after = try Self.render(log, request, at: to)
            return Self.diffJSON(before, after, from: from, to: to)
        }
    }

    /// `{view, from, to, added, removed, updated}`; removed nodes and edges as they were at `from`.
    static func diffJSON(_ before: RenderedView, _ after: RenderedView, from: Double, to: Double) -> JSONValue {
        let diff = ViewDiff(from: before, to: after)
        let removedNodes = diff.removedNodes.compactMap { before.nodes[$0]?.json }
        let removedEdges = diff.removedEdges.compactMap { before.edges[$0]?.json }
        return [
            "view": .string(after.view),
            "from": .string(HistoryTime.format(from)),
            "to": .string(HistoryTime.format(to)),
            "added": ["nodes": .array(diff.addedNodes.map(\.json)), "edges": .array(diff.addedEdges.map(\.json))],
            "removed": ["nodes": .array(removedNodes), "edges": .array(removedEdges)],
            "updated": ["nodes": .array(diff.updatedNodes.map(\.json)), "edges": .array(diff.updatedEdges.map(\.json))],
        ]
    }

    private func nodeHistory(_ context: MethodContext, _ params: NodeHistoryRequest.Params) throws(RPCError) {
        let request = try ViewRequest(ViewQuery(view: params.node.view))
        let to = try params.to.map { (t) throws(RPCError) in try instant(t, "to") } ?? log.now
        let from = try params.from.map { (t) throws(RPCError) in try instant(t, "from") }
        if let from, from > to { throw RPCError.invalidParams("params.from is after params.to") }
        let log = self.log
        let id = params.node.id
        topology.answer(context, cacheKey: nil) { _, _, _ throws(RPCError) in
            var start = from ?? 0
            if from == nil { start = try Self.mapped { () throws(HistoryError) in try log.window().oldest } }
            return try NodeTimeline.build(log, request, id: id, from: start, to: to)
        }
    }

    /// The view of `request` rendered from the state recorded at `at`.
    static func render(_ log: HistoryLog, _ request: ViewRequest, at: Double) throws(RPCError) -> RenderedView {
        let state = try mapped { () throws(HistoryError) in try log.state(at: at) }
        let (report, names) = state.report()
        return request.render(report, names)
    }

    /// Runs `body`, turning a ``HistoryError`` into the client's error: −32004 when the instant cannot be
    /// answered (history off, nothing recorded, before the oldest data kept), −32603 when reading failed.
    static func mapped<T>(_ body: () throws(HistoryError) -> T) throws(RPCError) -> T {
        do throws(HistoryError) {
            return try body()
        } catch {
            switch error {
            case .beforeWindow(_, let oldest):
                throw RPCError(code: ErrorCode.notFound, message: error.message, data: ["oldest": .string(HistoryTime.format(oldest))])
            case .off, .empty: throw RPCError.notFound(error.message)
            case .failed: throw RPCError.internalError(error.message)
            }
        }
    }

    /// `daemon/status` `collectors.history`.
    static func health(_ log: HistoryLog) -> JSONValue {
        let s = log.status
        var figures: [String: JSONValue] = ["enabled": .bool(s.enabled)]
        if let path = s.path { figures["path"] = .string(path) }
        if let reason = s.reason { figures["reason"] = .string(reason) }
        guard s.enabled else {
            let configured = log.configuration == nil
            return SourceHealth(state: configured ? "disabled" : "unavailable", summary: "history off: \(s.reason ?? "?")",
                                lastError: configured ? nil : s.reason, figures: figures).json
        }
        figures["eventsWritten"] = JSONValue(s.eventsWritten)
        figures["commits"] = JSONValue(s.commits)
        figures["checkpoints"] = JSONValue(s.checkpoints)
        figures["usedBytes"] = .int(s.usedBytes)
        figures["writerCpuMillis"] = JSONValue(Double(s.writerCPUNanos / 1000) / 1000)
        figures["droppedReports"] = JSONValue(s.droppedReports)
        return SourceHealth(state: "ok", summary: "history: \(s.eventsWritten) changes, \(s.usedBytes / 1024) KiB in \(s.path ?? "")",
                            figures: figures).json
    }
}
