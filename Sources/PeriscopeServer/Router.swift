import PeriscopeProtocol

/// What a method handler returns: an answer now, or a promise to answer through the ``PendingRequest``.
public enum Reply {
    case result(JSONValue)
    case deferred
}

/// What a method handler gets: its params, the calling session, and (for requests) the pending handle
/// to answer later with.
///
/// - Important: loop thread only.
public struct MethodContext {
    public let params: Params
    public let session: Session
    /// `nil` for notifications.
    public let pending: PendingRequest?
}

/// Method name → handler. Services register their methods at start; sessions dispatch through it.
///
/// - Important: register before serving; dispatch on the loop thread.
public final class Router {
    public typealias Handler = (MethodContext) throws(RPCError) -> Reply

    private var handlers: [String: Handler] = [:]

    public init() {}

    /// Registers `handler` for `method`, replacing any earlier one.
    public func register(_ method: String, _ handler: @escaping Handler) {
        handlers[method] = handler
    }

    /// The handler of `method`, if any.
    public func handler(for method: String) -> Handler? { handlers[method] }

    /// Every registered method, sorted (for `daemon/status` and the spec test).
    public var methods: [String] { handlers.keys.sorted() }
}
