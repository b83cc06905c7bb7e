/// `exit` (client to server): end the session now (after `shutdown`, or not). No params.
public struct ExitNotification: EmptyNotification {
    public static let method = "exit"
    public static let direction = NotificationDirection.clientToServer

    public init() {}
}
