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
/// A map can be *touched* (``touch(at:setting:to:)``): every entry moved to one timestamp and one key set. The touch
/// is held beside the stored entries instead of rewriting them, so a connection node refreshed each pass keeps
/// sharing its entries' storage with the node of the report still being served (before, every refresh copied the
/// dictionary: 10,000 connections cost a second set of them per pass). Everything that reads the map (``entries``,
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

        func matches(_ other: String) -> Bool { other.utf8.count == key.utf8.count && other == key }
    }

    private var stored: [String: LatestEntry]
    private var touched: Touch?

    public init(_ entries: [String: LatestEntry] = [:]) {
        stored = entries
        touched = nil
    }

    /// The entries, by key (a new dictionary when the map is touched: iterate the map itself to avoid it).
    public var entries: [String: LatestEntry] {
        guard touched != nil else { return stored }
        var copy = self
        copy.materialize()
        return copy.stored
    }

    /// The current value for `key`.
    public subscript(key: String) -> String? {
        if let touched, touched.matches(key) { return touched.value }
        return stored[key]?.value
    }

    /// The current entry for `key`.
    public func entry(_ key: String) -> LatestEntry? {
        guard let touched else { return stored[key] }
        if touched.matches(key) { return LatestEntry(timestamp: touched.timestamp, value: touched.value) }
        return stored[key].map { LatestEntry(timestamp: touched.timestamp, value: $0.value) }
    }

    /// The number of keys.
    public var count: Int { stored.count + (touched.map { $0.storedHasKey ? 0 : 1 } ?? 0) }

    public var isEmpty: Bool { stored.isEmpty && touched == nil }

    /// Records `value` at `timestamp` unless a newer (or equal-timestamp, greater) entry is already present.
    public mutating func set(_ key: String, _ value: String, at timestamp: Double) {
        materialize()
        let entry = LatestEntry(timestamp: timestamp, value: value)
        if let existing = stored[key], !LatestEntry.precedes(existing, entry) { return }
        stored[key] = entry
    }

    /// Merges `other` into this map.
    public mutating func merge(_ other: LatestMap) {
        if isEmpty { self = other; return }
        materialize()
        for (key, entry) in other {
            if let existing = stored[key], !LatestEntry.precedes(existing, entry) { continue }
            stored[key] = entry
        }
    }

    /// Moves every entry to `timestamp` (values unchanged) and sets `key` to `value`: what a fresh map with the
    /// same keys written at `timestamp` would hold. O(1), and the stored entries are not written (nor copied when
    /// shared); a second touch replaces the first.
    mutating func touch(at timestamp: Double, setting key: String, to value: String) {
        if let touched, !touched.matches(key) { materialize() }
        let has = touched?.storedHasKey ?? (stored[key] != nil)
        touched = Touch(timestamp: timestamp, key: key, value: value, storedHasKey: has)
    }

    /// Whether the stored entries are those of `other` with a touch held on top (for tests: a touch shares them).
    /// Compares the dictionaries' storage references (a native dictionary is one reference).
    func sharesStorage(with other: LatestMap) -> Bool {
        typealias Storage = [String: LatestEntry]
        guard MemoryLayout<Storage>.size == MemoryLayout<UnsafeRawPointer>.size else { return false }
        return unsafeBitCast(stored, to: UnsafeRawPointer.self) == unsafeBitCast(other.stored, to: UnsafeRawPointer.self)
    }

    /// Writes a held touch into the stored entries (copying them first when shared), in place, without rehashing.
    private mutating func materialize() {
        guard let touch = touched else { return }
        touched = nil
        var found = false
        var i = stored.startIndex
        while i != stored.endIndex {
            if !found && touch.matches(stored.keys[i]) {
                stored.values[i] = LatestEntry(timestamp: touch.timestamp, value: touch.value)
                found = true
            } else {
                stored.values[i].timestamp = touch.timestamp
            }
            stored.formIndex(after: &i)
        }
        if !found { stored[touch.key] = LatestEntry(timestamp: touch.timestamp, value: touch.value) }
    }

    // MARK: Sequence

    /// Walks the entries as read (a held touch applied), in unspecified order, without building a dictionary.
    public struct Iterator: IteratorProtocol {
        private var inner: [String: LatestEntry].Iterator
        private let touched: Touch?
        private var extraPending: Bool

        fileprivate init(_ map: LatestMap) {
            inner = map.stored.makeIterator()
            touched = map.touched
            extraPending = map.touched.map { !$0.storedHasKey } ?? false
        }

        public mutating func next() -> (key: String, value: LatestEntry)? {
            guard let touched else { return inner.next() }
            if let (key, entry) = inner.next() {
                let value = touched.matches(key) ? touched.value : entry.value
                return (key, LatestEntry(timestamp: touched.timestamp, value: value))
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
            return a.stored == b.stored
        case let (x?, y?) where x === y || (x.timestamp == y.timestamp && x.key == y.key && x.value == y.value):
            if a.stored == b.stored { return true }  // O(1) when the storage is shared
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
