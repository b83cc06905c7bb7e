/// `daemon/ping {delayMs?, workDoneToken?}`: answers `{pong: true}`, after `delayMs` when given (cancellable,
/// with `$/progress` begin and end around it when a `workDoneToken` is given).
public enum DaemonPingRequest: RPCMethod {
    public static let method = "daemon/ping"

    public struct Params: RPCParams {
        public static let memberNames = ["delayMs", "workDoneToken"]
        public static let requiredMembers: [String] = []
        /// The longest delay a client may ask for.
        public static let delayRange: ClosedRange<Int64> = 0...60_000

        /// Milliseconds to wait before answering (0 when absent).
        public var delayMs: Int64?
        /// A progress token: a string or an integer.
        public var workDoneToken: JSONValue?

        public init(delayMs: Int64? = nil, workDoneToken: JSONValue? = nil) {
            self.delayMs = delayMs
            self.workDoneToken = workDoneToken
        }

        public init(json: JSONValue?) throws(RPCError) {
            let reader = try ParamReader(json, allowing: Set(Self.memberNames))
            delayMs = try reader.int("delayMs", in: Self.delayRange)
            workDoneToken = reader.value("workDoneToken")
            if let token = workDoneToken, token.stringValue == nil, token.intValue == nil {
                throw RPCError.invalidParams("params.workDoneToken must be a string or an integer, got \(token.typeName)")
            }
        }

        public var json: JSONValue? {
            guard delayMs != nil || workDoneToken != nil else { return nil }
            var writer = ParamWriter()
            writer.set("delayMs", delayMs)
            writer.set("workDoneToken", workDoneToken)
            return writer.json
        }
    }

    /// `{pong: true}`.
    public struct Result: RPCResult, Hashable {
        public init() {}

        public init(json: JSONValue) throws(MalformedResult) {
            try ResultReader(json).isTrue("pong")
        }

        public var json: JSONValue { ["pong": true] }
    }
}
