import Logging
import PeriscopeEventLoop
import PeriscopeProtocol
import PeriscopeTopology

/// The aggregator's side of forwarding (SPEC §17.6): `control/invoke` on a node of another host, and `pipe/*` on
/// the pipes such a call opened, go over that host's publisher link (`forward/request`) to its daemon, which runs
/// them and answers (`forward/response`, `forward/notify` for `pipe/data`).
///
/// It wraps the local handlers of those methods (``Router/register(_:_:)-(String,_)``): calls for this host, or for
/// a node no publisher owns, go to them unchanged. A forwarded control must be enabled here (`--controls`) *and*
/// on that host's daemon; a refusal names the side that refused (`error.data.side`: `aggregator` or
/// `publisher`, `error.data.host`). Every forwarded call is logged here (session, peer, node, control, host,
/// outcome) and on the publisher. A forwarded pipe gets an id of this daemon (`p<N>`), owned by the calling
/// session like a local one; it ends with an `eof` carrying an error when the link to its host is lost.
///
/// - Important: loop thread only.
final class ControlForwarder {
    /// A forwarded call waiting for its answer.
    private struct Call {
        let host: String
        let pending: PendingRequest?
        /// Audit text: the control and node, or the pipe method.
        let what: String
        let who: String
        let session: Session
    }

    struct Laggard {
        weak var session: Session?
        /// Hosts told of the backlog (each gets the final 0, even after its pipes ended).
        var hosts: Set<String> = []
    }

    /// A pipe opened on another host, known here by `id`.
    private struct ForwardedPipe {
        let id: String
        let host: String
        let remoteID: String
        let sessionID: Int
        weak var session: Session?
    }

    let core: ServerCore
    private unowned let topology: TopologyService
    unowned let aggregator: ReportAggregator
    private var calls: [Int64: Call] = [:]
    private var nextCall: Int64 = 1
    private var pipes: [String: ForwardedPipe] = [:]
    /// Local pipe id by host and the host's pipe id.
    private var pipeByRemote: [String: [String: String]] = [:]
    /// Sessions with forwarded state, by host (released there when the session ends).
    private var clientsByHost: [String: Set<Int>] = [:]
    private var watchedSessions: Set<Int> = []
    /// Clients whose unread output passed the pause threshold after forwarded pipe data: their backlog is sent
    /// to the hosts of their pipes (`forward/backlog`) until they have read most of it.
    var laggards: [Int: Laggard] = [:]
    var backlogTimer: LoopTimer?
    private let logger = Logger(label: "periscope.controls")
    /// Largest forwarded params (a `pipe/write` of the 1 MiB backlog in base64 fits).
    static let maxForwardedBytes = 3 << 20

    init(core: ServerCore, topology: TopologyService, aggregator: ReportAggregator) {
        self.core = core
        self.topology = topology
        self.aggregator = aggregator
        wrap(ControlInvokeRequest.self) { [unowned self] context, params, raw throws(RPCError) in
            try self.invoke(context, params, raw)
        }
        for method in [PipeWriteRequest.method, PipeResizeRequest.method, PipeCloseRequest.method] {
            guard let original = core.router.handler(for: method) else { continue }
            core.router.register(method, PipeHandler(method: method, original: original, forwarder: self))
        }
        aggregator.onForwardMessage = { [unowned self] link, method, params in self.received(link, method, params) }
        aggregator.onLinkClosed = { [unowned self] link in self.linkClosed(link) }
    }

    private func wrap<M: RPCMethod>(_ method: M.Type,
                                    _ divert: @escaping (MethodContext, M.Params, JSONValue?) throws(RPCError) -> Reply<JSONValue>?) {
        guard let original = core.router.handler(for: M.method) else { return }
        core.router.register(M.method, DivertingHandler<M>(original: original, divert: divert))
    }

    // MARK: which host

    /// The other host a node belongs to, when a publisher owns it: `HOST;PID` processes, and containers whose
    /// host parent is another host's (a container this host also has stays local).
    private func remoteHost(of node: String) -> String? {
        var host: String?
        if node.hasPrefix("container:") {
            let hosts = topology.report?[.container].nodes[node]?.parents[.host] ?? []
            guard !hosts.contains(NodeID.host(topology.hostID)) else { return nil }
            host = hosts.sorted().first
        } else if let semicolon = node.lastIndex(of: ";") {
            host = String(node[..<semicolon])
        }
        guard let host, host != topology.hostID, aggregator.isKnown(host) else { return nil }
        return host
    }

