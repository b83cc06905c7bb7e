/// One timestamped value of a ``LatestMap``.
public struct LatestEntry: Sendable, Hashable, Codable {
    /// Seconds since the Unix epoch when the value was observed.
    public var timestamp: Double
    public var value: String

    public init(timestamp: Double, value: String) {
        self.timestamp = timestamp
        self.value = value
    }

    /// The total order used by merges: newer timestamp wins; on equal timestamps the greater value wins, so the
    /// outcome does not depend on merge order.
    public static func precedes(_ a: LatestEntry, _ b: LatestEntry) -> Bool {
        let aBelow = a.timestamp.isTotallyOrdered(belowOrEqualTo: b.timestamp)
        let bBelow = b.timestamp.isTotallyOrdered(belowOrEqualTo: a.timestamp)
        if aBelow && bBelow { return a.value < b.value }
        return aBelow
    }
}

/// A last-writer-wins map from key to timestamped string.
///
/// Merging keeps, per key, the entry that is greatest under ``LatestEntry/precedes(_:_:)``; this is a
/// join-semilattice, so merging is associative, commutative and idempotent.
///
/// Storage: the entries in one array of key–entry slots, unordered, each key once, looked up by a linear scan.
/// A node has 5–20 keys; a dictionary of them costs twice the memory (a power-of-two table kept under 3/4 full:
/// a connection's 9 keys took 16 buckets, ~710 bytes, against ~400 here — 3.5 MB at 10,000 connections) and is
/// no faster to read at that size (hashing a key costs about what comparing a few short keys does).
///
/// A map can be *touched* (``touch(at:setting:to:)``): every entry moved to one timestamp and one key set. The touch
/// is held beside the stored entries instead of rewriting them, so a connection node refreshed each pass keeps
/// sharing its entries' storage with the node of the report still being served (before, every refresh copied the
/// entries: 10,000 connections cost a second set of them per pass). Everything that reads the map (``entries``,
/// iteration, ``subscript(_:)``, equality, hashing, coding) sees the entries as the touch made them; ``set(_:_:at:)``
/// and ``merge(_:)`` first fold the touch into the entries.
public struct LatestMap: Sendable, Hashable, Codable, Sequence {
    /// A pending touch: every stored entry is read at `timestamp`, and `key` as `value` at `timestamp`.
    private final class Touch: Sendable {
        let timestamp: Double
        let key: String
        let value: String
        /// Whether the stored entries have `key` (they do not change while the touch is held).
        let storedHasKey: Bool

        init(timestamp: Double, key: String, value: String, storedHasKey: Bool) {
            self.timestamp = timestamp
            self.key = key
            self.value = value
            self.storedHasKey = storedHasKey
        }

        func matches(_ other: String) -> Bool { LatestMap.same(other, key) }
    }

    /// One stored key and its entry.
    private struct Slot: Sendable, Equatable {
        var key: String
        var entry: LatestEntry
    }

    private var stored: ContiguousArray<Slot>
    private var touched: Touch?

    /// A map with `entries`.
    public init(_ entries: [String: LatestEntry] = [:]) {
        stored = []
        stored.reserveCapacity(entries.count)
        for (key, entry) in entries { stored.append(Slot(key: key, entry: entry)) }
        touched = nil
    }

    /// An empty map with room for `capacity` keys: a node whose keys are known ahead allocates its storage once.
    public init(minimumCapacity capacity: Int) {
        stored = []
        stored.reserveCapacity(capacity)
        touched = nil
    }

    /// Key equality, the length first (free for short strings, which all keys are).
    private static func same(_ a: String, _ b: String) -> Bool { a.utf8.count == b.utf8.count && a == b }

    private func index(of key: String) -> Int? {
        stored.firstIndex { Self.same($0.key, key) }
    }

    /// The entries, by key (a new dictionary: iterate the map itself to avoid building it).
    public var entries: [String: LatestEntry] {
        var out: [String: LatestEntry] = [:]
        out.reserveCapacity(count)
        for (key, entry) in self { out[key] = entry }
        return out
    }

    /// The current value for `key`.
    public subscript(key: String) -> String? {
        if let touched, touched.matches(key) { return touched.value }
        return index(of: key).map { stored[$0].entry.value }
    }

    /// The current entry for `key`.
    public func entry(_ key: String) -> LatestEntry? {
        guard let touched else { return index(of: key).map { stored[$0].entry } }
        if touched.matches(key) { return LatestEntry(timestamp: touched.timestamp, value: touched.value) }
        return index(of: key).map { LatestEntry(timestamp: touched.timestamp, value: stored[$0].entry.value) }
    }

