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

    init(id: RequestID, method: String, deliver: @escaping (Result<JSONValue, RPCError>) -> Void) {
        self.id = id
        self.method = method
        self.deliver = deliver
    }

    /// Answers with `result`, unless already answered or cancelled.
    public func succeed(_ result: JSONValue) { finish(.success(result)) }

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
