/// The nodes of one topology by id: a dictionary split into shards, so that a copy shares every shard and a
/// mutation after the copy copies only the shard it touches (and the small array of shard references).
///
/// Why: reports are values handed from the collectors and the aggregator's merge queue to the loop (views,
/// history, publisher) while the producer keeps patching its own copy. With one `[String: Node]` the first
/// change after each hand-off copied the whole table — O(nodes) per revision (at 200 hosts most of the
/// aggregator's time). With shards it is O(shards + touched shards × shard size).
///
/// Layout: a power-of-two number of shards, each a `[String: Node]`; an id's shard is picked by a fixed
/// FNV-1a hash of its UTF-8 bytes (not Swift's per-process seeded `Hasher`), so the layout of a given set of
/// ids is the same in every process and run (reproducible benchmarks; shards can be compared across
/// aggregators). Flooding one shard with chosen ids only makes that shard larger: inside it the dictionary
/// still hashes with the seeded `Hasher`. The shard count doubles when the average shard passes
/// ``maximumAverage`` nodes (never shrinks, except on ``removeAll()``); a small table is one shard and skips the hash.
///
/// Behaves like the dictionary it replaces: equality and hashing by content, independent of order and layout;
/// iteration order is unspecified (as a dictionary's); `Codable` as `[String: Node]`, byte for byte.
///
/// A value type with no shared mutable state: any thread, like a dictionary.
public struct NodeTable: Sendable {
    /// Average nodes per shard above which the shard count doubles (after doubling: half of it).
    public static let maximumAverage = 64

    /// The shards; empty (no allocation) while the table is empty, otherwise a power-of-two count.
    private var shards: [[String: Node]]
    /// Nodes in all shards.
    public private(set) var count: Int

    /// An empty table.
    public init() {
        shards = []
        count = 0
    }

    /// A table holding the entries of `dictionary`.
    public init(_ dictionary: [String: Node]) {
        self.init()
        guard !dictionary.isEmpty else { return }
        if dictionary.count <= Self.maximumAverage {
            shards = [dictionary]  // shares the dictionary's storage
            count = dictionary.count
            return
        }
        reserveCapacity(dictionary.count)
        for (id, node) in dictionary { self[id] = node }
    }

    public var isEmpty: Bool { count == 0 }

    /// The shard count (a power of two, or 0 when never filled); for tests and figures.
    public var shardCount: Int { shards.count }

    /// The node with `id`; setting `nil` removes it. In place: `table[id]?.sets[k, default: []].insert(v)`.
    public subscript(id: String) -> Node? {
        get {
            guard !shards.isEmpty else { return nil }
            return shards[shard(of: id)][id]
        }
        _modify {
            if shards.isEmpty { shards = [[:]] }
            let i = shard(of: id)
            let before = shards[i].count
            defer {
                count += shards[i].count - before
                if count > shards.count * Self.maximumAverage { split(toAtLeast: shards.count * 2) }
            }
            yield &shards[i][id]
        }
    }

    /// Removes the node with `id` and returns it.
    @discardableResult
    public mutating func removeValue(forKey id: String) -> Node? {
        guard !shards.isEmpty else { return nil }
        let i = shard(of: id)
        guard let old = shards[i].removeValue(forKey: id) else { return nil }
        count -= 1
        return old
    }

    /// Removes every node (and the shards).
    public mutating func removeAll() {
        shards = []
        count = 0
    }

    /// Lays the shards out for `capacity` nodes, so filling the table up to it splits nothing.
    public mutating func reserveCapacity(_ capacity: Int) {
        var target = Swift.max(1, shards.count)
        while capacity > target * Self.maximumAverage { target *= 2 }
        if shards.isEmpty { shards = [[:]] }
        if target > shards.count { split(toAtLeast: target) }
    }

    /// The ids, in unspecified order.
    public var keys: Keys { Keys(table: self) }
    /// The nodes, in unspecified order.
    public var values: Values { Values(table: self) }

    /// The nodes passing `isIncluded`, as a table.
    public func filter(_ isIncluded: (Element) throws -> Bool) rethrows -> NodeTable {
        var out = NodeTable()
        for entry in self where try isIncluded(entry) { out[entry.key] = entry.value }
        return out
    }

    /// A dictionary of `transform` applied to every node.
    public func mapValues<T>(_ transform: (Node) throws -> T) rethrows -> [String: T] {
        var out: [String: T] = [:]
        out.reserveCapacity(count)
        for shard in shards {
            for (id, node) in shard { out[id] = try transform(node) }
        }
        return out
    }

    /// The table as one dictionary.
    public var dictionary: [String: Node] {
        if shards.count == 1 { return shards[0] }
        var out: [String: Node] = [:]
        out.reserveCapacity(count)
        for shard in shards { out.merge(shard) { a, _ in a } }
        return out
    }

    /// Calls `body` for every id whose node differs between `old` and this table, with the old and the new node
    /// (`nil` for absent). Shards this table still shares with `old` (same layout, untouched since a copy) are
    /// skipped without looking at their nodes, so the cost follows what changed since the copy.
    public func forEachDifference(from old: NodeTable, _ body: (String, Node?, Node?) throws -> Void) rethrows {
        _ = try differences(from: old) { id, before, after in
            try body(id, before, after)
            return true
        }
    }

