/// `forward/response {call, result?, error?}` (report port, publisher to aggregator): the answer to the
/// `forward/request` numbered `call` — its result, or its JSON-RPC error (`{code, message, data?}`).
public struct ForwardResponseNotification: RPCNotification {
    public static let method = "forward/response"
    public static let direction = NotificationDirection.publisherToAggregator
    public static let memberNames = ["call", "result", "error"]
    public static let requiredMembers = ["call"]

    public var call: Int64
    public var outcome: Result<JSONValue, RPCError>

    public init(call: Int64, outcome: Result<JSONValue, RPCError>) {
        self.call = call
        self.outcome = outcome
    }

    public init(params: JSONValue?) throws(RPCError) {
        let reader = try Self.reader(params)
        call = try reader.requiredInt("call")
        if let error = reader.value("error") {
            guard let decoded = RPCError(json: error) else { throw .invalidParams("params.error must be {code, message, data?}") }
            outcome = .failure(decoded)
        } else {
            outcome = .success(reader.value("result") ?? .null)
        }
    }

    public var params: JSONValue {
        switch outcome {
        case .success(let result): return ["call": .int(call), "result": result]
        case .failure(let error): return ["call": .int(call), "error": error.json]
        }
    }
}
