/// `node/get {view, id}`: everything about one node of a view (−32004 when the view has no such node).
public enum NodeGetRequest: RPCMethod {
    public static let method = "node/get"
    public typealias Params = NodeRef
    /// `NodeDetails`, rendered off the loop; clients read it as JSON.
    public typealias Result = JSONValue
}