    /// Like ``forEachDifference(from:_:)``, stopping as soon as `body` returns `false`. Returns whether every
    /// difference was visited.
    public func differences(from old: NodeTable, _ body: (String, Node?, Node?) throws -> Bool) rethrows -> Bool {
        if shards.count == old.shards.count {
            for i in shards.indices where shards[i] != old.shards[i] {  // identical storage compares in O(1)
                guard try Self.differences(old.shards[i], shards[i], body) else { return false }
            }
            return true
        }
        return try Self.differences(old.dictionary, dictionary, body)
    }

    private static func differences(_ old: [String: Node], _ new: [String: Node],
                                    _ body: (String, Node?, Node?) throws -> Bool) rethrows -> Bool {
        for (id, node) in new {
            let before = old[id]
            if before != node, try !body(id, before, node) { return false }
        }
        for (id, node) in old where new[id] == nil {
            guard try body(id, node, nil) else { return false }
        }
        return true
    }

    // MARK: Layout

    /// The shard `id` belongs in (the table has at least one shard).
    private func shard(of id: String) -> Int {
        shards.count == 1 ? 0 : Int(truncatingIfNeeded: Self.hash(id)) & (shards.count - 1)
    }

    /// FNV-1a over the UTF-8 bytes, then a finalizer so the low bits (the shard index) depend on every byte.
    static func hash(_ id: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in id.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        h ^= h >> 33
        h &*= 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        return h
    }

    /// Redistributes the nodes over `target` shards (a power of two larger than the current count).
    private mutating func split(toAtLeast target: Int) {
        let mask = target - 1
        var next = [[String: Node]](repeating: [:], count: target)
        let per = Swift.max(1, count / target)
        for i in next.indices { next[i].reserveCapacity(per + per / 2) }
        for shard in shards {
            for (id, node) in shard { next[Int(truncatingIfNeeded: Self.hash(id)) & mask][id] = node }
        }
        shards = next
    }
}

extension NodeTable: Sequence {
    public typealias Element = (key: String, value: Node)

    /// Walks the shards in order, each in its dictionary's order.
    public struct Iterator: IteratorProtocol {
        private let shards: [[String: Node]]
        private var index = 0
        private var inner: [String: Node].Iterator?

        init(_ shards: [[String: Node]]) {
            self.shards = shards
            inner = shards.first?.makeIterator()
        }

        public mutating func next() -> Element? {
            while inner != nil {
                if let entry = inner?.next() { return entry }
                index += 1
                inner = index < shards.count ? shards[index].makeIterator() : nil
            }
            return nil
        }
    }

    public func makeIterator() -> Iterator { Iterator(shards) }
    public var underestimatedCount: Int { count }

    /// The ids of a table.
    public struct Keys: Sequence, Sendable {
        let table: NodeTable
        public func makeIterator() -> LazyMapSequence<NodeTable, String>.Iterator { table.lazy.map(\.key).makeIterator() }
        public var count: Int { table.count }
        public var isEmpty: Bool { table.isEmpty }
        public var underestimatedCount: Int { table.count }
        /// Some id (the first in iteration order), `nil` when empty.
        public var first: String? { table.first { _ in true }?.key }
        /// Whether `id` is in the table, by lookup.
        public func contains(_ id: String) -> Bool { table[id] != nil }
    }

    /// The nodes of a table.
    public struct Values: Sequence, Sendable {
        let table: NodeTable
        public func makeIterator() -> LazyMapSequence<NodeTable, Node>.Iterator { table.lazy.map(\.value).makeIterator() }
        public var count: Int { table.count }
        public var isEmpty: Bool { table.isEmpty }
        public var underestimatedCount: Int { table.count }
        /// Some node (the first in iteration order), `nil` when empty.
        public var first: Node? { table.first { _ in true }?.value }
    }
}

extension NodeTable: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, Node)...) {
        self.init()
        for (id, node) in elements { self[id] = node }
    }
}

extension NodeTable: Hashable {
    /// Same ids with equal nodes, whatever the layout; shards shared with `other` compare in O(1).
    public static func == (a: NodeTable, b: NodeTable) -> Bool {
        guard a.count == b.count else { return false }
        if a.shards.count == b.shards.count { return a.shards == b.shards }
        for (id, node) in a where b[id] != node { return false }
        return true
    }

    /// Order- and layout-independent: each entry hashed on its own (seeded by `hasher`), combined with XOR.
    public func hash(into hasher: inout Hasher) {
        hasher.combineUnordered(self)
    }
}

extension NodeTable: Codable {
    /// Decodes what a `[String: Node]` encodes.
    public init(from decoder: any Decoder) throws {
        self.init(try decoder.singleValueContainer().decode([String: Node].self))
    }

    /// Encodes as a `[String: Node]` through the encoder's own dictionary handling, so the bytes are the
    /// dictionary's.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(dictionary)
    }
}

extension Hasher {
    /// Combines key-value pairs whatever their order (as a dictionary hashes): each pair hashed on its own, seeded
    /// by this hasher, the results combined with XOR.
    mutating func combineUnordered<S: Sequence, K: Hashable, V: Hashable>(_ pairs: S) where S.Element == (key: K, value: V) {
        var combined = 0
        for (key, value) in pairs {
            var one = self
            one.combine(key)
            one.combine(value)
            combined ^= one.finalize()
        }
        combine(combined)
    }
}
