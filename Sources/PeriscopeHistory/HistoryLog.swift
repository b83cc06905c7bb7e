import Dispatch
import Glibc
import PeriscopeSystem
import PeriscopeTopology
import Synchronization

/// The daemon's history: reports handed over from the loop are recorded on a writer thread (``HistoryRecorder``,
/// one transaction about every ``HistoryConfiguration/commitMillis``), and past instants are read back on a
/// second connection (WAL lets readers run beside the writer). A read first has the writer commit what it holds,
/// so answers include the last report installed even between two timed commits. When the file cannot be used — corrupt,
/// unwritable, disk full — history turns itself off and ``status`` says why; the daemon goes on.
///
/// A backfill (an aggregator recording the past its report bus holds, ``beginBackfill(timeoutMillis:)``) records
/// earlier instants before the live ones: see HistoryLog+Backfill.swift.
///
/// - Important: ``record(_:names:)`` and ``status`` from any thread (the loop); reads from any thread, one at a
///   time per log; ``stop()`` once.
public final class HistoryLog: Sendable {
    /// What `daemon/status` shows.
    public struct Status: Sendable {
        public var enabled: Bool
        public var path: String?
        /// Why history is off, when it is.
        public var reason: String?
        public var eventsWritten = 0
        public var commits = 0
        public var checkpoints = 0
        public var usedBytes: Int64 = 0
        /// CPU the writer thread has used, nanoseconds.
        public var writerCPUNanos: UInt64 = 0
        public var droppedReports = 0
        /// The backfill's figures, once one began.
        public var backfill: Backfill?
    }

    /// A report waiting for the writer: its state, names, instant, and whether it is a backfilled past instant.
    struct Entry {
        var report: Report
        var names: [String: String]
        var time: Double
        var past = false
    }

    struct Shared {
        var queue: [Entry] = []
        var running = true
        /// Recorded by the writer and not yet committed.
        var uncommitted = false
        /// Readers waiting for the writer to commit (each gets one `flushed` signal).
        var flushWaiters = 0
        var status: Status
        /// While a backfill runs (until this monotonic ms): live reports wait here, the newest only.
        var backfillDeadline: Double?
        var held: Entry?
        /// A backfill waits for room in the queue (the writer signals ``room`` when it takes a batch).
        var roomWanted = false
    }

    let shared: Mutex<Shared>
    let wake = DispatchSemaphore(value: 0)
    let room = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    private let flushed = DispatchSemaphore(value: 0)
    private let reader: Mutex<HistoryStore?>
    private let clock: @Sendable () -> Double
    public let configuration: HistoryConfiguration?
    /// Reports waiting for the writer above which the oldest is dropped. Each is recorded at the instant it was
    /// installed (so `at` answers match what was live); when the writer falls behind, older states give way to newer
    /// ones (closed connections and exited processes stay in a report for seconds, so little a person asks about is
    /// lost). A queue of 64 whole reports grew the soak's daemon to 460 MB.
    static let maxQueued = 4

    /// History off: `reason` is what status shows.
    public init(off reason: String) {
        configuration = nil
        clock = { SystemClock.realtime() }
        shared = Mutex(Shared(status: Status(enabled: false, path: nil, reason: reason)))
        reader = Mutex(nil)
    }

    /// Reads a log that another ``HistoryRecorder`` writes (tests and the benchmark drive one with their own
    /// clock); throws when the file cannot be opened.
    public init(reading configuration: HistoryConfiguration, clock: @escaping @Sendable () -> Double) throws(SQLiteError) {
        self.configuration = configuration
        self.clock = clock
        let store = try HistoryStore(path: configuration.path, create: false)
        shared = Mutex(Shared(running: false, status: Status(enabled: true, path: configuration.path)))
        reader = Mutex(store)
    }

    /// Opens the log and starts its writer thread; on failure the log is off with the reason.
    public init(configuration: HistoryConfiguration, clock: @escaping @Sendable () -> Double = { SystemClock.realtime() }) {
        self.configuration = configuration
        self.clock = clock
        var status = Status(enabled: true, path: configuration.path)
        var recorder: HistoryRecorder?
        var store: HistoryStore?
        if !HistoryConfiguration.makeParent(of: configuration.path) {
            status.enabled = false
            status.reason = "cannot create the directory of \(configuration.path): \(String(cString: strerror(errno)))"
        } else if let busy = Self.lock(configuration.path) {
            status.enabled = false
            status.reason = busy
        } else {
            do throws(SQLiteError) {
                recorder = try HistoryRecorder(configuration: configuration)
                store = try HistoryStore(path: configuration.path, create: false)
            } catch {
                status.enabled = false
                status.reason = "cannot use \(configuration.path): \(error.message)"
                recorder = nil
                store = nil
            }
        }
        shared = Mutex(Shared(status: status))
        reader = Mutex(store)
        guard let recorder else { return }
        let holder = RecorderBox(recorder)
        let started = SystemThread.detach(name: "history") { [self] in self.writerLoop(holder) }
        if !started { turnOff("cannot start the history writer thread") }
    }

