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
public struct LatestMap: Sendable, Hashable, Codable {
    /// The entries, by key.
    public private(set) var entries: [String: LatestEntry]

    public init(_ entries: [String: LatestEntry] = [:]) {
        self.entries = entries
    }

    /// The current value for `key`.
    public subscript(key: String) -> String? { entries[key]?.value }

    /// Records `value` at `timestamp` unless a newer (or equal-timestamp, greater) entry is already present.
    public mutating func set(_ key: String, _ value: String, at timestamp: Double) {
        let entry = LatestEntry(timestamp: timestamp, value: value)
        if let existing = entries[key], !LatestEntry.precedes(existing, entry) { return }
        entries[key] = entry
    }

    /// Merges `other` into this map.
    public mutating func merge(_ other: LatestMap) {
        if entries.isEmpty { entries = other.entries; return }
        for (key, entry) in other.entries {
            if let existing = entries[key], !LatestEntry.precedes(existing, entry) { continue }
            entries[key] = entry
        }
    }

    public var isEmpty: Bool { entries.isEmpty }

    /// Moves every entry to `timestamp` (values unchanged) and sets `key` to `value`, in place: what a fresh
    /// map with the same keys written at `timestamp` would hold, without rehashing the keys.
    mutating func touch(at timestamp: Double, setting key: String, to value: String) {
        var found = false
        var i = entries.startIndex
        while i != entries.endIndex {
            if !found && entries.keys[i].utf8.count == key.utf8.count && entries.keys[i] == key {
                entries.values[i] = LatestEntry(timestamp: timestamp, value: value)
                found = true
            } else {
                entries.values[i].timestamp = timestamp
            }
            entries.formIndex(after: &i)
        }
        if !found { entries[key] = LatestEntry(timestamp: timestamp, value: value) }
    }
}
