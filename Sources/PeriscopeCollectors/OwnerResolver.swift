import PeriscopeSystem
import PeriscopeTopology
#if canImport(Glibc)
import Glibc
#endif

/// Maps socket inodes to owning pids incrementally, instead of walking every `/proc/*/fd` each pass.
///
/// On each pass, only if some socket inode has no known owner:
/// 1. scan the fds of processes that are new (or whose pid was reused) or whose open-fd count differs from the
///    count their last scan saw (a socket opened, accepted or received since; the count is the one the scan
///    read, not the process list's, which is read earlier in the pass and can miss a socket held only between);
/// 2. if inodes are still unknown since an earlier pass (a new one waits a pass: step 1 usually finds it then) and
///    are not backed off (below), search their namespaces: each unknown inode has a search that began on the
///    first pass it was unknown, and the candidates are the processes of a namespace
///    not scanned since the newest search there began — busiest socket holders first, within the pass's readlink
///    budget (``stepTwoReadlinkBudget``); the rest continues next pass, so a burst of short-lived sockets never
///    turns one pass into a full fd walk. A process scanned after an inode's search began was scanned while the
///    inode existed (the socket dump precedes the scans), so it is not scanned again for it; and every new
///    unknown inode starts a new search of its namespace, which rescans every process there once — a socket
///    moved into an already scanned process without changing its fd count is found by the next such search.
///    A search is complete once every process of its namespace was scanned after it began. Inodes a complete
///    search did not find (held by processes we cannot see — another pid namespace — or in flight over
///    `SCM_RIGHTS`) back off: no search for ``retryUnresolvableSeconds``, doubling after each failed search up to
///    ``longestRetrySeconds``, so a socket that never has an owner costs almost nothing. Sockets without an
///    inode (`time-wait`, orphaned `fin-wait-2`, not yet accepted) have no owner and are never searched.
/// An inode whose owner is found, or whose owner is dropped, has no search under way: a later search starts
/// afresh (a search kept from before the owner exited would skip the processes that took the socket over).
/// Entries are dropped when their process exits or their socket disappears.
/// - Important: not thread-safe; owned by ``HostCollector``.
final class OwnerResolver {
    private struct Scanned {
        var startTime: Double
        /// Fds the scan read (the count step 1 compares with the process list's).
        var fdCount: Int
        var inodes: [UInt64]
        /// Monotonic seconds of the scan.
        var at: Double
    }

    private var clock = 0.0

