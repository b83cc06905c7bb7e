/// The notification names, for switches and filters; each is its type's ``RPCNotification/method``.
public enum NotificationName {
    /// Client to server, after the `initialize` result (LSP); the daemon needs nothing from it.
    public static let initialized = InitializedNotification.method
    /// Client to server: end the session (after `shutdown`, or not).
    public static let exit = ExitNotification.method
    /// Client to server `{id}`: cancel a request in flight (answered −32800).
    public static let cancelRequest = CancelRequestNotification.method
    /// Server to client `{token, value}`: progress of a request that carried a `workDoneToken`.
    public static let progress = ProgressNotification.method
    /// Server to client: net changes of a `topology/subscribe` subscription.
    public static let topologyChanged = TopologyChangedNotification.method
    /// Server to client: new details (or removal) of a `node/subscribe` node.
    public static let nodeChanged = NodeChangedNotification.method
    /// Server to client: output of a pipe (base64), the last one with `eof`.
    public static let pipeData = PipeDataNotification.method

    /// Those a client sends.
    public static var clientToServer: [String] { NotificationRegistry.names(.clientToServer) }
    /// Those the daemon sends.
    public static var serverToClient: [String] { NotificationRegistry.names(.serverToClient) }
}
