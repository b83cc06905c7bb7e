/// The net changes of a `topology/changed` notification: what to add, replace and remove (SPEC §15.1). Node and
/// edge summaries stay JSON, as in the `topology/get` result they come from. Pure value.
public struct ViewChanges: Sendable, Hashable {
    /// Whole node and edge summaries (`added` and `updated`).
    public struct Group: Sendable, Hashable {
        public var nodes: [JSONValue]
        public var edges: [JSONValue]

        public init(nodes: [JSONValue] = [], edges: [JSONValue] = []) {
            self.nodes = nodes
            self.edges = edges
        }

        var json: JSONValue { ["nodes": .array(nodes), "edges": .array(edges)] }
    }

    /// Ids of the nodes and edges to remove.
    public struct Removed: Sendable, Hashable {
        public var nodes: [String]
        public var edges: [String]

        public init(nodes: [String] = [], edges: [String] = []) {
            self.nodes = nodes
            self.edges = edges
        }

        var json: JSONValue { ["nodes": JSONValue(nodes), "edges": JSONValue(edges)] }
    }

    public var added: Group
    public var updated: Group
    public var removed: Removed

    public init(added: Group = Group(), updated: Group = Group(), removed: Removed = Removed()) {
        self.added = added
        self.updated = updated
        self.removed = removed
    }

    /// Reads the `added` / `updated` / `removed` members of received params.
    init(_ reader: ParamReader) throws(RPCError) {
        func group(_ name: String) throws(RPCError) -> Group {
            let object = try reader.requiredObject(name)
            guard let nodes = object["nodes"]?.arrayValue, let edges = object["edges"]?.arrayValue else {
                throw RPCError.invalidParams("params.\(name) must have nodes and edges arrays")
            }
            return Group(nodes: nodes, edges: edges)
        }
        added = try group("added")
        updated = try group("updated")
        let removedObject = try reader.requiredObject("removed")
        removed = Removed(nodes: try reader.strings("nodes", in: removedObject),
                          edges: try reader.strings("edges", in: removedObject))
    }

    /// The members of the notification's params.
    var members: [String: JSONValue] { ["added": added.json, "updated": updated.json, "removed": removed.json] }
}
