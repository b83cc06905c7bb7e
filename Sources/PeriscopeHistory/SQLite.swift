import CSQLite

/// An SQLite failure: the result code and the library's message (`database disk image is malformed`, …).
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    /// The primary result code (`SQLITE_FULL`, `SQLITE_CORRUPT`, …).
    public var code: Int32
    public var message: String

    public var description: String { message }

    /// Whether the database file itself is unusable (corrupt, not a database, full, read-only, I/O error),
    /// as opposed to a mistake in one statement.
    public var isFatal: Bool {
        [SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_PERM]
            .contains(code & 0xff)
    }
}

/// One SQLite connection (the C API, thinly). Not thread-safe: one thread uses it at a time (the history
/// writer owns one, readers share another under a lock).
final class SQLiteConnection {
    private var handle: OpaquePointer?

    /// Opens (creating when `create`) the database at `path`.
    init(path: String, create: Bool) throws(SQLiteError) {
        let flags = (create ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        handle = db
        if rc != SQLITE_OK {
            let error = SQLiteError(code: rc, message: db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open \(path)")
            sqlite3_close(db)
            handle = nil
            throw error
        }
        sqlite3_busy_timeout(db, 2000)
    }

    deinit { sqlite3_close(handle) }

    private func error(_ rc: Int32) -> SQLiteError {
        SQLiteError(code: rc, message: handle.map { String(cString: sqlite3_errmsg($0)) } ?? "sqlite error \(rc)")
    }

    /// Runs one or more statements without results.
    func execute(_ sql: String) throws(SQLiteError) {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        if rc != SQLITE_OK { throw error(rc) }
    }

    /// Runs `sql` with `bindings` and calls `row` for every result row.
    func query(_ sql: String, _ bindings: [SQLiteValue] = [], row: (SQLiteRow) throws(SQLiteError) -> Void = { _ throws(SQLiteError) in })
        throws(SQLiteError) {
        var statement: OpaquePointer?
        var rc = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw error(rc) }
        defer { sqlite3_finalize(statement) }
        for (i, value) in bindings.enumerated() {
            let index = Int32(i + 1)
            switch value {
            case .int(let v): rc = sqlite3_bind_int64(statement, index, v)
            case .blob(let bytes):
                rc = bytes.withUnsafeBytes { sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), periscope_sqlite_transient()) }
            case .text(let s): rc = sqlite3_bind_text(statement, index, s, -1, periscope_sqlite_transient())
            case .null: rc = sqlite3_bind_null(statement, index)
            }
            if rc != SQLITE_OK { throw error(rc) }
        }
        while true {
            rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw error(rc) }
            try row(SQLiteRow(statement: statement))
        }
    }

    /// The first column of the first row as an integer (0 when there is none).
    func scalar(_ sql: String, _ bindings: [SQLiteValue] = []) throws(SQLiteError) -> Int64 {
        var out: Int64 = 0
        try query(sql, bindings) { row in out = row.int(0) }
        return out
    }

    /// Runs `body` in one transaction, rolled back when it throws.
    func transaction(_ body: () throws(SQLiteError) -> Void) throws(SQLiteError) {
        try execute("BEGIN IMMEDIATE")
        do {
            try body()
            try execute("COMMIT")
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Rows inserted or changed by the last statement.
    var changes: Int { Int(sqlite3_changes(handle)) }
}

/// A value bound to a statement parameter.
enum SQLiteValue {
    case int(Int64)
    case blob([UInt8])
    case text(String)
    case null
}

/// The current row of a running query (valid only inside the row callback).
struct SQLiteRow {
    let statement: OpaquePointer

    func int(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }

    func text(_ column: Int32) -> String {
        guard let p = sqlite3_column_text(statement, column) else { return "" }
        return String(cString: p)
    }

    func blob(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(statement, column))
        guard count > 0, let p = sqlite3_column_blob(statement, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: count))
    }
}
