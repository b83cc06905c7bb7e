import PeriscopeTopology
import Synchronization

/// The processes the process connector reported since they were last applied, and how to fold them into a
/// snapshot one pid at a time: a fork or exec reads that pid's /proc files again, an exit removes the process.
/// A burst of short-lived processes costs one failed open per pid at the next patch, never a full pass; the
/// periodic full pass stays the authority (it reconciles anything missed or lost).
///
/// A process that owns sockets in the snapshot is left to a full pass when it exits (or its pid is reused):
/// its connections close only when the kernel's tables say so (the peer may hold its end a moment longer),
/// and the report builder marks them closed, with the process exited, exactly as a pass from scratch does.
///
/// Applying is idempotent: each pid is read as it is *now*, so an event that arrives after a full pass already
/// saw its effect changes nothing.
///
/// - Important: ``note(_:)`` and ``isEmpty`` from any thread (the connector's thread notes); ``apply(to:read:)``
///   from the collection queue only.
public final class ProcessChanges: Sendable {
    private enum Change {
        case update, exit
    }

    private let pending = Mutex<[Int32: Change]>([:])
    /// Most pids kept between two patches; past it the changes are dropped and ``overflowed`` asks for a full pass.
    static let limit = 100_000
    private let overflow = Atomic<Bool>(false)
    /// Parents of recently forked processes (child → parent), from fork events: who started a process too
    /// short-lived to be read (see ``parent(of:)``). Bounded: emptied when it reaches ``parentLimit``.
    private let parents = Mutex<[Int32: Int32]>([:])
    static let parentLimit = 16_384

    /// An empty set of changes.
    public init() {}

    /// Notes one process event; returns whether nothing was waiting before it (only then does the owner need
    /// telling: a patch that applies the first change applies the rest). Any thread; cheap (a lock and a
    /// dictionary insert).
    @discardableResult
    public func note(_ event: ProcessEvent) -> Bool {
        if case .fork(let parent, let child) = event {
            parents.withLock { map in
                if map.count >= Self.parentLimit { map.removeAll(keepingCapacity: true) }
                map[child] = parent
            }
        }
        return pending.withLock { changes in
            let first = changes.isEmpty
            guard changes.count < Self.limit else {
                overflow.store(true, ordering: .relaxed)
                return first
            }
            switch event {
            case .fork(_, let child): changes[child] = .update
            case .exec(let pid): changes[pid] = .update
            case .exit(let pid, _): changes[pid] = .exit
            }
            return first
        }
    }

    /// The parent of `pid` when the connector reported its fork (recently: the map is bounded). Any thread.
    public func parent(of pid: Int32) -> Int32? { parents.withLock { $0[pid] } }

    /// Whether no change waits. Any thread.
    public var isEmpty: Bool { pending.withLock { $0.isEmpty } }

    /// Whether changes were dropped since the last call (so only a full pass can catch up); clears the flag.
    public func takeOverflow() -> Bool { overflow.exchange(false, ordering: .relaxed) }

    /// Forgets every waiting change (a full pass is about to read everything).
    public func discard() { pending.withLock { $0.removeAll() } }

    /// What ``apply(to:read:)`` did.
    public struct Outcome: Sendable, Equatable {
        /// The snapshot changed.
        public var changed = false
        /// A process that owns sockets exited or was replaced: a full pass should follow soon.
        public var needsFullPass = false

        public init(changed: Bool = false, needsFullPass: Bool = false) {
            self.changed = changed
            self.needsFullPass = needsFullPass
        }
    }

    /// Applies and clears the waiting changes: each updated pid is read through `read` (added, or replaced
    /// in place, keeping the list sorted by pid); an exited pid — or one that is gone or a zombie when read —
    /// is removed, unless it owns sockets (then ``Outcome/needsFullPass``).
    /// - Important: blocking (a few procfs reads per pid); collection queue only.
    public func apply(to snapshot: inout HostSnapshot, read: (Int32) -> ProcessRecord?) -> Outcome {
        let changes = pending.withLock { changes in
            defer { changes.removeAll(keepingCapacity: true) }
            return changes
        }
        var outcome = Outcome()
        guard !changes.isEmpty else { return outcome }
        var owners: Set<Int32>?   // pids owning sockets, computed on the first exit of a known process
        for (pid, change) in changes.sorted(by: { $0.key < $1.key }) {
            let index = Self.index(of: pid, in: snapshot.processes)
            let known = index < snapshot.processes.count && snapshot.processes[index].pid == pid
            let record = change == .update ? read(pid) : nil
            let live = record.flatMap { $0.state == "Z" ? nil : $0 }
            if known, live.map({ $0.startTime != snapshot.processes[index].startTime }) ?? true {
                // Gone, or the pid now names another process.
                if owners == nil { owners = Set(snapshot.sockets.compactMap(\.pid)) }
                if owners?.contains(pid) == true {
                    outcome.needsFullPass = true
                    continue
                }
            }
            if let live {
                if known {
                    guard snapshot.processes[index] != live else { continue }
                    snapshot.processes[index] = live
                } else {
                    snapshot.processes.insert(live, at: index)
                }
                outcome.changed = true
            } else if known {
                snapshot.processes.remove(at: index)
                outcome.changed = true
            }
        }
        return outcome
    }

    /// Where `pid` is, or would go, in `processes` (sorted by pid).
    static func index(of pid: Int32, in processes: [ProcessRecord]) -> Int {
        var low = 0, high = processes.count
        while low < high {
            let mid = (low + high) / 2
            if processes[mid].pid < pid { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