    private let procRoot: String
    private var owner: [UInt64: Int32] = [:]
    private var scanned: [Int32: Scanned] = [:]
    /// Inodes a complete search did not resolve: when to search again, and the wait after that.
    private var unresolvable: [UInt64: Retry] = [:]
    private struct Retry {
        var at: Double
        var wait: Double
    }
    /// Unknown inodes under search: when their search began (monotonic seconds of the first pass they were
    /// unknown on, or of their retry).
    private var searchStarted: [UInt64: Double] = [:]
    /// First wait before an unresolved inode is searched again, so an owner missed by a race is found
    /// (wall time, not passes: event-driven passes can be frequent).
    static let retryUnresolvableSeconds = 10.0
    /// Longest wait between two searches for the same unresolved inode.
    static let longestRetrySeconds = 320.0
    /// Most readlinks step 2 may do in one pass.
    static let stepTwoReadlinkBudget = 4096
    private let linkBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: 64)

    /// Readlinks done by the last ``resolve(sockets:processes:)``.
    private(set) var lastReadlinks = 0
    /// Inodes whose owner came from the cache in the last call (no fd read needed).
    private(set) var lastCacheHits = 0

    init(procRoot: String) {
        self.procRoot = procRoot
    }

    deinit { linkBuffer.deallocate() }

    /// Fills `pid` on every socket it can. `processes` is this pass's process list.
    func resolve(sockets: inout [SocketRecord], processes: [ProcessRecord]) {
        lastReadlinks = 0
        lastCacheHits = 0
        let seconds = SystemClock.monotonic()
        clock = seconds
        forgetExited(processes)
        var live = Set<UInt64>(minimumCapacity: sockets.count)
        for s in sockets where s.inode != 0 { live.insert(s.inode) }
        forgetVanished(live)

        var unowned = Set<UInt64>()
        var cached = 0
        for inode in live {
            if owner[inode] != nil { cached += 1 } else { unowned.insert(inode) }
        }
        lastCacheHits = cached
        // Step 1 runs whenever a socket has no owner, even one given up on: it only rescans processes whose
        // fds changed, and that is how a socket that sat in a listener's accept queue (no fd yet) is found
        // once the server accepts it. Only the wider step 2 honours the unresolvable set. With every socket
        // owned, only owners whose fds changed are read again: one may have closed a socket another process
        // still holds (a listener handing an accepted connection to its child), which the next pass then finds.
        let owning = unowned.isEmpty ? Set(owner.values) : []
        var done = Set<Int32>()
        for p in processes where unowned.isEmpty ? owning.contains(p.pid) : true {
            let previous = scanned[p.pid]
            if previous == nil || previous?.startTime != p.startTime || previous?.fdCount != p.openFDs {
                scan(p)
                done.insert(p.pid)
            }
        }
        if !unowned.isEmpty {
            // An inode's search begins on the first pass it is unknown (the processes scanned on that pass were
            // scanned while it existed: the dump precedes the scans), and step 2 waits a pass: most new inodes
            // are found by the next pass's step 1 (a socket opened between this pass's process read and its
            // dump: its owner's count has changed by then) or are gone (short-lived), and a search of the
            // namespace for each would cost a budget each.
            var unknown = Set<UInt64>()
            for inode in unowned where owner[inode] == nil && (unresolvable[inode]?.at ?? 0) <= seconds {
                if searchStarted[inode] == nil { searchStarted[inode] = clock } else { unknown.insert(inode) }
            }
            if !unknown.isEmpty { search(unknown, sockets: sockets, processes: processes, done: done) }
            // A found inode has no search under way: if its owner goes, the next search starts afresh.
            for inode in unowned where owner[inode] != nil { searchStarted[inode] = nil }
        }
        for i in sockets.indices where sockets[i].inode != 0 {
            sockets[i].pid = owner[sockets[i].inode]
        }
    }

    /// Step 2 for the `unknown` inodes (see the type's comment); `done` were scanned by step 1 this pass.
    private func search(_ unknown: Set<UInt64>, sockets: [SocketRecord], processes: [ProcessRecord], done: Set<Int32>) {
        var namespaceOf: [UInt64: UInt64] = [:]
        for s in sockets where unknown.contains(s.inode) { namespaceOf[s.inode] = s.netns }
        // Per namespace: when its newest search began; a process scanned before that is a candidate.
        var newest: [UInt64: Double] = [:]
        for inode in unknown {
            let start = searchStarted[inode] ?? clock
            if let ns = namespaceOf[inode] { newest[ns] = max(newest[ns] ?? -.infinity, start) }
        }
        let candidates = processes
            .filter { p in
                guard !done.contains(p.pid), let since = newest[p.netns] else { return false }
                return (scanned[p.pid]?.at ?? -.infinity) < since
            }
            .sorted { (scanned[$0.pid]?.inodes.count ?? 0) > (scanned[$1.pid]?.inodes.count ?? 0) }
        var remaining = unknown
        let budgetStart = lastReadlinks
        for p in candidates {
            if lastReadlinks - budgetStart >= Self.stepTwoReadlinkBudget { break }  // continue next pass
            scan(p)
            remaining = remaining.filter { owner[$0] == nil }
            if remaining.isEmpty { break }
        }
        guard !remaining.isEmpty else { return }
        // The oldest scan of each namespace's processes: a search that began no later is complete.
        var oldestScan: [UInt64: Double] = [:]
        for p in processes where newest[p.netns] != nil {
            oldestScan[p.netns] = min(oldestScan[p.netns] ?? .infinity, scanned[p.pid]?.at ?? -.infinity)
        }
        for inode in remaining {
            guard let start = searchStarted[inode],
                  (namespaceOf[inode].flatMap { oldestScan[$0] } ?? .infinity) >= start else { continue }
            searchStarted[inode] = nil
            let wait = unresolvable[inode].map { min($0.wait * 2, Self.longestRetrySeconds) }
                ?? Self.retryUnresolvableSeconds
            unresolvable[inode] = Retry(at: clock + wait, wait: wait)
        }
    }

    /// Records an owner known from elsewhere (a socket event's pid). Ignored for inode 0 or a known owner.
    func learn(inode: UInt64, pid: Int32) {
        guard inode != 0, owner[inode] == nil else { return }
        owner[inode] = pid
        unresolvable[inode] = nil
        searchStarted[inode] = nil
    }

    private func forgetExited(_ processes: [ProcessRecord]) {
        var alive: [Int32: Double] = [:]
        alive.reserveCapacity(processes.count)
        for p in processes { alive[p.pid] = p.startTime }
        for (pid, entry) in scanned where alive[pid] != entry.startTime {
            drop(pid: pid, entry: entry)
        }
    }

    private func forgetVanished(_ live: Set<UInt64>) {
        for inode in owner.keys where !live.contains(inode) { owner[inode] = nil }
        unresolvable = unresolvable.filter { live.contains($0.key) }
        searchStarted = searchStarted.filter { live.contains($0.key) }
    }

    private func drop(pid: Int32, entry: Scanned) {
        for inode in entry.inodes where owner[inode] == pid { owner[inode] = nil }
        scanned[pid] = nil
    }

    /// Reads every `/proc/PID/fd/N` link of one process and records its socket inodes.
    private func scan(_ p: ProcessRecord) {
        if let previous = scanned[p.pid] { drop(pid: p.pid, entry: previous) }
        // A process whose fds cannot be read counts as scanned (nothing found), so a search can complete.
        let unreadable = Scanned(startTime: p.startTime, fdCount: p.openFDs, inodes: [], at: clock)
        let fd = open("\(procRoot)/\(p.pid)/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { scanned[p.pid] = unreadable; return }
        guard let dir = fdopendir(fd) else { close(fd); scanned[p.pid] = unreadable; return }
        defer { closedir(dir) }
        var inodes: [UInt64] = []
        var links = 0
        while let entry = readdir(dir) {
            if entry.pointee.d_name.0 == 0x2E { continue }   // "." and ".."
            links += 1
            lastReadlinks += 1
            let n = withUnsafePointer(to: entry.pointee.d_name) { name in
                name.withMemoryRebound(to: CChar.self, capacity: 256) { readlinkat(fd, $0, linkBuffer, 63) }
            }
            guard n > 9 else { continue }
            if let inode = Self.socketInode(UnsafeRawBufferPointer(start: linkBuffer, count: n)) {
                inodes.append(inode)
                if let current = owner[inode], current < p.pid { continue }  // lowest pid wins
                owner[inode] = p.pid
            }
        }
        scanned[p.pid] = Scanned(startTime: p.startTime, fdCount: links, inodes: inodes, at: clock)
    }

    /// Parses `socket:[12345]`.
    static func socketInode(_ link: UnsafeRawBufferPointer) -> UInt64? {
        let prefix: [UInt8] = Array("socket:[".utf8)
        guard link.count > prefix.count + 1, link[link.count - 1] == UInt8(ascii: "]") else { return nil }
        for i in 0..<prefix.count where link[i] != prefix[i] { return nil }
        var value: UInt64 = 0
        for i in prefix.count..<(link.count - 1) {
            let c = link[i]
            guard c >= 0x30, c <= 0x39 else { return nil }
            value = value &* 10 &+ UInt64(c - 0x30)
        }
        return value
    }
}
