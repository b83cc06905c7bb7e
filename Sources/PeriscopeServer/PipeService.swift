import Logging
import PeriscopeCollectors
import PeriscopeEventLoop
import PeriscopeProtocol

/// Pipes: the streamed controls (`logs`, `exec`) of `control/invoke`, and `pipe/write`, `pipe/resize`,
/// `pipe/close`, with output as `pipe/data` notifications (base64).
///
/// A pipe belongs to the connection that opened it (others get −32004 for its id) and closes when that
/// connection ends. Its engine I/O runs on its own thread (``ContainerPipeWorker``); output reaches the loop
/// through `EventLoop.execute`, at most a window's worth at a time, and when the client's unsent output passes
/// ``ServerConfiguration/pauseReadingAbove`` the pipe stops reading from the engine until the client has read
/// most of it — a client that does not read holds the stream, it never grows the daemon's memory.
///
/// - Important: loop thread only.
final class PipeService {
    static let maxPipesPerSession = 16
    /// Most bytes of `pipe/write` data waiting to reach the engine, per pipe.
    static let maxWriteBacklog = 1 << 20
    static let controls: Set<String> = ["logs", "exec"]

    final class Pipe {
        let id: String
        let control: String
        let node: String
        let sessionID: Int
        weak var session: Session?
        let worker: ContainerPipeWorker
        let who: String
        var pending: PendingRequest?
        var isOpen = false
        /// Closed by the client (pipe/close, disconnect) or ended by the engine: no more pipe/* on it.
        var closed = false
        var paused = false
        var writeBacklog = 0
        var bytesOut: UInt64 = 0
        var bytesIn: UInt64 = 0

        init(id: String, control: String, node: String, session: Session, worker: ContainerPipeWorker, who: String) {
            self.id = id
            self.control = control
            self.node = node
            self.sessionID = session.id
            self.session = session
            self.worker = worker
            self.who = who
        }
    }

    unowned let core: ServerCore
    private let enabled: Bool
    /// Pipes whose worker has not ended yet (open, or closed and still finishing on the engine side).
    private var pipes: [String: Pipe] = [:]
    private var openedTotal = 0
    private var bytesOut: UInt64 = 0
    private var bytesIn: UInt64 = 0
    private var pauses = 0
    private var drainTimer: LoopTimer?
    private let logger = Logger(label: "periscope.controls")

    init(core: ServerCore, enabled: Bool, health: Bool) {
        self.core = core
        self.enabled = enabled
        core.router.register(PipeWriteRequest.self) { [unowned self] context, params throws(RPCError) in
            try self.write(context, params)
        }
        core.router.register(PipeResizeRequest.self) { [unowned self] context, params throws(RPCError) in
            try self.resize(context, params)
        }
        core.router.register(PipeCloseRequest.self) { [unowned self] context, params throws(RPCError) in
            try self.closeRequest(context, params)
        }
        if health { core.health["pipes"] = { [unowned self] in self.healthJSON() } }
    }

    // MARK: opening

    /// `control/invoke` of `logs` or `exec` (already checked: enabled, a container node). Answers `{pipe}` once
    /// the engine stream is open, or the engine's error.
    func open(control: String, node: String, containerID: String, args: [String: JSONValue], context: MethodContext,
              who: String, engine: ContainerEngine) throws(RPCError) -> Reply<ControlInvokeResult> {
        let kind = try Self.kind(control, args)
        guard containerID.utf8.allSatisfy({ c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x2E || c == 0x5F
        }) else {
            throw .invalidParams("params.node: not a container id: '\(containerID.prefix(80))'")
        }
        let session = context.session
        guard let pending = context.pending else { return .deferred }  // a notification cannot get its pipe id
        let owned = pipes.values.filter { $0.sessionID == session.id && !$0.closed }.count
        guard owned < Self.maxPipesPerSession else {
            throw RPCError(code: ErrorCode.limitExceeded,
                           message: "too many pipes on this connection (limit \(Self.maxPipesPerSession)); close one first")
        }
        let id = core.allocatePipeID()
        let worker = ContainerPipeWorker(engine: engine, containerID: containerID, kind: kind)
        let pipe = Pipe(id: id, control: control, node: node, session: session, worker: worker, who: who)
        pipe.pending = pending
        let bound = LoopBound((self, pipe), loop: core.loop)
        let loop = core.loop
        let events = ContainerPipeWorker.Events(
            opened: { loop.execute { let (service, pipe) = bound.value; service.opened(pipe) } },
            data: { chunk in loop.execute { let (service, pipe) = bound.value; service.deliver(pipe, chunk) } },
            ended: { error, exitCode in
                loop.execute { let (service, pipe) = bound.value; service.ended(pipe, error: error, exitCode: exitCode) }
            })
        guard worker.start(events) else {
            throw RPCError(code: ErrorCode.internalError, message: "\(control): cannot start a thread for the pipe")
        }
        pipes[id] = pipe
        openedTotal += 1
        pending.onCancel = { [weak self, weak pipe] in
            guard let self, let pipe else { return }
            self.close(pipe, reason: "open request cancelled")
        }
        session.onClose { [weak self, weak pipe] in
            guard let self, let pipe else { return }
            self.close(pipe, reason: "client disconnected")
        }
        return .deferred
    }