    // MARK: calls from this daemon's clients

    private func invoke(_ context: MethodContext, _ params: ControlInvokeRequest.Params, _ raw: JSONValue?) throws(RPCError) -> Reply<JSONValue>? {
        guard ControlService.allControls.contains(params.control), let host = remoteHost(of: params.node) else { return nil }
        let what = "control \(LogText.escape(params.control, limit: 64)) on \(LogText.escape(params.node)) (host \(host))"
        let who = context.session.auditName
        guard isEnabledHere(params.control) else {
            let error = RPCError(code: ErrorCode.controlDisabled,
                                 message: "control '\(params.control)' refused by the aggregator (\(topology.hostID)): it is not "
                                     + "enabled on this daemon (start periscoped with --controls or --controls=\(params.control))",
                                 data: ["control": .string(params.control), "side": "aggregator", "host": .string(topology.hostID)])
            logger.notice("forwarding \(what) by \(who): refused: not enabled on the aggregator")
            throw error
        }
        return try forward(context, method: ControlInvokeRequest.method, params: raw ?? [:], host: host, what: what, who: who)
    }

    private func isEnabledHere(_ control: String) -> Bool {
        guard let enabled = core.configuration.controls else { return false }
        return enabled.contains("all") || enabled.contains(control)
    }

    /// `pipe/*` on a forwarded pipe: checked for ownership here, sent with the host's pipe id.
    fileprivate func pipeCall(_ method: String, _ context: MethodContext, _ raw: JSONValue?) throws(RPCError) -> Reply<JSONValue>? {
        guard let id = raw?["pipe"]?.stringValue, let pipe = pipes[id] else { return nil }
        guard pipe.sessionID == context.session.id else {
            throw RPCError(code: ErrorCode.notFound, message: "no open pipe '\(id)' on this connection", data: ["pipe": .string(id)])
        }
        var params = raw?.objectValue ?? [:]
        params["pipe"] = .string(pipe.remoteID)
        if method == PipeCloseRequest.method { forget(pipe) }  // no pipe/data follows the answer
        return try forward(context, method: method, params: .object(params), host: pipe.host,
                           what: "\(method) \(id) (\(pipe.remoteID) on host \(pipe.host))", who: context.session.auditName)
    }

    private func forward(_ context: MethodContext, method: String, params: JSONValue, host: String, what: String,
                         who: String) throws(RPCError) -> Reply<JSONValue> {
        guard let link = aggregator.link(for: host) else {
            logger.notice("forwarding \(what) by \(who): failed: host not connected")
            throw RPCError(code: ErrorCode.internalError, message: "host \(host) is not connected to this aggregator now")
        }
        guard JSONWriter.bytes(params).count <= Self.maxForwardedBytes else {
            throw RPCError(code: ErrorCode.limitExceeded, message: "\(method): params too large to forward (limit \(Self.maxForwardedBytes) bytes)")
        }
        let call = nextCall
        nextCall += 1
        let session = context.session
        calls[call] = Call(host: host, pending: context.pending, what: what, who: who, session: session)
        clientsByHost[host, default: []].insert(session.id)
        if watchedSessions.insert(session.id).inserted {
            let id = session.id
            session.onClose { [weak self] in self?.sessionClosed(id) }
        }
        link.notify(ForwardRequestNotification(call: call, client: Int64(session.id), who: who, method: method, params: params))
        return .deferred
    }

    // MARK: messages from publishers

    private func received(_ link: PublisherLink, _ method: String, _ params: JSONValue) {
        guard let host = link.host else { return }
        switch method {
        case ForwardResponseNotification.method:
            guard let response = try? ForwardResponseNotification(params: params), let call = calls[response.call],
                  call.host == host else { return }
            calls[response.call] = nil
            answer(call, response.outcome)
        case ForwardNotifyNotification.method:
            guard let note = try? ForwardNotifyNotification(params: params), note.notifiedMethod == PipeDataNotification.method,
                  var data = try? PipeDataNotification(params: note.notifiedParams),
                  let id = pipeByRemote[host]?[data.pipe], let pipe = pipes[id], Int64(pipe.sessionID) == note.client else { return }
            data.pipe = id
            if data.eof { forget(pipe) }
            if let session = pipe.session, !session.isClosed {
                session.notify(data)
                if session.outputBufferedCount > core.configuration.pauseReadingAbove { lagging(session, host: host) }
            }
        default:
            logger.info("ignoring \(LogText.escape(method, limit: 64)) from publisher \(host)")
        }
    }

