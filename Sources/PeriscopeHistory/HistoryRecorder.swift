import PeriscopeTopology

/// Turns successive reports into the log's events and writes them: the synchronous core of ``HistoryLog``
/// (which runs it on its writer thread), also driven directly, with an injected clock, by tests and the
/// benchmark. Times are seconds since the epoch as the caller's clock gives them.
///
/// Per report: a node not seen before, or whose stable part changed, is a `put`; a node gone is a `remove`;
/// every ``HistoryConfiguration/sampleSeconds`` the nodes whose volatile part changed get a `sample`.
/// ``commit()`` writes the pending events in one transaction; every ``HistoryConfiguration/checkpointSeconds``
/// it also writes a checkpoint, then applies retention and the size limit.
///
/// - Important: one thread at a time.
public final class HistoryRecorder {
    private struct Known {
        var stable: Int
        var volatile: Int
        /// The node both hashes were taken of (nil for names): a report holding this very node (unchanged since,
        /// see ``Node/isIdentical(to:)``) needs no hashing. Full passes leave idle connections' nodes as they were.
        var node: Node?
    }

    public let configuration: HistoryConfiguration
    let store: HistoryStore
    private var state = HistoryState()
    /// The nodes of ``previous`` as last written.
    private var known: [HistoryKey: Known] = [:]
    /// The last report recorded: the next one is compared with it.
    private var previous: Report?
    /// Nodes whose volatile part changed at reports that were not sampled: the next sampling report samples them.
    private var unsampled: Set<HistoryKey> = []
    /// Reverse-DNS names as last written (the hash of each), by address.
    private var knownNames: [String: Int] = [:]
    private var pending: [HistoryEvent] = []
    private var seq: Int64
    private var lastTime: Int64
    private var lastSample: Int64?
    private var lastCheckpoint: Int64?
    /// The state to write as a checkpoint at the next commit.
    private var pendingCheckpoint: HistoryState?
    /// Nodes of ``intervalKinds`` with an open interval.
    private var openIntervals: Set<HistoryKey> = []
    /// Totals, for status and the benchmark.
    public private(set) var eventsWritten = 0
    public private(set) var commits = 0
    public private(set) var checkpoints = 0
    /// Nodes whose hashes were computed: with unchanged nodes skipped, this follows the changes, not the map.
    public private(set) var nodesHashed = 0
    /// Events by operation and topology (`put connection`, `sample process`, …), for the benchmark.
    public var eventCounts: [String: Int] {
        var out: [String: Int] = [:]
        for (i, n) in countsByOpAndKind.enumerated() where n > 0 {
            let key = HistoryKey(kind: UInt8(i & 0xFF), id: "")
            out["\(HistoryEvent.Op(rawValue: UInt8(i >> 8)).map(Self.name) ?? "?") \(key.topology?.rawValue ?? "name")"] = n
        }
        return out
    }
    /// ``eventCounts`` as counted: index `op << 8 | kind`. Counting by name cost a `String(describing:)` of the
    /// operation (reflection) per event, a tenth of the recorder's time under churn.
    private var countsByOpAndKind = [Int](repeating: 0, count: 3 << 8)

    /// Opens (creating) the log at `configuration.path`; throws when the file cannot be used.
    public init(configuration: HistoryConfiguration) throws(SQLiteError) {
        self.configuration = configuration
        store = try HistoryStore(path: configuration.path, create: true)
        let position = try store.lastPosition()
        seq = position.seq
        lastTime = position.time
        try store.closeOpenIntervals(at: position.time)
    }

    /// The newest instant recorded (seconds; what this run or an earlier one wrote last): a later record is
    /// clamped to it, so a past instant must not come after it.
    public var lastRecordedTime: Double { Double(lastTime) / 1000 }

    /// Bytes the log's data takes (database pages in use, the WAL's included).
    public func usedBytes() throws(SQLiteError) -> Int64 { try store.usedBytes() }

    /// Records `report` (and the reverse-DNS `names`) as the state at `time`. After the first report only the
    /// nodes that differ from the previous report are looked at (``NodeTable/forEachDifference(from:_:)`` skips
    /// the shards both still share), so the cost follows what changed, not the size of the map.
    public func record(_ report: Report, names: [String: String], at time: Double) {
        let t = max(Int64((time * 1000).rounded()), lastTime)
        lastTime = t
        let sampling = lastSample.map { t - $0 >= Int64(configuration.sampleSeconds * 1000) } ?? true
        if sampling { lastSample = t }
        if let previous {
            for kind in Set(report.topologies.keys).union(previous.topologies.keys) {
                let k = HistoryKey(kind, "").kind
                report[kind].nodes.forEachDifference(from: previous[kind].nodes) { id, _, node in
                    let key = HistoryKey(kind: k, id: id)
                    if let node {
                        observe(key, node, t, sampling)
                    } else if known.removeValue(forKey: key) != nil {
                        unsampled.remove(key)
                        emit(.remove, key, [], t)
                    }
                }
            }
            if sampling {
                for key in unsampled {
                    if let topology = key.topology, let node = report[topology].nodes[key.id] { observe(key, node, t, true) }
                }
                unsampled.removeAll(keepingCapacity: true)
            }
        } else {
            for (kind, topology) in report.topologies {
                let k = HistoryKey(kind, "").kind
                for (id, node) in topology.nodes { observe(HistoryKey(kind: k, id: id), node, t, sampling) }
            }
        }
        previous = report
        for (address, name) in names where knownNames[address] != name.hashValue {
            knownNames[address] = name.hashValue
            emit(.put, HistoryKey(kind: HistoryKey.names, id: address), Array(name.utf8), t)
        }
        if knownNames.count != names.count {
            for address in knownNames.keys where names[address] == nil {
                knownNames[address] = nil
                emit(.remove, HistoryKey(kind: HistoryKey.names, id: address), [], t)
            }
        }
        // A run starts with a checkpoint (nothing of an earlier run is replayed onto it), then one every
        // `checkpointSeconds`: the state right after this report, so every instant from `t` on is answerable.
        if lastCheckpoint.map({ t - $0 >= Int64(configuration.checkpointSeconds * 1000) }) ?? true {
            var snapshot = state
            snapshot.time = t
            pendingCheckpoint = snapshot
            lastCheckpoint = t
        }
    }

