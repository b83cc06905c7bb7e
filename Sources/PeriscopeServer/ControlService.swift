import Dispatch
import Glibc
import Logging
import PeriscopeCollectors
import PeriscopeEventLoop
import PeriscopeProtocol
import PeriscopeTopology

/// `control/invoke {node, control, args?}`: container lifecycle (`start`, `stop`, `restart`, `pause`, `unpause`,
/// `remove`) through the engine, and `signal` (`args.signal`: `TERM` or `KILL`) to a process of this host.
///
/// Off unless the daemon was started with `--controls` (all) or `--controls=LIST`; a control that is not enabled
/// answers ``ErrorCode/controlDisabled`` (−32010) and does nothing. Every invocation, allowed or not, is logged
/// with the session id, peer credentials, node, control and outcome.
///
/// - Important: loop thread; engine calls run on a private queue.
final class ControlService {
    static let containerControls: Set<String> = ["start", "stop", "restart", "pause", "unpause", "remove"]
    static let processControls: Set<String> = ["signal"]
    /// Streamed controls: answered with a pipe (``PipeService``).
    static let pipeControls: Set<String> = PipeService.controls
    static var allControls: Set<String> { containerControls.union(processControls).union(pipeControls) }

    unowned let core: ServerCore
    weak var topology: TopologyService?
    private let enabled: Set<String>?
    private let queue = DispatchQueue(label: "periscope.controls")
    private let logger = Logger(label: "periscope.controls")
    private(set) var invocations = 0
    private let pipes: PipeService

    init(core: ServerCore, topology: TopologyService?) {
        self.core = core
        self.topology = topology
        enabled = core.configuration.controls
        let streams = core.configuration.controls.map { $0.contains("all") || !$0.isDisjoint(with: PipeService.controls) }
        pipes = PipeService(core: core, enabled: streams ?? false, health: topology != nil)
        core.router.register(ControlInvokeRequest.self) { [unowned self] context, params throws(RPCError) in
            try self.invoke(context, params)
        }
        if topology != nil { registerHealth() }
    }

    private func registerHealth() {
        core.health["controls"] = { [unowned self] in
            var o: [String: JSONValue] = ["state": .string(self.enabled == nil ? "disabled" : "ok"),
                                          "invocations": JSONValue(self.invocations)]
            o["enabled"] = JSONValue(self.enabledList)
            o["summary"] = .string(self.enabled == nil ? "controls disabled (start with --controls to enable)"
                                   : "enabled: \(self.enabledList.joined(separator: ", "))")
            return .object(o)
        }
    }

    private var enabledList: [String] {
        guard let enabled else { return [] }
        if enabled.contains("all") { return Self.allControls.sorted() }
        return enabled.sorted()
    }

    func isEnabled(_ control: String) -> Bool {
        guard let enabled else { return false }
        return enabled.contains("all") || enabled.contains(control)
    }

    private func invoke(_ context: MethodContext, _ params: ControlInvokeRequest.Params) throws(RPCError) -> Reply<ControlInvokeResult> {
        let node = params.node
        let control = params.control
        let args = params.args
        let session = context.session
        let who = session.auditName
        invocations += 1
        // Peer-supplied text is escaped and bounded before it reaches the log.
        let logged = "control \(LogText.escape(control, limit: 64)) on \(LogText.escape(node))"
        func refuse(_ error: RPCError) -> RPCError {
            logger.notice("\(logged) by \(who): refused: \(LogText.escape(error.message))")
            return error
        }
        guard Self.allControls.contains(control) else {
            throw refuse(.invalidParams("params.control: unknown control '\(control)'; known: "
                + Self.allControls.sorted().joined(separator: ", ")))
        }
        guard isEnabled(control) else {
            throw refuse(RPCError(code: ErrorCode.controlDisabled,
                                  message: "control '\(control)' is not enabled on this daemon (start periscoped with "
                                    + "--controls or --controls=\(control))",
                                  data: ["control": .string(control)]))
        }
        if Self.pipeControls.contains(control) {
            guard node.hasPrefix("container:"), node.count > 10 else {
                throw refuse(.invalidParams("params.node: '\(control)' applies to container nodes (container:ID)"))
            }
            guard let collector = topology?.containerCollector else {
                throw refuse(RPCError(code: ErrorCode.notFound, message: "container discovery is not running"))
            }
            do throws(RPCError) {
                return try pipes.open(control: control, node: node, containerID: String(node.dropFirst(10)), args: args,
                                      context: context, who: who, engine: collector.engine)
            } catch {
                throw refuse(error)
            }
        }
        let pending = context.pending
        let loop = core.loop
        if Self.containerControls.contains(control) {
            guard node.hasPrefix("container:"), node.count > 10 else {
                throw refuse(.invalidParams("params.node: '\(control)' applies to container nodes (container:ID)"))
            }
            guard let collector = topology?.containerCollector else {
                throw refuse(RPCError(code: ErrorCode.notFound, message: "container discovery is not running"))
            }
            let id = String(node.dropFirst(10))
            let engine = collector.engine
            let bound = LoopBound((self, pending), loop: loop)
            let logger = self.logger
            queue.async {
                var outcome: EngineError?
                do throws(EngineError) { try engine.perform(control, id: id) } catch { outcome = error }
                let failure = outcome
                collector.invalidate(id)
                if let failure {
                    logger.notice("\(logged) by \(who): failed: \(LogText.escape(failure.message))")
                } else {
                    logger.notice("\(logged) by \(who): done")
                }
                loop.execute {
                    let (service, pending) = bound.value
                    service.topology?.requestPass()
                    if let failure {
                        let code = failure.status == 404 ? ErrorCode.notFound : ErrorCode.internalError
                        pending?.fail(RPCError(code: code, message: "\(control) failed: \(failure.message)"))
                    } else {
                        pending?.succeed(ControlInvokeResult.done(node: node, control: control, signal: nil))
                    }
                }
            }
            return .deferred
        }
        // signal
        let signal: ControlArgs.Signal
        do throws(RPCError) { signal = try ControlArgs.Signal(args: args) } catch { throw refuse(error) }
        let name = signal.name
        let number = signal.isKill ? SIGKILL : SIGTERM
        guard let topology, let semicolon = node.lastIndex(of: ";"), String(node[..<semicolon]) == topology.hostID,
              let pid = Int32(node[node.index(after: semicolon)...]), pid > 1 else {
            throw refuse(.invalidParams("params.node: 'signal' applies to process nodes of this host (HOST;PID)"))
        }
        if pid == getpid() { throw refuse(.invalidParams("params.node: refusing to signal the daemon itself")) }
        if kill(pid, number) != 0 {
            let why = String(cString: strerror(errno))
            throw refuse(RPCError(code: errno == ESRCH ? ErrorCode.notFound : ErrorCode.internalError,
                                  message: "signal \(name) to pid \(pid): \(why)"))
        }
        logger.notice("\(logged) (\(name)) by \(who): done")
        topology.requestPass()
        return .result(.done(node: node, control: control, signal: name))
    }
}

extension Session {
    /// Who called, for audit logs: `session N (transport, pid P, uid U)`.
    var auditName: String {
        "session \(id) (\(transport.rawValue), pid \(peerPID.map(String.init) ?? "?"), uid \(peerUID.map(String.init) ?? "?"))"
    }
}
