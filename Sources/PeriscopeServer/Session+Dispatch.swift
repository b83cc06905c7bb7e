import PeriscopeProtocol

/// Message handling: parse, batches, lifecycle rules, authentication, dispatch to the router.
extension Session {
    /// Handles one framed body: a single message or a batch.
    func handle(body: [UInt8]) {
        core.counters.messages += 1
        let value: JSONValue
        do {
            value = try core.parser.parse(body)
        } catch {
            if !authenticated { closeAfterNextSend = "unparseable message before authentication" }
            sendError(id: nil, RPCError(code: ErrorCode.parseError, message: "parse error: \(error)"))
            return
        }
        guard case .array(let elements) = value else {
            process(value) { [weak self] reply in
                if let reply { self?.send(reply) }
            }
            return
        }
        guard !elements.isEmpty else {
            if !authenticated { closeAfterNextSend = "empty batch before authentication" }
            sendError(id: nil, .invalidRequest("empty batch"))
            return
        }
        handleBatch(elements)
    }

    /// A batch: every request in it takes an in-flight slot before any work is done (replies served
    /// from the render cache included), and the whole reply is bounded by
    /// ``ServerConfiguration/maxOutputBytes``. A failed authentication ends the batch and the connection.
    private func handleBatch(_ elements: [JSONValue]) {
        let batch = BatchReply(count: elements.count, limit: core.configuration.maxOutputBytes) { [weak self] reply in
            if let reply { self?.send(reply) }
        }
        var slots = core.configuration.maxPendingRequests - pending.count
        for element in elements {
            if closeAfterNextSend != nil || isClosed {
                batch.add(nil, id: nil)  // authentication failed earlier in this batch: nothing more runs
                continue
            }
            let id = element.objectValue?["id"].flatMap(RequestID.init(json:))
            if element.objectValue?["method"] != nil, id != nil {
                guard slots > 0 else {
                    batch.add(.error(id: id, RPCError(code: ErrorCode.limitExceeded,
                        message: "too many requests in flight (limit \(core.configuration.maxPendingRequests), batch elements included)")), id: id)
                    continue
                }
                slots -= 1
            }
            process(element) { reply in batch.add(reply, id: id) }
        }
    }

    /// Handles one message; calls `completion` exactly once with the reply (`nil` when none is due).
    func process(_ value: JSONValue, completion: @escaping (EncodedMessage?) -> Void) {
        let message: Message
        switch Message.decode(value) {
        case .success(let decoded):
            message = decoded
        case .failure(let failure):
            if !authenticated { closeAfterNextSend = "invalid message before authentication" }
            completion(.error(id: failure.id, failure.error))
            return
        }
        switch message {
        case .response:
            completion(nil)  // the daemon sends no requests to clients; stray responses are ignored
        case .notification(let method, let params):
            handleNotification(method, params)
            completion(nil)
        case .request(let id, let method, let params):
            handleRequest(id: id, method: method, params: params) { result in
                completion(.response(id: id, result: result))
            }
        }
    }

    private func handleNotification(_ method: String, _ params: JSONValue?) {
        switch method {
        case NotificationName.exit:
            core.clientExited(self)
            disconnectAfterFlush(reason: "client sent exit")
        case NotificationName.cancelRequest:
            guard authenticated, let id = try? CancelRequestNotification(params: params).id else { return }
            if let request = pending.removeValue(forKey: id) { request.cancel() }
        case NotificationName.initialized:
            break
        default:
            // Unknown notifications, and notifications before initialize, are ignored (LSP rule).
            guard authenticated, lifecycle == .initialized || decoder.mode == .lines else { return }
            guard let handler = core.router.handler(for: method) else { return }
            _ = try? handler.handle(MethodContext(session: self, pending: nil), params)
        }
    }

