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
            send(Message.response(id: nil, result: .failure(RPCError(code: ErrorCode.parseError, message: "parse error: \(error)"))).json)
            return
        }
        guard case .array(let elements) = value else {
            process(value, inBatch: false) { [weak self] reply in
                if let reply { self?.send(reply) }
            }
            return
        }
        guard !elements.isEmpty else {
            send(Message.response(id: nil, result: .failure(.invalidRequest("empty batch"))).json)
            return
        }
        let batch = BatchReply(count: elements.count) { [weak self] replies in
            if !replies.isEmpty { self?.send(.array(replies)) }
        }
        for element in elements {
            process(element, inBatch: true) { reply in batch.add(reply) }
        }
    }

    /// Handles one message; calls `completion` exactly once with the reply (`nil` when none is due).
    func process(_ value: JSONValue, inBatch: Bool, completion: @escaping (JSONValue?) -> Void) {
        let message: Message
        switch Message.decode(value) {
        case .success(let decoded):
            message = decoded
        case .failure(let failure):
            completion(Message.response(id: failure.id, result: .failure(failure.error)).json)
            return
        }
        switch message {
        case .response:
            completion(nil)  // the daemon sends no requests to clients; stray responses are ignored
        case .notification(let method, let params):
            handleNotification(method, Params(params))
            completion(nil)
        case .request(let id, let method, let params):
            let reply: (Result<JSONValue, RPCError>) -> Void = { result in
                completion(Message.response(id: id, result: result).json)
            }
            handleRequest(id: id, method: method, params: Params(params), inBatch: inBatch, reply: reply)
        }
    }

    private func handleNotification(_ method: String, _ params: Params) {
        switch method {
        case "exit":
            core.clientExited(self)
            disconnectAfterFlush(reason: "client sent exit")
        case "$/cancelRequest":
            guard authenticated, let raw = try? params.value("id"), let id = RequestID(json: raw) else { return }
            if let request = pending.removeValue(forKey: id) { request.cancel() }
        case "initialized":
            break
        default:
            // Unknown notifications, and notifications before initialize, are ignored (LSP rule).
            guard authenticated, lifecycle == .initialized || decoder.mode == .lines else { return }
            guard let handler = core.router.handler(for: method) else { return }
            _ = try? handler(MethodContext(params: params, session: self, pending: nil))
        }
    }

    private func handleRequest(id: RequestID, method: String, params: Params, inBatch: Bool,
                               reply: @escaping (Result<JSONValue, RPCError>) -> Void) {
        if !authenticated, method != "initialize", method != "auth" {
            closeAfterNextSend = "request before authentication"
            reply(.failure(RPCError(code: ErrorCode.unauthorized,
                                    message: "authentication required: send the token in initialize params.token or an auth request")))
            return
        }
        if lifecycle == .shutDown {
            reply(.failure(.invalidRequest("the session is shut down; only the exit notification is accepted")))
            return
        }
        if core.isShuttingDown {
            reply(.failure(RPCError(code: ErrorCode.shuttingDown, message: "the daemon is shutting down")))
            return
        }
        if lifecycle == .fresh, decoder.mode != .lines, method != "initialize", method != "auth" {
            reply(.failure(RPCError(code: ErrorCode.serverNotInitialized, message: "the session is not initialized: send initialize first")))
            return
        }
        switch method {
        case "initialize":
            reply(initialize(params))
            return
        case "auth":
            reply(authenticate(params))
            return
        case "shutdown":
            lifecycle = .shutDown
            shutdownRequested = true
            reply(.success(.null))
            return
        default:
            break
        }
        guard let handler = core.router.handler(for: method) else {
            reply(.failure(.methodNotFound(method)))
            return
        }
        guard pending[id] == nil else {
            reply(.failure(.invalidRequest("a request with id \(id) is already in flight")))
            return
        }
        guard pending.count < core.configuration.maxPendingRequests else {
            reply(.failure(RPCError(code: ErrorCode.limitExceeded,
                                    message: "too many requests in flight (limit \(core.configuration.maxPendingRequests))")))
            return
        }
        let request = PendingRequest(id: id, method: method) { [weak self] result in
            self?.pending.removeValue(forKey: id)
            reply(result)
            self?.closeIfDone()
        }
        if !inBatch {
            request.deliverEncoded = { [weak self] bytes in
                guard let self else { return }
                self.pending.removeValue(forKey: id)
                self.sendEncodedResult(id: id, result: bytes)
                self.closeIfDone()
            }
        }
        do {
            switch try handler(MethodContext(params: params, session: self, pending: request)) {
            case .result(let value):
                request.succeed(value)
            case .deferred:
                if !request.isFinished { pending[id] = request }
            }
        } catch {
            request.fail(error)
        }
    }

    private func initialize(_ params: Params) -> Result<JSONValue, RPCError> {
        guard lifecycle == .fresh else { return .failure(.invalidRequest("initialize was already called on this session")) }
        if case .failure(let error) = checkToken(params, required: !authenticated) { return .failure(error) }
        if let info = try? params.object("clientInfo"), let name = info["name"]?.stringValue {
            clientName = [name, info["version"]?.stringValue].compactMap { $0 }.joined(separator: " ")
        }
        lifecycle = .initialized
        return .success(core.initializeResult())
    }

    private func authenticate(_ params: Params) -> Result<JSONValue, RPCError> {
        if authenticated { return .success(["authenticated": true]) }  // Unix socket and stdio need no token
        if case .failure(let error) = checkToken(params, required: true) { return .failure(error) }
        return .success(["authenticated": true])
    }

    private func checkToken(_ params: Params, required: Bool) -> Result<Void, RPCError> {
        guard required else { return .success(()) }
        let offered = (try? params.string("token")) ?? nil
        guard let offered, let expected = core.configuration.token, TokenCheck.matches(offered, expected) else {
            core.counters.authFailures += 1
            logger.warning("authentication failed from \(peer)")
            closeAfterNextSend = "authentication failed"
            return .failure(RPCError(code: ErrorCode.unauthorized, message: "invalid or missing token"))
        }
        authenticated = true
        return .success(())
    }
}

/// Collects the replies of a batch and sends them as one array when the last one is in.
final class BatchReply {
    private var remaining: Int
    private var replies: [JSONValue] = []
    private let done: ([JSONValue]) -> Void

    init(count: Int, done: @escaping ([JSONValue]) -> Void) {
        remaining = count
        self.done = done
    }

    func add(_ reply: JSONValue?) {
        if let reply { replies.append(reply) }
        remaining -= 1
        if remaining == 0 { done(replies) }
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
