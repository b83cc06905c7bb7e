/// `exit` (client to server): end the session now (after `shutdown`, or not). No params.
public struct ExitNotification: RPCNotification {
    public static let method = "exit"
    public static let direction = NotificationDirection.clientToServer
    public static let memberNames: [String] = []
    public static let requiredMembers: [String] = []

    public init() {}

    public init(params: JSONValue?) throws(RPCError) {
        _ = try Self.reader(params)
    }

    public var params: JSONValue { [:] }
}
