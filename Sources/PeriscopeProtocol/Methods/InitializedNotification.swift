/// `initialized {}` (client to server, LSP): sent after the `initialize` result; the daemon needs nothing from it
/// and reads no member of it (LSP clients may send members of their own).
public struct InitializedNotification: EmptyNotification {
    public static let method = "initialized"
    public static let direction = NotificationDirection.clientToServer

    public init() {}
}
