import Glibc
import PeriscopeEventLoop
import PeriscopeProtocol
import PeriscopeSystem
import PeriscopeViews

/// `daemon/status` and `daemon/ping`, plus the loop-lag probe that status reports.
///
/// - Important: loop thread only.
final class DaemonMethods {
    private unowned let core: ServerCore
    private var lagTimer: LoopTimer?
    private var lastTick = 0.0
    private var lastLagMillis = 0.0
    private var maxLagMillis = 0.0
    /// The lag probe's period: one wake-up a second, also while nobody is connected.
    private static let tickMillis = 1000

    init(core: ServerCore) {
        self.core = core
        core.router.register(DaemonStatusRequest.self) { [unowned self] _, _ throws(RPCError) in
            .result(self.status())
        }
        core.router.register(DaemonPingRequest.self) { [unowned self] context, params throws(RPCError) in
            self.ping(context, params)
        }
        lastTick = monotonicMillis()
        lagTimer = LoopTimer(loop: core.loop) { [unowned self] in self.tick() }
        lagTimer?.scheduleRepeating(everyMillis: DaemonMethods.tickMillis)
    }

    func stop() { lagTimer?.cancel() }

    private func tick() {
        let now = monotonicMillis()
        lastLagMillis = max(0, now - lastTick - Double(DaemonMethods.tickMillis))
        maxLagMillis = max(maxLagMillis * 0.92, lastLagMillis)     // halves in ~8 s
        lastTick = now
    }

    private func ping(_ context: MethodContext, _ params: DaemonPingRequest.Params) -> Reply<DaemonPingRequest.Result> {
        let delay = params.delayMs ?? 0
        guard delay > 0, let pending = context.pending else { return .result(DaemonPingRequest.Result()) }
        let token = params.workDoneToken
        if let token { context.session.notify(ProgressNotification(token: token, value: .begin("ping", cancellable: true))) }
        let session = context.session
        let timer = LoopTimer(loop: core.loop) {
            if let token { session.notify(ProgressNotification(token: token, value: .end())) }
            pending.succeed(DaemonPingRequest.Result())
        }
        pending.onCancel = {
            timer.cancel()
            if let token { session.notify(ProgressNotification(token: token, value: .end("cancelled"))) }
        }
        timer.schedule(afterMillis: Int(delay))
        return .deferred
    }

    private func status() -> JSONValue {
        let now = ServerCore.now()
        var byTransport: [String: JSONValue] = [:]
        for kind in [TransportKind.unix, .tcp, .stdio] {
            byTransport[kind.rawValue] = JSONValue(core.sessions.values.filter { $0.transport == kind }.count)
        }
        var sources: [String: JSONValue] = [:]
        for (name, probe) in core.health { sources[name] = probe() }
        return [
            "version": .string(PeriscopeVersion.daemon),
            "protocolVersion": .string(PeriscopeVersion.protocolVersion),
            "pid": JSONValue(getpid()),
            "uptimeSeconds": JSONValue(((now - core.startedAt) * 1000).rounded() / 1000),
            "startedAt": JSONValue(core.startedAt),
            "endpoints": JSONValue(core.endpoints),
            "clients": [
                "connected": JSONValue(core.sessions.count),
                "byTransport": .object(byTransport),
                "accepted": JSONValue(core.counters.accepted),
                "rejected": JSONValue(core.counters.rejectedFull),
                "droppedSlow": JSONValue(core.counters.droppedSlow),
                "droppedStalled": JSONValue(core.counters.droppedStalled),
                "authFailures": JSONValue(core.counters.authFailures),
                "authTimeouts": JSONValue(core.counters.authTimeouts),
                "unauthenticated": JSONValue(core.unauthenticatedCount),
            ],
            "loop": [
                "backend": .string(core.loop.backendName),
                "lagMillis": JSONValue((lastLagMillis * 100).rounded() / 100),
                "maxLagMillis": JSONValue((maxLagMillis * 100).rounded() / 100),
                "messages": JSONValue(core.counters.messages),
                "crossThreadTasks": JSONValue(core.loop.tasksRun),
            ],
            "collectors": .object(sources),
            "limits": [
                "maxMessageBytes": JSONValue(core.configuration.maxMessageSize),
                "maxClients": JSONValue(core.configuration.maxClients),
                "maxPendingRequests": JSONValue(core.configuration.maxPendingRequests),
                "maxOutputBytes": JSONValue(core.configuration.maxOutputBytes),
                "maxUnauthenticated": JSONValue(core.configuration.maxUnauthenticated),
                "maxUnauthenticatedMessageBytes": JSONValue(core.configuration.maxUnauthenticatedMessageSize),
                "authTimeoutMillis": JSONValue(core.configuration.authTimeoutMillis),
                "stallMillis": JSONValue(core.configuration.stallMillis),
                "maxSubscriptions": JSONValue(core.configuration.maxSubscriptionsPerSession),
                "maxFilterBytes": JSONValue(FilterExpression.maxLength),
                "maxFilterTerms": JSONValue(FilterExpression.maxTerms),
            ],
        ]
    }
}

/// Milliseconds on the monotonic clock: the server's short name for ``SystemClock/monotonicMillis()``.
func monotonicMillis() -> Double { SystemClock.monotonicMillis() }
