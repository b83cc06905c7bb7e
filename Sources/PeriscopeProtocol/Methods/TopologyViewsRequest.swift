/// `topology/views`: every view with its options and its node and edge counts under default options.
public enum TopologyViewsRequest: RPCMethod {
    public static let method = "topology/views"
    public typealias Params = NoParams
    /// `{views: [{name, description, options, nodeCount, edgeCount}]}`, built by `ViewCatalog.listing`.
    public typealias Result = JSONValue
}
