/// `topology/get {view, options?, filter?}`: one view at the current revision.
public enum TopologyGetRequest: RPCMethod {
    public static let method = "topology/get"
    public typealias Params = ViewQuery
    /// `{view, revision, nodes, edges}`, rendered and encoded off the loop by `RenderedView`; clients read it as JSON.
    public typealias Result = JSONValue
}
