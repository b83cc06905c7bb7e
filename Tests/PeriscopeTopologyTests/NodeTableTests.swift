import Foundation
import PeriscopeFixtures
import PeriscopeTopology
import Testing

@Suite("Node table")
struct NodeTableTests {
    private static func node(_ id: String, _ value: Int) -> Node {
        var node = Node(id: id, topology: .endpoint)
        node.set("v", String(value), at: Double(value))
        return node
    }

    /// Checks `table` against `model` through every read the table offers.
    private static func expectSame(_ table: NodeTable, _ model: [String: Node], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(table.count == model.count, sourceLocation: sourceLocation)
        #expect(table.isEmpty == model.isEmpty, sourceLocation: sourceLocation)
        #expect(table.dictionary == model, sourceLocation: sourceLocation)
        #expect(Set(table.keys) == Set(model.keys), sourceLocation: sourceLocation)
        #expect(table.values.count == model.count, sourceLocation: sourceLocation)
        #expect(Array(table).count == model.count, sourceLocation: sourceLocation)  // no id twice
        for (id, node) in model { #expect(table[id] == node, sourceLocation: sourceLocation) }
        #expect(table == NodeTable(model), sourceLocation: sourceLocation)
    }

    /// Random inserts, replacements, in-place edits and removals, through the shard splits, against a dictionary;
    /// after each batch a copy is taken and kept, and must not see later changes.
    @Test(arguments: [1, 7, 42])
    func randomOperationsMatchADictionary(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var table = NodeTable()
        var model: [String: Node] = [:]
        var copies: [(NodeTable, [String: Node])] = []
        for step in 0..<6000 {
            let id = "h\(rng.next() % 3);10.0.\(rng.next() % 40).\(rng.next() % 100)"
            switch rng.next() % 10 {
            case 0, 1:
                #expect(table.removeValue(forKey: id) == model.removeValue(forKey: id))
            case 2:
                table[id] = nil
                model[id] = nil
            case 3:
                table[id]?.set("e", "\(step)", at: Double(step))
                model[id]?.set("e", "\(step)", at: Double(step))
            default:
                let node = Self.node(id, step)
                table[id] = node
                model[id] = node
            }
            if step % 500 == 499 {
                Self.expectSame(table, model)
                copies.append((table, model))
            }
        }
        #expect(table.shardCount > 1)  // the splits were exercised
        for (copy, snapshot) in copies { Self.expectSame(copy, snapshot) }
        table.removeAll()
        Self.expectSame(table, [:])
        for (copy, snapshot) in copies { Self.expectSame(copy, snapshot) }
    }

    /// A change to a copy leaves the original as it was, and only the touched shard stops being shared.
    @Test func aCopyChangesIndependently() {
        var original = NodeTable()
        for i in 0..<5000 { original["n\(i)"] = Self.node("n\(i)", i) }
        var copy = original
        copy["n1"] = Self.node("n1", -1)
        copy["new"] = Self.node("new", 0)
        copy.removeValue(forKey: "n2")
        #expect(original["n1"] == Self.node("n1", 1))
        #expect(original["new"] == nil && original["n2"] != nil && original.count == 5000)
        #expect(copy.count == 5000 && copy["n1"] == Self.node("n1", -1))
        var seen: [String] = []
        copy.forEachDifference(from: original) { id, _, _ in seen.append(id) }
        #expect(seen.sorted() == ["n1", "n2", "new"])
        var back: [String] = []
        original.forEachDifference(from: copy) { id, old, new in
            back.append(id)
            #expect(old == copy[id] && new == original[id])
        }
        #expect(back.sorted() == ["n1", "n2", "new"])
    }

    /// Equal content is equal, with the same hash, whatever the insertion order and the shard layout.
    @Test func equalityAndHashIgnoreOrderAndLayout() {
        let nodes = (0..<300).map { Self.node("id\($0)", $0) }
        var forward = NodeTable(), backward = NodeTable(), grownThenShrunk = NodeTable()
        for node in nodes { forward[node.id] = node }
        for node in nodes.reversed() { backward[node.id] = node }
        for i in 0..<2000 { grownThenShrunk["extra\(i)"] = Self.node("extra\(i)", i) }
        for node in nodes { grownThenShrunk[node.id] = node }
        for i in 0..<2000 { grownThenShrunk["extra\(i)"] = nil }
        #expect(grownThenShrunk.shardCount != forward.shardCount)
        for other in [backward, grownThenShrunk] {
            #expect(forward == other)
            #expect(forward.hashValue == other.hashValue)
        }
        var different = forward
        different["id5"] = Self.node("id5", 6)
        #expect(different != forward)
        #expect(different != grownThenShrunk)
    }

    /// The coded form is the dictionary's: the same JSON, decoded into an equal table.
    @Test func codableIsTheDictionarys() throws {
        var model: [String: Node] = [:]
        for i in 0..<400 { model["n\(i)"] = Self.node("n\(i)", i) }
        let table = NodeTable(model)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let tableJSON = try encoder.encode(Topology(kind: .endpoint, nodes: table))
        let plain = try encoder.encode(PlainTopology(kind: .endpoint, nodes: model))
        #expect(tableJSON == plain)
        let decoded = try JSONDecoder().decode(Topology.self, from: plain)
        #expect(decoded.nodes == table)
        #expect(decoded.nodes.dictionary == model)
    }

    /// What `Topology` was before the table: its synthesized coding is the reference.
    private struct PlainTopology: Codable {
        var kind: TopologyKind
        var nodes: [String: Node]
    }

    /// Merging into an empty topology takes the other's table as it is (no node copied).
    @Test func mergeIntoEmptyTakesTheTable() {
        var other = Topology(kind: .endpoint)
        for i in 0..<1000 { other.add(Self.node("n\(i)", i)) }
        var empty = Topology(kind: .endpoint)
        empty.merge(other)
        var changed: [String] = []
        empty.nodes.forEachDifference(from: other.nodes) { id, _, _ in changed.append(id) }
        #expect(changed.isEmpty && empty.nodes == other.nodes)
        #expect(empty.nodes["n1"]?.isIdentical(to: other.nodes["n1"] ?? Self.node("x", 0)) == true)
    }
}
