/// `daemon/status`: version, endpoints, clients, loop, collectors' health and limits.
///
/// The result stays JSON: it is large, and its `collectors` member is open by design (one entry per source).
public enum DaemonStatusRequest: RPCMethod {
    public static let method = "daemon/status"
    public typealias Params = NoParams
    public typealias Result = JSONValue
}
