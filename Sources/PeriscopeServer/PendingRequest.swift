import PeriscopeProtocol

/// A request whose answer comes later (a delayed ping, a render on a worker thread).
///
/// The handler keeps it and calls ``succeed(_:)`` or ``fail(_:)`` exactly once, on the loop thread.
/// `$/cancelRequest` or the end of the connection cancels it: the client gets −32800 at once,
/// ``onCancel`` runs so the handler can stop its work, and a later answer is dropped.
///
/// - Important: loop thread only.
public final class PendingRequest {
    public let id: RequestID
    public let method: String
    /// Runs when the request is cancelled (by the client, the connection closing, or shutdown).
    public var onCancel: (() -> Void)?
    public private(set) var isFinished = false
    private let deliver: (Result<JSONValue, RPCError>) -> Void
    /// Writes a result that is already JSON text (set for requests outside a batch).
    var deliverEncoded: (([UInt8]) -> Void)?

    init(id: RequestID, method: String, deliver: @escaping (Result<JSONValue, RPCError>) -> Void) {
        self.id = id
        self.method = method
        self.deliver = deliver
    }

    /// Answers with `result`, unless already answered or cancelled.
    public func succeed(_ result: JSONValue) { finish(.success(result)) }

    /// Answers with `result`, whose JSON text `encoded` was produced off the loop (large results:
    /// the loop then only copies bytes, so other clients are not held up by encoding).
    public func succeed(_ result: JSONValue, encoded: [UInt8]) {
        guard !isFinished else { return }
        guard let deliverEncoded else {
            finish(.success(result))
            return
        }
        isFinished = true
        onCancel = nil
        deliverEncoded(encoded)
    }

    /// Answers with `error`, unless already answered or cancelled.
    public func fail(_ error: RPCError) { finish(.failure(error)) }

    /// Cancels: answers −32800 (or `error`) and runs ``onCancel``.
    func cancel(_ error: RPCError = RPCError(code: ErrorCode.requestCancelled, message: "request cancelled")) {
        guard !isFinished else { return }
        finish(.failure(error))
        let handler = onCancel
        onCancel = nil
        handler?()
    }

    private func finish(_ result: Result<JSONValue, RPCError>) {
        guard !isFinished else { return }
        isFinished = true
        deliver(result)
    }
}