    /// The number of keys.
    public var count: Int { stored.count + (touched.map { $0.storedHasKey ? 0 : 1 } ?? 0) }

    public var isEmpty: Bool { stored.isEmpty && touched == nil }

    /// Records `value` at `timestamp` unless a newer (or equal-timestamp, greater) entry is already present.
    public mutating func set(_ key: String, _ value: String, at timestamp: Double) {
        materialize()
        let entry = LatestEntry(timestamp: timestamp, value: value)
        if let i = index(of: key) {
            if LatestEntry.precedes(stored[i].entry, entry) { stored[i].entry = entry }
        } else {
            stored.append(Slot(key: key, entry: entry))
        }
    }

    /// Merges `other` into this map.
    public mutating func merge(_ other: LatestMap) {
        if isEmpty { self = other; return }
        materialize()
        for (key, entry) in other {
            if let i = index(of: key) {
                if LatestEntry.precedes(stored[i].entry, entry) { stored[i].entry = entry }
            } else {
                stored.append(Slot(key: key, entry: entry))
            }
        }
    }

    /// Moves every entry to `timestamp` (values unchanged) and sets `key` to `value`: what a fresh map with the
    /// same keys written at `timestamp` would hold. O(1), and the stored entries are not written (nor copied when
    /// shared); a second touch replaces the first.
    mutating func touch(at timestamp: Double, setting key: String, to value: String) {
        if let touched, !touched.matches(key) { materialize() }
        let has = touched?.storedHasKey ?? (index(of: key) != nil)
        touched = Touch(timestamp: timestamp, key: key, value: value, storedHasKey: has)
    }

    /// Whether the stored entries are those of `other` with a touch held on top (for tests: a touch shares them).
    func sharesStorage(with other: LatestMap) -> Bool {
        stored.withUnsafeBufferPointer { a in
            other.stored.withUnsafeBufferPointer { b in a.baseAddress != nil && a.baseAddress == b.baseAddress }
        }
    }

    /// Writes a held touch into the stored entries (copying them first when shared), in place.
    private mutating func materialize() {
        guard let touch = touched else { return }
        touched = nil
        var found = false
        for i in stored.indices {
            if !found && touch.matches(stored[i].key) {
                stored[i].entry = LatestEntry(timestamp: touch.timestamp, value: touch.value)
                found = true
            } else {
                stored[i].entry.timestamp = touch.timestamp
            }
        }
        if !found { stored.append(Slot(key: touch.key, entry: LatestEntry(timestamp: touch.timestamp, value: touch.value))) }
    }

    // MARK: Sequence

    /// Walks the entries as read (a held touch applied), in unspecified order, without building a dictionary.
    public struct Iterator: IteratorProtocol {
        private var inner: ContiguousArray<Slot>.Iterator
        private let touched: Touch?
        private var extraPending: Bool

        fileprivate init(_ map: LatestMap) {
            inner = map.stored.makeIterator()
            touched = map.touched
            extraPending = map.touched.map { !$0.storedHasKey } ?? false
        }

        public mutating func next() -> (key: String, value: LatestEntry)? {
            guard let touched else { return inner.next().map { ($0.key, $0.entry) } }
            if let slot = inner.next() {
                let value = touched.matches(slot.key) ? touched.value : slot.entry.value
                return (slot.key, LatestEntry(timestamp: touched.timestamp, value: value))
            }
            guard extraPending else { return nil }
            extraPending = false
            return (touched.key, LatestEntry(timestamp: touched.timestamp, value: touched.value))
        }
    }

    public func makeIterator() -> Iterator { Iterator(self) }
    public var underestimatedCount: Int { count }

    // MARK: Equality, hashing, coding (of the entries as read)

    public static func == (a: LatestMap, b: LatestMap) -> Bool {
        switch (a.touched, b.touched) {
        case (nil, nil):
            if a.stored == b.stored { return true }  // O(1) when the storage is shared; same keys in the same order
        case let (x?, y?) where x === y || (x.timestamp == y.timestamp && x.key == y.key && x.value == y.value):
            if a.stored == b.stored { return true }
        default:
            break
        }
        guard a.count == b.count else { return false }
        for (key, entry) in a where b.entry(key) != entry { return false }
        return true
    }

    /// Order-independent, as a dictionary's (see ``Swift/Hasher/combineUnordered(_:)``).
    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        hasher.combineUnordered(self)
    }

    private enum CodingKeys: String, CodingKey { case entries }

    /// Decodes what the map has always encoded: `{"entries": {key: entry}}`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(try container.decode([String: LatestEntry].self, forKey: .entries))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(entries, forKey: .entries)
    }
}
