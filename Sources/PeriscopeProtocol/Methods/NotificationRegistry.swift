/// Every notification of the protocol, by type. `protocol/schema.json`'s `notifications` lists the same ones with
/// the same members (a test holds them together).
public enum NotificationRegistry {
    /// Every notification type.
    public static let all: [any RPCNotification.Type] = [
        InitializedNotification.self,
        ExitNotification.self,
        CancelRequestNotification.self,
        ProgressNotification.self,
        TopologyChangedNotification.self,
        NodeChangedNotification.self,
        PipeDataNotification.self,
    ]

    /// The notification type named `name`, if any.
    public static func type(named name: String) -> (any RPCNotification.Type)? {
        all.first { $0.method == name }
    }

    /// The names of those sent in `direction`.
    public static func names(_ direction: NotificationDirection) -> [String] {
        all.filter { $0.direction == direction }.map { $0.method }
    }
}
