/// A JSON-RPC error object: a code, a message, and optional data. Thrown by method handlers and sent
/// to the peer as-is, so messages are written for the client's user.
public struct RPCError: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: Int
    public var message: String
    public var data: JSONValue?

    public init(code: Int, message: String, data: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    public var json: JSONValue {
        var members: [String: JSONValue] = ["code": .int(Int64(code)), "message": .string(message)]
        if let data { members["data"] = data }
        return .object(members)
    }

    public var description: String { "\(code): \(message)" }

    public init?(json: JSONValue) {
        guard let code = json["code"]?.intValue, let message = json["message"]?.stringValue else { return nil }
        self.init(code: Int(code), message: message, data: json["data"])
    }
}

/// Every error code Periscope sends. The JSON-RPC 2.0 codes, the LSP ones it adopts, and its own
/// in the server-defined range −32000…−32099. `protocol/SPEC.md` lists them for client authors.
public enum ErrorCode {
    /// Invalid JSON was received.
    public static let parseError = -32700
    /// The JSON is not a valid request object (or the message is too large, or sent after `shutdown`).
    public static let invalidRequest = -32600
    public static let methodNotFound = -32601
    /// A parameter is missing or has the wrong type; the message names it.
    public static let invalidParams = -32602
    public static let internalError = -32603
    /// LSP: a request other than `initialize` arrived before `initialize`.
    public static let serverNotInitialized = -32002
    /// LSP: the request was cancelled by `$/cancelRequest`.
    public static let requestCancelled = -32800
    /// Authentication is required (TCP) or the token is wrong.
    public static let unauthorized = -32001
    /// The daemon is shutting down and will not run the request.
    public static let shuttingDown = -32003
    /// A request that needs a resource the daemon does not have (unknown view, node, subscription).
    public static let notFound = -32004
    /// A per-connection or daemon-wide limit was reached (the message names it).
    public static let limitExceeded = -32005
    /// A control was invoked that is not enabled on this daemon.
    public static let controlDisabled = -32010
}

extension RPCError {
    public static func invalidParams(_ message: String) -> RPCError {
        RPCError(code: ErrorCode.invalidParams, message: message)
    }

    public static func methodNotFound(_ method: String) -> RPCError {
        RPCError(code: ErrorCode.methodNotFound, message: "method not found: \(method)")
    }

    public static func invalidRequest(_ message: String) -> RPCError {
        RPCError(code: ErrorCode.invalidRequest, message: message)
    }

    public static func internalError(_ message: String) -> RPCError {
        RPCError(code: ErrorCode.internalError, message: message)
    }

    public static func notFound(_ message: String) -> RPCError {
        RPCError(code: ErrorCode.notFound, message: message)
    }
}
