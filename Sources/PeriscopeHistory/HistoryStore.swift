import Glibc

/// The SQLite file behind the history log (WAL mode, incremental vacuum):
///
/// - `checkpoints(seq, time, state)`: the whole recorded state every few minutes (compressed);
/// - `segments(first_seq, last_seq, start, end, events)`: the events in between, one row per commit (about a
///   second), merged into one row per checkpoint interval when the next checkpoint is written;
/// - `intervals(kind, id, first, last)`: when each process, host and container existed (`last` NULL while it
///   does), for `node/history`.
///
/// The instant `T` is `checkpoint(latest ≤ T)` + the events after it up to `T`. Oldest data goes first, by
/// retention or size. Not thread-safe: one thread per instance (the writer has one, readers share another).
final class HistoryStore: @unchecked Sendable {
    let connection: SQLiteConnection
    let path: String

    /// Opens (creating when allowed) and checks the file: a corrupt one throws here.
    init(path: String, create: Bool) throws(SQLiteError) {
        self.path = path
        connection = try SQLiteConnection(path: path, create: create)
        if create {
            // Small pages: each commit (about a second of changes, a few hundred bytes compressed) rewrites the
            // pages it touches, so a 1 KiB page writes a quarter of what the default 4 KiB one would.
            try connection.execute("PRAGMA page_size=1024; PRAGMA auto_vacuum=INCREMENTAL")
            var mode = ""
            try connection.query("PRAGMA journal_mode=WAL") { row in mode = row.text(0) }
            guard mode == "wal" else { throw SQLiteError(code: 1, message: "cannot use WAL mode (journal_mode is \(mode))") }
            try connection.execute("""
                PRAGMA synchronous=NORMAL;
                PRAGMA journal_size_limit=4194304;
                CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS checkpoints(seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, state BLOB NOT NULL);
                CREATE TABLE IF NOT EXISTS segments(first_seq INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL,
                    start INTEGER NOT NULL, end INTEGER NOT NULL, events BLOB NOT NULL);
                CREATE TABLE IF NOT EXISTS intervals(kind INTEGER NOT NULL, id TEXT NOT NULL, first INTEGER NOT NULL,
                    last INTEGER, PRIMARY KEY(kind, id, first)) WITHOUT ROWID;
                INSERT OR IGNORE INTO meta VALUES('format', '1');
                """)
            var check = ""
            try connection.query("PRAGMA quick_check") { row in if check.isEmpty { check = row.text(0) } }
            guard check == "ok" else { throw SQLiteError(code: 11, message: "database is corrupt: \(check)") }
        } else {
            try connection.execute("PRAGMA query_only=1")
        }
    }

    // MARK: writing (the writer thread)

    /// The newest sequence number and time stored, to continue after a restart.
    func lastPosition() throws(SQLiteError) -> (seq: Int64, time: Int64) {
        let seq = max(try connection.scalar("SELECT coalesce(max(last_seq), 0) FROM segments"),
                      try connection.scalar("SELECT coalesce(max(seq), 0) FROM checkpoints"))
        let time = max(try connection.scalar("SELECT coalesce(max(end), 0) FROM segments"),
                       try connection.scalar("SELECT coalesce(max(time), 0) FROM checkpoints"))
        return (seq, time)
    }

    /// Intervals a previous run left open end when it was last heard of.
    func closeOpenIntervals(at time: Int64) throws(SQLiteError) {
        try connection.query("UPDATE intervals SET last = ? WHERE last IS NULL", [.int(time)])
    }

    func insertSegment(_ events: [HistoryEvent]) throws(SQLiteError) {
        guard !events.isEmpty else { return }
        let seqs = events.map(\.seq), times = events.map(\.time)
        try connection.query("INSERT INTO segments VALUES(?, ?, ?, ?, ?)",
                             [.int(seqs.min() ?? 0), .int(seqs.max() ?? 0), .int(times.min() ?? 0), .int(times.max() ?? 0),
                              .blob(HistoryEvent.encode(events, level: events.count > 5000 ? 9 : 6))])
    }

    func openInterval(_ key: HistoryKey, at time: Int64) throws(SQLiteError) {
        try connection.query("INSERT OR REPLACE INTO intervals VALUES(?, ?, ?, NULL)", [.int(Int64(key.kind)), .text(key.id), .int(time)])
    }

    func closeInterval(_ key: HistoryKey, at time: Int64) throws(SQLiteError) {
        try connection.query("UPDATE intervals SET last = ? WHERE kind = ? AND id = ? AND last IS NULL",
                             [.int(time), .int(Int64(key.kind)), .text(key.id)])
    }

