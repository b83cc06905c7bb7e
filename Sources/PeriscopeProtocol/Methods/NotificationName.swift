/// The notifications of the protocol, by name (`protocol/schema.json`'s `notifications` lists the same ones).
public enum NotificationName {
    /// Client to server, after the `initialize` result (LSP); the daemon needs nothing from it.
    public static let initialized = "initialized"
    /// Client to server: end the session (after `shutdown`, or not).
    public static let exit = "exit"
    /// Client to server `{id}`: cancel a request in flight (answered −32800).
    public static let cancelRequest = "$/cancelRequest"
    /// Server to client `{token, value}`: progress of a request that carried a `workDoneToken`.
    public static let progress = "$/progress"
    /// Server to client: net changes of a `topology/subscribe` subscription.
    public static let topologyChanged = "topology/changed"
    /// Server to client: new details (or removal) of a `node/subscribe` node.
    public static let nodeChanged = "node/changed"
    /// Server to client: output of a pipe (base64), the last one with `eof`.
    public static let pipeData = "pipe/data"

    /// Those a client sends.
    public static let clientToServer = [initialized, exit, cancelRequest]
    /// Those the daemon sends.
    public static let serverToClient = [progress, topologyChanged, nodeChanged, pipeData]
}
