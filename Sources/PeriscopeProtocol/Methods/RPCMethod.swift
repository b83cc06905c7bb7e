/// A request method of the Periscope protocol: its name on the wire, the params it takes and the result it
/// answers with. One type per method, in `Sources/PeriscopeProtocol/Methods/`; ``MethodRegistry`` lists them
/// all, and a test holds them to `protocol/schema.json`.
///
/// The daemon registers handlers by type (the params arrive decoded and checked); clients build requests from
/// the typed params and decode the typed result, so no method name is written twice.
public protocol RPCMethod: Sendable {
    /// The params a request carries.
    associatedtype Params: RPCParams
    /// The `result` of a success response.
    associatedtype Result: RPCResult
    /// The method name on the wire, e.g. `topology/get`.
    static var method: String { get }
}

/// The `params` of one method, decoded from and encoded to JSON.
///
/// Decoding is as strict as the daemon: params must be an object (absent, `null` and `[]` read as `{}`),
/// unknown members are refused, and every member's type and range are checked; each failure is a −32602
/// ``RPCError`` whose message names the member (`params.delayMs must be …`).
public protocol RPCParams: Sendable, Hashable {
    /// Every member the params may carry (the schema's `properties`).
    static var memberNames: [String] { get }
    /// The members a request must carry (the schema's `required`).
    static var requiredMembers: [String] { get }
    /// Decodes and checks `params` (`nil` when the request has none).
    init(json: JSONValue?) throws(RPCError)
    /// The `params` member to send; `nil` to send none.
    var json: JSONValue? { get }
}

/// The `result` of one method.
public protocol RPCResult: Sendable {
    /// Decodes a result received from the daemon.
    init(json: JSONValue) throws(MalformedResult)
    /// The `result` member to send.
    var json: JSONValue { get }
}

/// A result that does not have the shape its method promises (a client-side check).
public struct MalformedResult: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong, naming the member (`result.pong is missing`).
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }

    /// The error for a required member that is absent or of the wrong type.
    public static func member(_ path: String, _ expected: String, in value: JSONValue?) -> MalformedResult {
        guard let value else { return MalformedResult("result.\(path) is missing (\(expected))") }
        return MalformedResult("result.\(path) must be \(expected), got \(value.typeName)")
    }
}

/// Results too large or too open to type member by member (views, reports, status) stay JSON.
extension JSONValue: RPCResult {
    public init(json: JSONValue) { self = json }
}

/// The `null` result of methods that answer nothing but success.
public struct NullResult: RPCResult, Hashable {
    /// The result.
    public static let null = NullResult()

    public init() {}

    public init(json: JSONValue) throws(MalformedResult) {
        guard json.isNull else { throw MalformedResult("result must be null, got \(json.typeName)") }
    }

    public var json: JSONValue { .null }
}

/// The params of methods that take none: absent, `null`, `{}` or `[]`.
public struct NoParams: RPCParams {
    public static let memberNames: [String] = []
    public static let requiredMembers: [String] = []

    public init() {}

    public init(json: JSONValue?) throws(RPCError) {
        _ = try ParamReader(json, allowing: [])
    }

    public var json: JSONValue? { nil }
}
