/// `shutdown`: ends the session (LSP lifecycle); only the `exit` notification is accepted after it.
///
/// The schema says it takes no params; the daemon does not look at them (LSP clients send `null` or `{}`).
public enum ShutdownRequest: RPCMethod {
    public static let method = "shutdown"
    public typealias Params = NoParams
    public typealias Result = NullResult
}
