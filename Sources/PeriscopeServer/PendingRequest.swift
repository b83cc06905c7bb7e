import PeriscopeProtocol

/// A request whose answer comes later (a delayed ping, a render on a worker thread).
///
/// The handler keeps it and calls ``succeed(_:)``, ``succeed(encoded:)`` or ``fail(_:)`` exactly once,
/// on the loop thread. `$/cancelRequest` or the end of the connection cancels it: the client gets
/// −32800 at once, ``onCancel`` runs so the handler can stop its work, and a later answer is dropped.
///
/// - Important: loop thread only.
public final class PendingRequest {
    public let id: RequestID
    public let method: String
    /// Runs when the request is cancelled (by the client, the connection closing, or shutdown).
    public var onCancel: (() -> Void)?
    public private(set) var isFinished = false
    /// Receives the result's JSON text, or the error.
    private let deliver: (Result<[UInt8], RPCError>) -> Void

    init(id: RequestID, method: String, deliver: @escaping (Result<[UInt8], RPCError>) -> Void) {
        self.id = id
        self.method = method
        self.deliver = deliver
    }

    /// Answers with `result`, unless already answered or cancelled.
    public func succeed(_ result: JSONValue) {
        guard !isFinished else { return }
        finish(.success(JSONWriter.bytes(result)))
    }

    /// Answers with a typed result (its JSON form), unless already answered or cancelled.
    public func succeed<R: RPCResult>(_ result: R) { succeed(result.json) }

    /// Answers with a result that is JSON text already, produced off the loop (large results: the loop
    /// then only queues shared bytes, so other clients are not held up by encoding).
    public func succeed(encoded: [UInt8]) { finish(.success(encoded)) }

    /// Answers with `error`, unless already answered or cancelled.
    public func fail(_ error: RPCError) { finish(.failure(error)) }

    /// Cancels: answers −32800 (or `error`) and runs ``onCancel``.
    func cancel(_ error: RPCError = RPCError(code: ErrorCode.requestCancelled, message: "request cancelled")) {
        guard !isFinished else { return }
        let handler = onCancel
        finish(.failure(error))
        handler?()
    }

    private func finish(_ result: Result<[UInt8], RPCError>) {
        guard !isFinished else { return }
        isFinished = true
        onCancel = nil
        deliver(result)
    }
}