    /// Takes `PATH.lock` (flock, held until the process exits) so two daemons never write one log; the reason
    /// history must stay off otherwise.
    private static func lock(_ path: String) -> String? {
        let fd = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return "cannot open \(path).lock: \(String(cString: strerror(errno)))" }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            return "\(path) is in use by another periscoped"
        }
        // The log holds command lines and addresses: owner-only, like the socket (SQLite's -wal and -shm files
        // take the database file's mode).
        let db = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if db >= 0 { close(db) }
        return nil  // the lock's descriptor stays open: the lock lasts as long as the daemon
    }

    /// Queues `report` as the state now (loop thread; returns at once). While a backfill runs, it waits instead
    /// (the newest only) and is recorded when the backfill ends.
    public func record(_ report: Report, names: [String: String]) {
        let now = clock()
        let entry = Entry(report: report, names: names, time: now)
        let queued = shared.withLock { s -> Bool in
            guard s.status.enabled, s.running else { return false }
            if let deadline = s.backfillDeadline {
                guard SystemClock.monotonicMillis() >= deadline else {
                    s.held = entry
                    return false
                }
                Self.endBackfill(&s, timedOut: true)
            }
            Self.enqueue(entry, &s)
            return true
        }
        if queued { wake.signal() }
    }

    /// Appends a live `entry`, dropping the oldest live report waiting when ``maxQueued`` wait (never a
    /// backfilled one: past the backfill's end, one more may wait).
    static func enqueue(_ entry: Entry, _ s: inout Shared) {
        if s.queue.count >= maxQueued, let oldest = s.queue.firstIndex(where: { !$0.past }) {
            s.queue.remove(at: oldest)
            s.status.droppedReports += 1
        }
        s.queue.append(entry)
    }

    /// Writes what is queued and ends the writer thread (waits up to ten seconds: a commit's fsync on a busy disk
    /// takes seconds, and the process must not exit while the writer is inside SQLite).
    public func stop() {
        let wasRunning = shared.withLock { s -> Bool in
            defer { s.running = false }
            if s.backfillDeadline != nil { Self.endBackfill(&s, timedOut: false) }  // the waiting live report is written
            return s.running && s.status.enabled
        }
        guard wasRunning else { return }
        wake.signal()
        _ = done.wait(timeout: .now() + 10)
    }

    public var status: Status { shared.withLock { $0.status } }

    /// Now, on the log's clock (seconds since the epoch).
    public var now: Double { clock() }

    private func turnOff(_ reason: String) {
        shared.withLock { s in
            s.status.enabled = false
            s.status.reason = reason
            s.queue.removeAll()
        }
        reader.withLock { $0 = nil }
    }

    private final class RecorderBox: @unchecked Sendable {
        let recorder: HistoryRecorder
        init(_ recorder: HistoryRecorder) { self.recorder = recorder }
    }

    /// The writer thread: records what is queued as it comes, commits about every `commitMillis`.
    private func writerLoop(_ box: RecorderBox) {
        let recorder = box.recorder
        let interval = Double(recorder.configuration.commitMillis)
        var nextCommit: Double?  // nil until the run's first report, which is committed at once
        while true {
            let wait = nextCommit.map { max(0, $0 - SystemClock.monotonicMillis()) } ?? 1000
            _ = wake.wait(timeout: .now() + .milliseconds(Int(wait)))
            let (batch, running, flushWanted, roomWanted) = shared.withLock { s in
                defer {
                    s.queue.removeAll(keepingCapacity: true)
                    s.roomWanted = false
                }
                if !s.queue.isEmpty { s.uncommitted = true }
                return (s.queue, s.running, s.flushWaiters > 0, s.roomWanted)
            }
            if roomWanted { room.signal() }
            record(batch, recorder)
            let now = SystemClock.monotonicMillis()
            let due = nextCommit.map { now >= $0 } ?? !batch.isEmpty
            if due || !running || flushWanted {
                nextCommit = now + interval
                do throws(SQLiteError) {
                    try recorder.commit()
                    let used = (try? recorder.store.usedBytes()) ?? 0
                    let cpu = SystemClock.threadCPUNanos()
                    let waiters = shared.withLock { s in
                        defer { s.flushWaiters = 0 }
                        s.uncommitted = !s.queue.isEmpty
                        s.status.eventsWritten = recorder.eventsWritten
                        s.status.commits = recorder.commits
                        s.status.checkpoints = recorder.checkpoints
                        s.status.usedBytes = used
                        s.status.writerCPUNanos = cpu
                        return s.flushWaiters
                    }
                    for _ in 0..<waiters { flushed.signal() }
                } catch {
                    turnOff("writing \(recorder.configuration.path) failed: \(error.message); history is off until restart")
                    break
                }
            }
            if !running { break }
        }
        done.signal()
    }

    // MARK: reading

    /// Has the writer commit what it has recorded or queued, waiting up to two seconds (a checkpoint commit on a
    /// busy disk can take that long; past it the read answers from what is committed). Any thread but the loop.
    func flushPending() {
        let wait = shared.withLock { s -> Bool in
            guard s.running, s.status.enabled, s.uncommitted || !s.queue.isEmpty else { return false }
            s.flushWaiters += 1
            return true
        }
        guard wait else { return }
        wake.signal()
        if flushed.wait(timeout: .now() + 2) == .timedOut {
            // Not counted as waiting any more; a signal already on its way makes a later flush return early,
            // which only means that read sees the last commit.
            shared.withLock { s in s.flushWaiters = max(0, s.flushWaiters - 1) }
        }
    }

    /// Runs `body` on the read connection, after ``flushPending()``; throws ``HistoryError/off(_:)`` when history
    /// is off.
    func read<T>(_ body: (HistoryStore) throws(HistoryError) -> T) throws(HistoryError) -> T {
        flushPending()
        let reason = status.reason ?? "history is off"
        return try reader.withLock { (store: inout HistoryStore?) throws(HistoryError) -> T in
            guard let store else { throw HistoryError.off(reason) }
            return try body(store)
        }
    }

    /// The oldest and newest instants the log can answer (seconds).
    public func window() throws(HistoryError) -> (oldest: Double, newest: Double) {
        try read { store throws(HistoryError) in
            guard let w = try HistoryError.wrap({ () throws(SQLiteError) in try store.window() }) else {
                throw HistoryError.empty
            }
            return (Double(w.oldest) / 1000, Double(w.newest) / 1000)
        }
    }

    /// The recorded state at `time` (seconds). Throws ``HistoryError/beforeWindow(_:oldest:)`` for an instant
    /// older than the oldest data kept.
    public func state(at time: Double) throws(HistoryError) -> HistoryState {
        let ms = Int64((time * 1000).rounded())
        return try read { store throws(HistoryError) in
            guard let w = try HistoryError.wrap({ () throws(SQLiteError) in try store.window() }) else { throw HistoryError.empty }
            guard ms >= w.oldest else { throw HistoryError.beforeWindow(time, oldest: Double(w.oldest) / 1000) }
            guard let state = try HistoryError.wrap({ () throws(SQLiteError) in try store.state(at: ms) }) else {
                throw HistoryError.beforeWindow(time, oldest: Double(w.oldest) / 1000)
            }
            return state
        }
    }

    /// States at each of `times` (ascending, seconds), computed in one pass over the events.
    public func states(at times: [Double]) throws(HistoryError) -> [HistoryState] {
        guard let first = times.first else { return [] }
        var state = try self.state(at: first)
        var out = [state]
        for t in times.dropFirst() {
            try read { store throws(HistoryError) in
                try HistoryError.wrap { () throws(SQLiteError) in try store.replay(into: &state, until: Int64((t * 1000).rounded())) { _ in } }
            }
            state.time = Int64((t * 1000).rounded())
            out.append(state)
        }
        return out
    }

    /// When the node `key` existed between `from` and `to` (seconds): `(first, last)` with `last` nil while it
    /// exists. Kept for processes, hosts and containers.
    public func intervals(_ key: HistoryKey, from: Double, to: Double) throws(HistoryError) -> [(first: Double, last: Double?)] {
        try read { store throws(HistoryError) in
            try HistoryError.wrap { () throws(SQLiteError) in
                try store.intervals(key, from: Int64(from * 1000), to: Int64(to * 1000))
                    .map { (Double($0.first) / 1000, $0.last.map { Double($0) / 1000 }) }
            }
        }
    }
}
