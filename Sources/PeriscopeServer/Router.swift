import PeriscopeProtocol

/// What a method handler returns: an answer now, or a promise to answer through the ``PendingRequest``.
public enum Reply<Result: RPCResult> {
    /// Answer now with this result.
    case result(Result)
    /// The handler answers later through ``MethodContext/pending`` (or, for a notification, not at all).
    case deferred
}

extension Reply {
    /// The reply with its result in JSON form.
    var erased: Reply<JSONValue> {
        switch self {
        case .result(let result): return .result(result.json)
        case .deferred: return .deferred
        }
    }
}

/// What a method handler gets besides its params: the calling session, and (for requests) the pending
/// handle to answer later with.
///
/// - Important: loop thread only.
public struct MethodContext {
    public let session: Session
    /// `nil` for notifications.
    public let pending: PendingRequest?
}

/// A registered method: decodes the raw `params` and runs the handler.
public protocol MethodHandler {
    /// Decodes `raw` (−32602 on a bad one) and runs the handler; the result comes back in JSON form.
    func handle(_ context: MethodContext, _ raw: JSONValue?) throws(RPCError) -> Reply<JSONValue>
}

/// The handler of method `M`, with its params decoding in front.
struct TypedHandler<M: RPCMethod>: MethodHandler {
    let body: (MethodContext, M.Params) throws(RPCError) -> Reply<M.Result>

    func handle(_ context: MethodContext, _ raw: JSONValue?) throws(RPCError) -> Reply<JSONValue> {
        let params = try M.Params(json: raw)
        return try body(context, params).erased
    }
}

/// Method type → handler. Services register their methods at start; sessions dispatch through it.
///
/// - Important: register before serving; dispatch on the loop thread.
public final class Router {
    private var handlers: [String: any MethodHandler] = [:]

    public init() {}

    /// Registers `handler` for `M`, replacing any earlier one. Params are decoded and checked (``RPCParams``)
    /// before the handler runs: a bad one is answered −32602 without reaching it.
    public func register<M: RPCMethod>(_ method: M.Type,
                                       _ handler: @escaping (MethodContext, M.Params) throws(RPCError) -> Reply<M.Result>) {
        handlers[M.method] = TypedHandler<M>(body: handler)
    }

    /// Registers `handler` under `name`, replacing any earlier one: for a service that wraps another's handler
    /// (``ControlForwarder`` sends some calls to other hosts and hands the rest to the handler it replaced).
    public func register(_ name: String, _ handler: any MethodHandler) {
        handlers[name] = handler
    }

    /// The handler of the method named `method`, if any.
    public func handler(for method: String) -> (any MethodHandler)? { handlers[method] }

    /// Every registered method, sorted (for `initialize` and `daemon/status`).
    public var methods: [String] { handlers.keys.sorted() }
}
