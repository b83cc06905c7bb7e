/// `forward/request {call, client, who, method, params}` (report port, aggregator to publisher): a client of the
/// aggregator called `method` (`control/invoke`, `pipe/write`, `pipe/resize` or `pipe/close`) on a node or pipe of
/// the publisher's host. The publisher runs it as a call of its own forwarded session for aggregator client
/// `client` (pipes belong to that session) and answers with `forward/response` of the same `call`. `who` names the
/// aggregator's client for the publisher's audit log.
public struct ForwardRequestNotification: RPCNotification {
    public static let method = "forward/request"
    public static let direction = NotificationDirection.aggregatorToPublisher
    public static let memberNames = ["call", "client", "who", "method", "params"]
    public static let requiredMembers = ["call", "client", "who", "method", "params"]
    /// The methods an aggregator may forward.
    public static let forwardable: Set<String> = [ControlInvokeRequest.method, PipeWriteRequest.method,
                                                  PipeResizeRequest.method, PipeCloseRequest.method]

    /// The aggregator's number for this call (unique on the link).
    public var call: Int64
    /// The aggregator's session id of the client that called.
    public var client: Int64
    public var who: String
    public var forwardedMethod: String
    public var forwardedParams: JSONValue

    public init(call: Int64, client: Int64, who: String, method: String, params: JSONValue) {
        self.call = call
        self.client = client
        self.who = who
        forwardedMethod = method
        forwardedParams = params
    }

    public init(params: JSONValue?) throws(RPCError) {
        let reader = try Self.reader(params)
        let method = try reader.requiredString("method")
        guard Self.forwardable.contains(method) else { throw .invalidParams("params.method: '\(method)' cannot be forwarded") }
        try self.init(call: reader.requiredInt("call"), client: reader.requiredInt("client"), who: reader.requiredString("who"),
                      method: method, params: .object(reader.requiredObject("params")))
    }

    public var params: JSONValue {
        ["call": .int(call), "client": .int(client), "who": .string(who), "method": .string(forwardedMethod),
         "params": forwardedParams]
    }
}
