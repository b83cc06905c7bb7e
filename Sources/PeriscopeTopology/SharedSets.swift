/// Hands out one storage for equal small sets and parent maps, so that the nodes the topology engine writes share
/// them: at 10,000 connections most endpoint nodes have the same parents (their host and one of a few hundred
/// processes) and the same one-element adjacency (the server endpoint of a listener), and every connection node
/// the same host parent. Each would otherwise be its own allocation per node.
///
/// Sharing changes nothing but memory: the values are equal, and a node that changes one copies it first (copy on
/// write). The table forgets everything once it passes ``limit`` values, so it stays bounded under churn.
///
/// A value type; ``TopologyEngine`` keeps one and uses it from the builder's thread.
struct SharedSets {
    /// Distinct values kept before the table is emptied.
    static let limit = 4096

    private var sets: Set<Set<String>> = []
    private var parents: Set<[TopologyKind: Set<String>]> = []

    /// `set`, or an equal set handed out before.
    mutating func share(_ set: Set<String>) -> Set<String> {
        if set.isEmpty { return set }
        if sets.count >= Self.limit { sets.removeAll() }
        return sets.insert(set).memberAfterInsert
    }

    /// `parents` with each set shared, or an equal map handed out before.
    mutating func share(_ parents: [TopologyKind: Set<String>]) -> [TopologyKind: Set<String>] {
        if parents.isEmpty { return parents }
        if let known = self.parents.firstIndex(of: parents) { return self.parents[known] }
        if self.parents.count >= Self.limit { self.parents.removeAll() }
        let shared = parents.mapValues { share($0) }
        self.parents.insert(shared)
        return shared
    }
}
