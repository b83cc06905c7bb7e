/// `initialized {}` (client to server, LSP): sent after the `initialize` result; the daemon needs nothing from it
/// and reads no member of it.
public struct InitializedNotification: RPCNotification {
    public static let method = "initialized"
    public static let direction = NotificationDirection.clientToServer
    public static let memberNames: [String] = []
    public static let requiredMembers: [String] = []

    public init() {}

    /// Any object (LSP clients may send members of their own).
    public init(params: JSONValue?) throws(RPCError) {
        _ = try Self.reader(params)
    }

    public var params: JSONValue { [:] }
}
