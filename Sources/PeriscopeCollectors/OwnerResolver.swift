import PeriscopeSystem
import PeriscopeTopology
#if canImport(Glibc)
import Glibc
#endif

/// Maps socket inodes to owning pids incrementally, instead of walking every `/proc/*/fd` each pass.
///
/// On each pass, only if some socket inode has no known owner (and was not given up on):
/// 1. scan the fds of processes that are new (or whose pid was reused) or whose open-fd count changed
///    since their last scan;
/// 2. if inodes are still unknown, scan the not-yet-scanned processes of those inodes' namespaces, busiest
///    socket holders first, stopping as soon as every inode is resolved or the pass's readlink budget
///    (``stepTwoReadlinkBudget``) is spent — the rest continues next pass, so a burst of short-lived
///    sockets never turns one pass into a full fd walk. Inodes still unresolved after a complete search
///    (sockets held by processes we cannot see, in flight over `SCM_RIGHTS`, …) are remembered and do not
///    trigger scans again until their retry time: ``retryUnresolvableSeconds`` after the first failed search,
///    doubling after each one up to ``longestRetrySeconds``, so a socket that never has an owner costs
///    almost nothing. Sockets without an inode (`time-wait`, orphaned `fin-wait-2`, not yet accepted) can
///    have no owner and are never searched.
/// Entries are dropped when their process exits or their socket disappears.
/// - Important: not thread-safe; owned by ``HostCollector``.
final class OwnerResolver {
    private struct Scanned {
        var startTime: Double
        var fdCount: Int
        var inodes: [UInt64]
        /// Monotonic seconds of the scan; step 2 skips processes scanned within ``rescanAfterSeconds``.
        var at: Double
    }

    /// Step 2 scans processes scanned this recently last (step 1 still rescans them when their fd count
    /// changes), so budget-limited searches move on to other processes first.
    static let rescanAfterSeconds = 5.0
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
        // once the server accepts it. Only the wider step 2 honours the unresolvable set.
        var unknown = unowned
        if !unowned.isEmpty {
            var done = Set<Int32>()
            // Step 1: new or changed processes.
            for p in processes {
                let previous = scanned[p.pid]
                if previous == nil || previous?.startTime != p.startTime || previous?.fdCount != p.openFDs {
                    scan(p)
                    done.insert(p.pid)
                }
            }
            unknown = unknown.filter { owner[$0] == nil && (unresolvable[$0]?.at ?? 0) <= seconds }
            // Step 2: processes of the namespaces of the remaining unknown inodes.
            if !unknown.isEmpty {
                var namespaces = Set<UInt64>()
                for s in sockets where unknown.contains(s.inode) { namespaces.insert(s.netns) }
                // Processes scanned recently go last, so a budget-limited search moves on to others first;
                // they are not skipped: a socket accepted after a process's scan (its fd count may read the
                // same at the next pass) is only found there. Inodes a complete search cannot place back
                // off (``retryUnresolvableSeconds``), so the budget is not spent on them every pass.
                let candidates = processes
                    .filter { !done.contains($0.pid) && namespaces.contains($0.netns) }
                    .sorted { a, b in
                        let recentA = clock - (scanned[a.pid]?.at ?? -1e9) < Self.rescanAfterSeconds
                        let recentB = clock - (scanned[b.pid]?.at ?? -1e9) < Self.rescanAfterSeconds
                        if recentA != recentB { return !recentA }
                        return (scanned[a.pid]?.inodes.count ?? 0) > (scanned[b.pid]?.inodes.count ?? 0)
                    }
                let budgetStart = lastReadlinks
                var complete = true
                for p in candidates {
                    if lastReadlinks - budgetStart >= Self.stepTwoReadlinkBudget {
                        complete = false  // continue next pass
                        break
                    }
                    scan(p)
                    unknown = unknown.filter { owner[$0] == nil }
                    if unknown.isEmpty { break }
                }
                if complete {
                    for inode in unknown {
                        let wait = unresolvable[inode].map { min($0.wait * 2, Self.longestRetrySeconds) }
                            ?? Self.retryUnresolvableSeconds
                        unresolvable[inode] = Retry(at: seconds + wait, wait: wait)
                    }
                }
            }
        }
        for i in sockets.indices where sockets[i].inode != 0 {
            sockets[i].pid = owner[sockets[i].inode]
        }
    }

    /// Records an owner known from elsewhere (a socket event's pid). Ignored for inode 0 or a known owner.
    func learn(inode: UInt64, pid: Int32) {
        guard inode != 0, owner[inode] == nil else { return }
        owner[inode] = pid
        unresolvable[inode] = nil
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
    }

    private func drop(pid: Int32, entry: Scanned) {
        for inode in entry.inodes where owner[inode] == pid { owner[inode] = nil }
        scanned[pid] = nil
    }

    /// Reads every `/proc/PID/fd/N` link of one process and records its socket inodes.
    private func scan(_ p: ProcessRecord) {
        if let previous = scanned[p.pid] { drop(pid: p.pid, entry: previous) }
        let fd = open("\(procRoot)/\(p.pid)/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        guard let dir = fdopendir(fd) else { close(fd); return }
        defer { closedir(dir) }
        var inodes: [UInt64] = []
        while let entry = readdir(dir) {
            if entry.pointee.d_name.0 == 0x2E { continue }   // "." and ".."
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
        scanned[p.pid] = Scanned(startTime: p.startTime, fdCount: p.openFDs, inodes: inodes, at: clock)
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