    private func observe(_ key: HistoryKey, _ node: Node, _ t: Int64, _ sampling: Bool) {
        let before = known[key]
        if let before, before.node?.isIdentical(to: node) == true { return }  // both hashes still hold
        nodesHashed += 1
        let stable = NodeCodec.stableHash(node, key.kind)
        guard let before else {
            known[key] = Known(stable: stable, volatile: NodeCodec.volatileHash(node, key.kind), node: node)
            emit(.put, key, NodeCodec.encode(node, time: t), t)
            return
        }
        if before.stable != stable {
            known[key] = Known(stable: stable, volatile: NodeCodec.volatileHash(node, key.kind), node: node)
            emit(.put, key, NodeCodec.encode(node, time: t), t)
        } else if sampling {
            let volatile = NodeCodec.volatileHash(node, key.kind)
            known[key] = Known(stable: stable, volatile: volatile, node: node)
            if volatile != before.volatile {
                emit(.sample, key, NodeCodec.encodeVolatile(node, key.kind, time: t), t)
            }
        } else {
            unsampled.insert(key)  // sampled at the next sampling report, even if it does not change again by then
        }
    }

    private func emit(_ op: HistoryEvent.Op, _ key: HistoryKey, _ body: [UInt8], _ t: Int64) {
        seq += 1
        countsByOpAndKind[Int(op.rawValue) << 8 | Int(key.kind)] += 1
        let event = HistoryEvent(seq: seq, time: t, op: op, key: key, body: body)
        state.apply(event)
        pending.append(event)
    }

    private static func name(_ op: HistoryEvent.Op) -> String {
        switch op {
        case .put: "put"
        case .remove: "remove"
        case .sample: "sample"
        }
    }

    /// Kinds whose existence `intervals` keeps.
    private static let intervalKinds: Set<UInt8> = Set([TopologyKind.process, .host, .container, .containerImage].map { HistoryKey($0, "").kind })

    /// Writes what is pending in one transaction (with a checkpoint when one is due), then applies retention and
    /// the size limit. Throws the SQLite error that made the log unusable (disk full, I/O error, corruption).
    public func commit() throws(SQLiteError) {
        let checkpoint = pendingCheckpoint
        guard !pending.isEmpty || checkpoint != nil else { return }
        let events = pending
        try store.connection.transaction { () throws(SQLiteError) in
            try store.insertSegment(events)
            for e in events where Self.intervalKinds.contains(e.key.kind) {
                if e.op == .remove, openIntervals.remove(e.key) != nil { try store.closeInterval(e.key, at: e.time) }
                if e.op == .put, openIntervals.insert(e.key).inserted { try store.openInterval(e.key, at: e.time) }
            }
            if let checkpoint { try store.insertCheckpoint(checkpoint) }
        }
        pending.removeAll(keepingCapacity: true)
        eventsWritten += events.count
        commits += 1
        pendingCheckpoint = nil
        if checkpoint != nil {
            checkpoints += 1
            try enforceLimits()
        } else if configuration.maxBytes > 0, commits % max(1, 60_000 / max(1, configuration.commitMillis)) == 0, try store.usedBytes() > configuration.maxBytes {
            lastCheckpoint = nil  // a fresh checkpoint lets everything before it go
        }
    }

    /// Retention, then the size limit: the oldest checkpoints go first; when a single checkpoint is left and the
    /// log is still too large, the next commit writes a fresh one so the older can go.
    private func enforceLimits() throws(SQLiteError) {
        try store.connection.transaction { () throws(SQLiteError) in
            try store.prune(before: lastTime - Int64(configuration.retentionSeconds * 1000))
        }
        guard configuration.maxBytes > 0 else { return }
        var dropped = false
        while try store.usedBytes() > configuration.maxBytes {
            var more = false
            try store.connection.transaction { () throws(SQLiteError) in more = try store.dropOldest() }
            if !more { break }
            dropped = true
        }
        if dropped { try store.vacuum() }
    }
}