    private func answer(_ call: Call, _ outcome: Result<JSONValue, RPCError>) {
        switch outcome {
        case .success(var result):
            if let remoteID = result["pipe"]?.stringValue {
                if let pending = call.pending, !pending.isFinished, !call.session.isClosed {
                    let id = core.allocatePipeID()
                    pipes[id] = ForwardedPipe(id: id, host: call.host, remoteID: remoteID, sessionID: call.session.id,
                                              session: call.session)
                    pipeByRemote[call.host, default: [:]][remoteID] = id
                    result = ["pipe": .string(id)]
                    logger.notice("forwarded \(call.what) by \(call.who): pipe \(id) opened (\(remoteID) on \(call.host))")
                } else if let link = aggregator.link(for: call.host) {  // nobody waits for it: close it there
                    let client = Int64(call.session.id)
                    if call.session.isClosed {  // (its release went first: end the session the open re-made)
                        link.notify(ForwardReleaseNotification(client: client))
                    } else {
                        link.notify(ForwardRequestNotification(call: 0, client: client, who: call.who,
                                                               method: PipeCloseRequest.method, params: ["pipe": .string(remoteID)]))
                    }
                }
            } else {
                logger.notice("forwarded \(call.what) by \(call.who): done")
            }
            call.pending?.succeed(result)
        case .failure(var error):
            if error.code == ErrorCode.controlDisabled {
                error.message = "refused by host \(call.host): \(error.message)"
                var data = error.data?.objectValue ?? [:]
                data["side"] = "publisher"
                data["host"] = .string(call.host)
                error.data = .object(data)
            }
            logger.notice("forwarded \(call.what) by \(call.who): refused or failed: \(LogText.escape(error.message))")
            call.pending?.fail(error)
        }
    }

    private func forget(_ pipe: ForwardedPipe) {
        pipes[pipe.id] = nil
        pipeByRemote[pipe.host]?[pipe.remoteID] = nil
    }

    /// A client left: its forwarded sessions on other hosts end (their pipes close there).
    private func sessionClosed(_ id: Int) {
        watchedSessions.remove(id)
        for pipe in pipes.values where pipe.sessionID == id { forget(pipe) }
        for (host, clients) in clientsByHost where clients.contains(id) {
            clientsByHost[host]?.remove(id)
            aggregator.link(for: host)?.notify(ForwardReleaseNotification(client: Int64(id)))
        }
    }

    /// A host's link ended: its calls fail, its pipes end with an error.
    private func linkClosed(_ link: PublisherLink) {
        guard let host = link.host else { return }
        for (number, call) in calls where call.host == host {
            calls[number] = nil
            logger.notice("forwarded \(call.what) by \(call.who): failed: the link to host \(host) was lost")
            call.pending?.fail(RPCError(code: ErrorCode.internalError, message: "the link to host \(host) was lost"))
        }
        for pipe in pipes.values where pipe.host == host {
            forget(pipe)
            if let session = pipe.session, !session.isClosed {
                session.notify(PipeDataNotification.end(pipe: pipe.id, exitCode: nil, error: "the link to host \(host) was lost"))
            }
        }
        clientsByHost[host] = nil
    }
}

/// A method's handler that first offers the call to another service (forwarding) and runs the handler it replaced
/// when that declines (returns `nil`).
private struct DivertingHandler<M: RPCMethod>: MethodHandler {
    let original: any MethodHandler
    let divert: (MethodContext, M.Params, JSONValue?) throws(RPCError) -> Reply<JSONValue>?

    func handle(_ context: MethodContext, _ raw: JSONValue?) throws(RPCError) -> Reply<JSONValue> {
        let params = try M.Params(json: raw)
        if let reply = try divert(context, params, raw) { return reply }
        return try original.handle(context, raw)
    }
}

/// `pipe/*` at an aggregator: forwarded pipes go to their host, the others to ``PipeService``.
private struct PipeHandler: MethodHandler {
    let method: String
    let original: any MethodHandler
    unowned let forwarder: ControlForwarder

    func handle(_ context: MethodContext, _ raw: JSONValue?) throws(RPCError) -> Reply<JSONValue> {
        if let reply = try forwarder.pipeCall(method, context, raw) { return reply }
        return try original.handle(context, raw)
    }
}