    private func handleRequest(id: RequestID, method: String, params: JSONValue?,
                               reply: @escaping (Result<[UInt8], RPCError>) -> Void) {
        let replyValue: (Result<JSONValue, RPCError>) -> Void = { result in reply(result.map(JSONWriter.bytes)) }
        let opensSession = method == InitializeRequest.method || method == AuthRequest.method
        if !authenticated, !opensSession {
            closeAfterNextSend = "request before authentication"
            replyValue(.failure(RPCError(code: ErrorCode.unauthorized,
                                    message: "authentication required: send the token in initialize params.token or an auth request")))
            return
        }
        if lifecycle == .shutDown {
            replyValue(.failure(.invalidRequest("the session is shut down; only the exit notification is accepted")))
            return
        }
        if core.isShuttingDown {
            replyValue(.failure(RPCError(code: ErrorCode.shuttingDown, message: "the daemon is shutting down")))
            return
        }
        if lifecycle == .fresh, decoder.mode != .lines, !opensSession {
            replyValue(.failure(RPCError(code: ErrorCode.serverNotInitialized, message: "the session is not initialized: send initialize first")))
            return
        }
        switch method {
        case InitializeRequest.method:
            replyValue(initialize(InitializeRequest.Params(json: params)))
            return
        case AuthRequest.method:
            replyValue(authenticate(AuthRequest.Params(json: params)))
            return
        case ShutdownRequest.method:
            // Params are not looked at: LSP clients send null, {} or nothing.
            lifecycle = .shutDown
            shutdownRequested = true
            replyValue(.success(NullResult.null.json))
            return
        default:
            break
        }
        guard let handler = core.router.handler(for: method) else {
            replyValue(.failure(.methodNotFound(method)))
            return
        }
        guard pending[id] == nil else {
            replyValue(.failure(.invalidRequest("a request with id \(id) is already in flight")))
            return
        }
        guard pending.count < core.configuration.maxPendingRequests else {
            replyValue(.failure(RPCError(code: ErrorCode.limitExceeded,
                                    message: "too many requests in flight (limit \(core.configuration.maxPendingRequests))")))
            return
        }
        let request = PendingRequest(id: id, method: method) { [weak self] result in
            self?.pending.removeValue(forKey: id)
            reply(result)
            self?.closeIfDone()
        }
        do {
            switch try handler.handle(MethodContext(session: self, pending: request), params) {
            case .result(let value):
                request.succeed(value)
            case .deferred:
                if !request.isFinished { pending[id] = request }
            }
        } catch {
            request.fail(error)
        }
    }

    private func initialize(_ params: InitializeRequest.Params) -> Result<JSONValue, RPCError> {
        guard lifecycle == .fresh else { return .failure(.invalidRequest("initialize was already called on this session")) }
        if case .failure(let error) = checkToken(params.token, required: !authenticated) { return .failure(error) }
        if let name = params.clientName {
            clientName = [name, params.clientVersion].compactMap { $0 }.joined(separator: " ")
        }
        lifecycle = .initialized
        return .success(core.initializeResult().json)
    }

    private func authenticate(_ params: AuthRequest.Params) -> Result<JSONValue, RPCError> {
        if authenticated { return .success(AuthRequest.Result().json) }  // Unix socket and stdio need no token
        if case .failure(let error) = checkToken(params.token, required: true) { return .failure(error) }
        return .success(AuthRequest.Result().json)
    }

    private func checkToken(_ offered: String?, required: Bool) -> Result<Void, RPCError> {
        guard required else { return .success(()) }
        guard let offered, let expected = core.configuration.token, TokenCheck.matches(offered, expected) else {
            core.counters.authFailures += 1
            logger.warning("authentication failed from \(peer)")
            closeAfterNextSend = "authentication failed"
            return .failure(RPCError(code: ErrorCode.unauthorized, message: "invalid or missing token"))
        }
        markAuthenticated()
        return .success(())
    }
}

/// Collects the replies of a batch and sends them as one array when the last one is in. The reply is
/// bounded: a result that would take it past `limit` bytes is replaced by a −32005 error (the first
/// reply always goes through, so a batch of one large request still works).
final class BatchReply {
    private var remaining: Int
    private var replies: [EncodedMessage] = []
    private var size = 0
    private let limit: Int
    private let done: (EncodedMessage?) -> Void

    init(count: Int, limit: Int, done: @escaping (EncodedMessage?) -> Void) {
        remaining = count
        self.limit = limit
        self.done = done
    }

    /// Adds the reply to the request with `id` (`nil` when none is due).
    func add(_ reply: EncodedMessage?, id: RequestID?) {
        if var reply {
            if !replies.isEmpty, size + reply.count > limit {
                reply = .error(id: id, RPCError(code: ErrorCode.limitExceeded,
                    message: "batch reply larger than \(limit) bytes; send this request on its own"))
            }
            size += reply.count
            replies.append(reply)
        }
        remaining -= 1
        if remaining == 0 { done(replies.isEmpty ? nil : .batch(replies)) }
    }
}

/// Token comparison in constant time for a given token length.
enum TokenCheck {
    static func matches(_ offered: String, _ expected: String) -> Bool {
        let a = Array(offered.utf8)
        let b = Array(expected.utf8)
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for n in 0..<b.count {
            difference |= (n < a.count ? a[n] : 0) ^ b[n]
        }
        return difference == 0 && a.count == b.count
    }
}