    /// Reads `args` of `logs` / `exec` (``ControlArgs``).
    private static func kind(_ control: String, _ args: [String: JSONValue]) throws(RPCError) -> ContainerPipeWorker.Kind {
        if control == "logs" {
            let logs = try ControlArgs.Logs(args: args)
            return .logs(tail: logs.tail, follow: logs.follow)
        }
        let exec = try ControlArgs.Exec(args: args)
        return .exec(command: exec.command, environment: exec.environment, rows: exec.rows, cols: exec.cols)
    }

    // MARK: worker events

    private func opened(_ pipe: Pipe) {
        guard !pipe.closed, let pending = pipe.pending else { return }
        pipe.isOpen = true
        pipe.pending = nil
        logger.notice("control \(pipe.control) on \(pipe.node) by \(pipe.who): pipe \(pipe.id) opened")
        pending.succeed(ControlInvokeResult.pipe(pipe.id))
    }

    private func deliver(_ pipe: Pipe, _ chunk: [UInt8]) {
        defer { pipe.worker.acknowledge(chunk.count) }
        guard !pipe.closed, pipe.isOpen, let session = pipe.session, !session.isClosed else { return }
        pipe.bytesOut += UInt64(chunk.count)
        bytesOut += UInt64(chunk.count)
        session.notify(PipeDataNotification(pipe: pipe.id, data: Base64.encode(chunk)))
        if !pipe.paused, !session.isClosed, session.outputBufferedCount > core.configuration.pauseReadingAbove {
            pipe.paused = true
            pauses += 1
            pipe.worker.setPaused(true)
            watchDrain()
        }
    }

    private func ended(_ pipe: Pipe, error: EngineError?, exitCode: Int?) {
        pipes.removeValue(forKey: pipe.id)
        if let pending = pipe.pending {  // never opened
            pipe.pending = nil
            pipe.closed = true
            let failure = error ?? EngineError("the engine ended the stream before it opened")
            logger.notice("control \(pipe.control) on \(pipe.node) by \(pipe.who): failed: \(LogText.escape(failure.message))")
            let code = failure.status == 404 ? ErrorCode.notFound : ErrorCode.internalError
            pending.fail(RPCError(code: code, message: "\(pipe.control) failed: \(LogText.escape(failure.message))"))
            return
        }
        guard !pipe.closed else { return }  // closed by the client: no eof notification
        pipe.closed = true
        let note = PipeDataNotification.end(pipe: pipe.id, exitCode: exitCode.map(Int64.init), error: error?.message)
        let how = error.map { "failed: \($0.message)" } ?? "ended" + (exitCode.map { " (exit code \($0))" } ?? "")
        logger.notice("pipe \(pipe.id) (\(pipe.control) on \(pipe.node), session \(pipe.sessionID)) \(how)")
        if let session = pipe.session, !session.isClosed { session.notify(note) }
    }

    /// Closes a pipe from the daemon's side: no more output, the engine side ends (an exec is hung up).
    private func close(_ pipe: Pipe, reason: String) {
        guard !pipe.closed else { return }
        pipe.closed = true
        pipe.worker.close()
        if let pending = pipe.pending {
            pipe.pending = nil
            pending.fail(RPCError(code: ErrorCode.requestCancelled, message: "\(pipe.control): \(reason)"))
        }
        logger.notice("pipe \(pipe.id) (\(pipe.control) on \(pipe.node), session \(pipe.sessionID)) closed: \(reason)")
    }

    // MARK: backpressure

