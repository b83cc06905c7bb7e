/// What one endpoint node holds, as reference counts over the sockets that contribute to it, so a socket
/// that comes or goes updates the node without replaying the other sockets.
final class EndpointState {
    enum Kind: UInt8 { case hostParent, processParent, adjacency }

    /// 24 bytes (value, count, kind in that order): an endpoint has about three, 20,000 endpoints at 10,000
    /// connections.
    struct Contribution {
        var value: String
        var count: Int32
        var kind: Kind
    }

    let id: String
    /// Sockets that name this endpoint (as local or remote side); the node exists while this is positive.
    var references = 0
    var contributions: [Contribution] = []
    /// Listed in the engine's dirty list this pass.
    var dirtyGeneration = -1

    init(id: String) { self.id = id }

    /// Counts one contribution; true when the node changes (the value is new).
    func add(_ kind: Kind, _ value: String) -> Bool {
        for i in contributions.indices where contributions[i].kind == kind && contributions[i].value == value {
            contributions[i].count += 1
            return false
        }
        contributions.append(Contribution(value: value, count: 1, kind: kind))
        return true
    }

    /// Uncounts one contribution; true when the node changes (the value is gone).
    func remove(_ kind: Kind, _ value: String) -> Bool {
        for i in contributions.indices where contributions[i].kind == kind && contributions[i].value == value {
            contributions[i].count -= 1
            if contributions[i].count > 0 { return false }
            contributions.remove(at: i)
            return true
        }
        return false
    }

    /// The endpoint node these counts describe; its parents and adjacency shared through `shared` with the
    /// other nodes that have the same.
    func node(sharing shared: inout SharedSets) -> Node {
        var parents: [TopologyKind: Set<String>] = [:]
        var adjacency: Set<String> = []
        for c in contributions {
            switch c.kind {
            case .hostParent: parents[.host, default: []].insert(c.value)
            case .processParent: parents[.process, default: []].insert(c.value)
            case .adjacency: adjacency.insert(c.value)
            }
        }
        return Node(id: id, topology: .endpoint, adjacency: shared.share(adjacency), parents: shared.share(parents))
    }
}