    /// Writes a checkpoint and merges the segments since the previous one into a single row (one compressed
    /// blob compresses far better than many small ones).
    func insertCheckpoint(_ state: HistoryState) throws(SQLiteError) {
        let previous = try connection.scalar("SELECT coalesce(max(seq), 0) FROM checkpoints WHERE seq < ?", [.int(state.seq)])
        var events: [HistoryEvent] = []
        var rows = 0
        try connection.query("SELECT events FROM segments WHERE first_seq > ? AND last_seq <= ? ORDER BY first_seq",
                             [.int(previous), .int(state.seq)]) { row throws(SQLiteError) in
            rows += 1
            do { events += try HistoryEvent.decode(row.blob(0)) } catch { throw SQLiteError(code: 11, message: "damaged segment") }
        }
        if rows > 1 {
            try connection.query("DELETE FROM segments WHERE first_seq > ? AND last_seq <= ?", [.int(previous), .int(state.seq)])
            // Grouped by node (each node's events still in order): a connection's open, close and removal sit
            // side by side within zlib's window, which compresses the merged row far better. Replay folds
            // events per node, so the order across nodes does not matter.
            events.sort { ($0.key.kind, $0.key.id, $0.seq) < ($1.key.kind, $1.key.id, $1.seq) }
            try insertSegment(events)
        }
        try connection.query("INSERT OR REPLACE INTO checkpoints VALUES(?, ?, ?)", [.int(state.seq), .int(state.time), .blob(state.encoded(level: 9))])
    }

    /// Drops checkpoints (and the events and intervals before them) older than `cutoff`, keeping the newest
    /// checkpoint at or before it so every instant after `cutoff` stays answerable.
    func prune(before cutoff: Int64) throws(SQLiteError) {
        let keep = try connection.scalar("SELECT coalesce(max(seq), 0) FROM checkpoints WHERE time <= ?", [.int(cutoff)])
        guard keep > 0 else { return }
        try dropBefore(seq: keep)
    }

    /// Drops the oldest checkpoint and what only it needs. False when one checkpoint or none is left.
    func dropOldest() throws(SQLiteError) -> Bool {
        guard try connection.scalar("SELECT count(*) FROM checkpoints") > 1 else { return false }
        let second = try connection.scalar("SELECT seq FROM checkpoints ORDER BY seq LIMIT 1 OFFSET 1")
        try dropBefore(seq: second)
        return true
    }

    private func dropBefore(seq: Int64) throws(SQLiteError) {
        let time = try connection.scalar("SELECT time FROM checkpoints WHERE seq = ?", [.int(seq)])
        try connection.query("DELETE FROM checkpoints WHERE seq < ?", [.int(seq)])
        try connection.query("DELETE FROM segments WHERE last_seq <= ?", [.int(seq)])
        try connection.query("DELETE FROM intervals WHERE last IS NOT NULL AND last < ?", [.int(time)])
    }

    /// Bytes the data takes (pages in use; free pages are reused or vacuumed).
    func usedBytes() throws(SQLiteError) -> Int64 {
        let pages = try connection.scalar("PRAGMA page_count") - (try connection.scalar("PRAGMA freelist_count"))
        return pages * (try connection.scalar("PRAGMA page_size"))
    }

    /// Returns free pages to the file system.
    func vacuum() throws(SQLiteError) {
        try connection.execute("PRAGMA incremental_vacuum")
    }

    // MARK: reading (any one thread at a time)

    /// The oldest and newest instants the log can answer (ms), `nil` when it holds nothing yet.
    func window() throws(SQLiteError) -> (oldest: Int64, newest: Int64)? {
        guard try connection.scalar("SELECT count(*) FROM checkpoints") > 0 else { return nil }
        let oldest = try connection.scalar("SELECT min(time) FROM checkpoints")
        return (oldest, try lastPosition().time)
    }

    /// The state at `time` (ms), or `nil` when no checkpoint is that old.
    func state(at time: Int64) throws(SQLiteError) -> HistoryState? {
        var state: HistoryState?
        try connection.query("SELECT state FROM checkpoints WHERE time <= ? ORDER BY seq DESC LIMIT 1", [.int(time)]) { row throws(SQLiteError) in
            do { state = try HistoryState(encoded: row.blob(0)) } catch { throw SQLiteError(code: 11, message: "damaged checkpoint") }
        }
        guard var state else { return nil }
        try replay(into: &state, until: time) { _ in }
        state.time = time
        return state
    }

    /// Folds the events after `state` up to `time` into it, calling `each` before each one.
    func replay(into state: inout HistoryState, until time: Int64, _ each: (HistoryEvent) -> Void) throws(SQLiteError) {
        var events: [HistoryEvent] = []
        try connection.query("SELECT events FROM segments WHERE last_seq > ? AND start <= ? ORDER BY first_seq",
                             [.int(state.seq), .int(time)]) { row throws(SQLiteError) in
            do { events += try HistoryEvent.decode(row.blob(0)) } catch { throw SQLiteError(code: 11, message: "damaged segment") }
        }
        let base = state.seq  // events come grouped by node in merged rows: compare with where the state started
        for e in events where e.seq > base && e.time <= time {
            each(e)
            state.apply(e)
        }
    }

    /// The intervals of `key` overlapping `[from, to]` (`last` nil while open).
    func intervals(_ key: HistoryKey, from: Int64, to: Int64) throws(SQLiteError) -> [(first: Int64, last: Int64?)] {
        var out: [(Int64, Int64?)] = []
        try connection.query("""
            SELECT first, last FROM intervals WHERE kind = ? AND id = ? AND first <= ? AND (last IS NULL OR last >= ?)
            ORDER BY first
            """, [.int(Int64(key.kind)), .text(key.id), .int(to), .int(from)]) { row in
            out.append((row.int(0), row.isNull(1) ? nil : row.int(1)))
        }
        return out
    }
}