    /// Polls paused pipes until their clients have read most of their output, then resumes them.
    private func watchDrain() {
        if drainTimer == nil {
            drainTimer = LoopTimer(loop: core.loop) { [unowned self] in self.checkDrained() }
        }
        if let drainTimer, !drainTimer.isPending { drainTimer.schedule(afterMillis: 20) }
    }

    private func checkDrained() {
        var stillPaused = false
        let low = core.configuration.pauseReadingAbove / 4
        for pipe in pipes.values where pipe.paused {
            if pipe.closed || pipe.session.map({ $0.isClosed || $0.outputBufferedCount <= low }) ?? true {
                pipe.paused = false
                pipe.worker.setPaused(false)
            } else {
                stillPaused = true
            }
        }
        if stillPaused { drainTimer?.schedule(afterMillis: 20) }
    }

    // MARK: pipe/* methods

    private func lookup(_ id: String, _ context: MethodContext) throws(RPCError) -> Pipe {
        guard let pipe = pipes[id], !pipe.closed, pipe.isOpen, pipe.sessionID == context.session.id else {
            throw RPCError(code: ErrorCode.notFound, message: "no open pipe '\(id)' on this connection",
                           data: ["pipe": .string(id)])
        }
        return pipe
    }

    private func write(_ context: MethodContext, _ params: PipeWriteRequest.Params) throws(RPCError) -> Reply<NullResult> {
        let text = params.data
        let pipe = try lookup(params.pipe, context)
        guard pipe.control == "exec" else { throw .invalidParams("pipe \(pipe.id) is a \(pipe.control) pipe: it takes no input") }
        guard let bytes = Base64.decode(text) else { throw .invalidParams("params.data must be base64") }
        guard !bytes.isEmpty else { return .result(.null) }
        guard pipe.writeBacklog + bytes.count <= Self.maxWriteBacklog else {
            throw RPCError(code: ErrorCode.limitExceeded,
                           message: "pipe \(pipe.id): \(pipe.writeBacklog) bytes still waiting for the engine "
                               + "(limit \(Self.maxWriteBacklog)); retry later")
        }
        pipe.writeBacklog += bytes.count
        pipe.bytesIn += UInt64(bytes.count)
        bytesIn += UInt64(bytes.count)
        let bound = LoopBound(pipe, loop: core.loop)
        let loop = core.loop
        let count = bytes.count
        pipe.worker.write(bytes) { _ in
            loop.execute { bound.value.writeBacklog -= count }
        }
        return .result(.null)
    }

    private func resize(_ context: MethodContext, _ params: PipeResizeRequest.Params) throws(RPCError) -> Reply<NullResult> {
        let rows = params.rows
        let cols = params.cols
        let pipe = try lookup(params.pipe, context)
        guard pipe.control == "exec" else { throw .invalidParams("pipe \(pipe.id) is a \(pipe.control) pipe: it has no terminal") }
        let pending = context.pending
        let bound = LoopBound(pending, loop: core.loop)
        let loop = core.loop
        pipe.worker.resize(rows: Int(rows), cols: Int(cols)) { error in
            let message = error?.message
            loop.execute {
                if let message {
                    bound.value?.fail(RPCError(code: ErrorCode.internalError, message: "resize failed: \(message)"))
                } else {
                    bound.value?.succeed(NullResult.null)
                }
            }
        }
        return .deferred
    }

    private func closeRequest(_ context: MethodContext, _ params: PipeCloseRequest.Params) throws(RPCError) -> Reply<NullResult> {
        let pipe = try lookup(params.pipe, context)
        close(pipe, reason: "closed by the client")
        return .result(.null)
    }

    // MARK: health

    private func healthJSON() -> JSONValue {
        let open = pipes.values.filter { !$0.closed }.count
        let closing = pipes.count - open
        let paused = pipes.values.filter(\.paused).count
        return [
            "state": .string(enabled ? "ok" : "disabled"),
            "open": JSONValue(open),
            "closing": JSONValue(closing),
            "paused": JSONValue(paused),
            "opened": JSONValue(openedTotal),
            "pauses": JSONValue(pauses),
            "bytesOut": JSONValue(bytesOut),
            "bytesIn": JSONValue(bytesIn),
            "summary": .string(enabled ? "\(open) open pipes (\(closing) closing), \(openedTotal) opened"
                               : "pipes disabled (enable the logs/exec controls with --controls)"),
        ]
    }
}
