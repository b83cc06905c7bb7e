import Logging
import PeriscopeEventLoop
import PeriscopeProtocol

/// The publisher's side of forwarding (SPEC §17.6): runs the calls its aggregator forwards (`forward/request`:
/// `control/invoke` and `pipe/*` on this host's nodes) and follows the aggregator's demand (`report/demand`).
///
/// Each client of the aggregator that forwards calls here gets a session of its own on this daemon (transport
/// `forwarded`, over a ``ForwardStream``), so the daemon's own rules apply unchanged: the control must be enabled
/// here (`--controls`), a pipe belongs to the session that opened it, it is audited by ``ControlService``. Answers
/// go back as `forward/response`, the session's notifications (`pipe/data`) as `forward/notify`. The session ends
/// on `forward/release` (the aggregator's client left) and when the link to the aggregator is lost.
///
/// - Important: loop thread only.
final class ForwardedCalls {
    private let core: ServerCore
    private unowned let topology: TopologyService
    private unowned let publisher: ReportPublisher
    private var sessions: [Int64: (stream: ForwardStream, session: Session)] = [:]
    private var drainTimer: LoopTimer?
    private let logger = Logger(label: "periscope.controls")

    init(core: ServerCore, topology: TopologyService, publisher: ReportPublisher) {
        self.core = core
        self.topology = topology
        self.publisher = publisher
        publisher.onAggregatorMessage = { [weak self] method, params in self?.received(method, params) }
        publisher.onLinkLost = { [weak self] in self?.linkLost() }
    }

    private func received(_ method: String, _ params: JSONValue?) {
        switch method {
        case ReportDemandNotification.method:
            guard let demand = try? ReportDemandNotification(params: params) else { return }
            if demand.tcpInfo != topology.remoteDemand {
                logger.info("the aggregator's clients \(demand.tcpInfo ? "look: collecting TCP counters" : "no longer look")")
            }
            topology.remoteDemand = demand.tcpInfo
        case ForwardRequestNotification.method:
            do throws(RPCError) { run(try ForwardRequestNotification(params: params)) } catch {
                logger.warning("ignoring a bad forward/request from the aggregator: \(LogText.escape(error.message))")
            }
        case ForwardBacklogNotification.method:
            guard let backlog = try? ForwardBacklogNotification(params: params), let entry = sessions[backlog.client] else { return }
            entry.stream.remoteBacklog = Int(backlog.bytes)
            // Caught up: feed the session's queued output now rather than at the next drain tick.
            if backlog.bytes == 0, publisher.linkOutputBuffered < OutputQueue.feedTarget { entry.stream.onWritable?() }
        case ForwardReleaseNotification.method:
            guard let release = try? ForwardReleaseNotification(params: params) else { return }
            sessions[release.client]?.session.disconnect(reason: "the aggregator's client left")
        default:
            break
        }
    }

    /// Runs a forwarded call in the session of its aggregator client (made on first use).
    private func run(_ request: ForwardRequestNotification) {
        let what = request.forwardedMethod == ControlInvokeRequest.method
            ? "control \(LogText.escape(request.forwardedParams["control"]?.stringValue ?? "?", limit: 64)) on "
                + LogText.escape(request.forwardedParams["node"]?.stringValue ?? "?")
            : "\(request.forwardedMethod) \(LogText.escape(request.forwardedParams["pipe"]?.stringValue ?? "?", limit: 64))"
        logger.notice("forwarded \(what) from aggregator \(publisher.aggregatorAddress) for \(LogText.escape(request.who))")
        guard let session = session(for: request.client) else {
            publisher.sendToAggregator(ForwardResponseNotification(call: request.call, outcome: .failure(RPCError(
                code: ErrorCode.limitExceeded, message: "host \(topology.hostID) has no room for another client"))))
            return
        }
        session.stream.deliver(.object(["jsonrpc": "2.0", "id": .int(request.call), "method": .string(request.forwardedMethod),
                                        "params": request.forwardedParams]))
    }

    private func session(for client: Int64) -> (stream: ForwardStream, session: Session)? {
        if let existing = sessions[client], existing.stream.isOpen { return existing }
        let stream = ForwardStream(peer: "aggregator \(publisher.aggregatorAddress) client \(client)",
                                   link: { [weak publisher] in (publisher?.linkOutputBuffered ?? 0, publisher?.linkBytesDrained ?? 0) },
                                   onMessage: { [weak self] message in self?.sessionSent(message, client: client) })
        guard let session = core.accept(stream, transport: .forwarded) else { return nil }
        sessions[client] = (stream, session)
        session.onClose { [weak self, weak stream] in
            guard let self, let stream, self.sessions[client]?.stream === stream else { return }
            self.sessions[client] = nil
        }
        watchDrain()
        return (stream, session)
    }

    /// A message the forwarded session wrote: an answer (to `forward/response`) or a notification (`forward/notify`).
    private func sessionSent(_ message: JSONValue, client: Int64) {
        if let id = message["id"], !id.isNull {
            guard let call = id.intValue else { return }
            let outcome: Result<JSONValue, RPCError> = message["error"].flatMap(RPCError.init(json:)).map { .failure($0) }
                ?? .success(message["result"] ?? .null)
            publisher.sendToAggregator(ForwardResponseNotification(call: call, outcome: outcome))
        } else if let method = message["method"]?.stringValue, let params = message["params"] {
            publisher.sendToAggregator(ForwardNotifyNotification(client: client, method: method, params: params))
        }
    }

    /// While forwarded sessions exist, lets them feed their output whenever the link has room (the link's
    /// connection belongs to the publisher, so its drain is polled here rather than hooked).
    private func watchDrain() {
        if drainTimer == nil {
            drainTimer = LoopTimer(loop: core.loop) { [weak self] in self?.drain() }
        }
        if let drainTimer, !drainTimer.isPending { drainTimer.schedule(afterMillis: 50) }
    }

    private func drain() {
        guard !sessions.isEmpty else { return }
        if publisher.linkOutputBuffered < OutputQueue.feedTarget {
            for entry in sessions.values where entry.stream.isOpen && entry.stream.remoteBacklog == 0 { entry.stream.onWritable?() }
        }
        watchDrain()
    }

    private func linkLost() {
        topology.remoteDemand = false
        for entry in sessions.values { entry.session.disconnect(reason: "the link to the aggregator was lost") }
        sessions.removeAll()
    }
}
