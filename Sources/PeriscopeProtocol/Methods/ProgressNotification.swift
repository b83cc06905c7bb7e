/// `$/progress {token, value}` (LSP work-done progress): sent around a request that carried a `workDoneToken`.
public struct ProgressNotification: RPCNotification {
    public static let method = "$/progress"
    public static let direction = NotificationDirection.serverToClient
    public static let memberNames = ["token", "value"]
    public static let requiredMembers = ["token", "value"]

    /// One step of the work: `begin` (with a title), `report`, or `end`.
    public struct Value: Sendable, Hashable {
        public enum Kind: String, Sendable, Hashable { case begin, report, end }

        public var kind: Kind
        public var title: String?
        public var cancellable: Bool?
        public var message: String?
        public var percentage: Int64?

        public init(kind: Kind, title: String? = nil, cancellable: Bool? = nil, message: String? = nil,
                    percentage: Int64? = nil) {
            self.kind = kind
            self.title = title
            self.cancellable = cancellable
            self.message = message
            self.percentage = percentage
        }

        /// The work begins.
        public static func begin(_ title: String, cancellable: Bool) -> Value {
            Value(kind: .begin, title: title, cancellable: cancellable)
        }

        /// The work ended (`message`: how, when not plainly).
        public static func end(_ message: String? = nil) -> Value { Value(kind: .end, message: message) }

        var json: JSONValue {
            var writer = ParamWriter()
            writer.set("kind", kind.rawValue)
            writer.set("title", title)
            writer.set("cancellable", cancellable.map(JSONValue.bool))
            writer.set("message", message)
            writer.set("percentage", percentage)
            return writer.json
        }
    }

    /// The request's `workDoneToken`: a string or an integer.
    public var token: JSONValue
    public var value: Value

    public init(token: JSONValue, value: Value) {
        self.token = token
        self.value = value
    }

    public init(params: JSONValue?) throws(RPCError) {
        let reader = try Self.reader(params)
        guard let token = reader.value("token"), token.stringValue != nil || token.intValue != nil else {
            throw RPCError.invalidParams("params.token must be a string or an integer")
        }
        let value = try ParamReader(.object(try reader.requiredObject("value")), allowing: nil)
        guard let kind = try value.string("kind").flatMap(Value.Kind.init(rawValue:)) else {
            throw RPCError.invalidParams("params.value.kind must be begin, report or end")
        }
        self.token = token
        self.value = try Value(kind: kind, title: value.string("title"), cancellable: value.bool("cancellable"),
                               message: value.string("message"), percentage: value.int("percentage", in: 0...100))
    }

    public var params: JSONValue { ["token": token, "value": value.json] }
}
