import CPeriscopeLinux
import PeriscopeSystem
import PeriscopeTopology
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Container discovery for the collection pipeline: lists and inspects containers through a Docker-compatible
/// engine (cached; re-listed when an engine event arrives, when the events stream is down, and every
/// ``reconcileSeconds``), ties processes to containers (cgroup path, else pid ancestry to the init pid) and
/// reads per-container CPU and memory from the cgroup files (v2, or v1 `cpuacct`/`memory`).
///
/// No engine → ``collect(processes:)`` returns `[]`, ``health`` says why, and attempts back off (1 s doubling to
/// 30 s). The events stream runs on its own thread and reconnects the same way.
///
/// - Important: ``collect(processes:)`` on one worker thread at a time; the rest from any thread.
public final class ContainerCollector: @unchecked Sendable {
    public let socketOverride: String?
    /// Seconds between full listings when nothing happened.
    public var reconcileSeconds = 10.0

    private struct Shared {
        var health = ContainerHealth()
        var needsList = true
        var dirty: Set<String> = []
        var eventFD: Int32 = -1
        /// The events thread's eventfd: written by ``stop()`` to end its wait between reconnections.
        var wakeFD: Int32 = -1
        var stopping = false
        var eventsStarted = false
    }

    private let shared = Mutex<Shared>(Shared())
    // Collection state (collect() only).
    private var cache: [String: ContainerRecord] = [:]
    private var lastList = -1e9
    private var failures = 0
    private var nextAttempt = 0.0
    private var cpuSamples: [String: (usage: Double, at: Double)] = [:]
    private let unifiedOnly = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0
    private let reader = ProcReader(capacity: 16 * 1024)

    public init(socketOverride: String?) {
        self.socketOverride = socketOverride
        let (path, source) = ContainerEngine.resolveSocket(override: socketOverride)
        shared.withLock {
            $0.health.socketPath = path
            $0.health.socketSource = source
        }
    }

    public var health: ContainerHealth { shared.withLock { $0.health } }

    /// The engine for the current socket (re-resolved, so a socket that appears later is found).
    public var engine: ContainerEngine {
        let (path, source) = ContainerEngine.resolveSocket(override: socketOverride)
        shared.withLock {
            $0.health.socketPath = path
            $0.health.socketSource = source
        }
        return ContainerEngine(socketPath: path)
    }

    /// Marks container `id` as changed: the next pass lists and re-inspects it.
    public func invalidate(_ id: String?) {
        shared.withLock {
            $0.needsList = true
            if let id { $0.dirty.insert(id) }
        }
    }

    // MARK: Events

    /// Starts following engine events on a thread; `handler` is called (on that thread) for every event that
    /// changes a container's state, and once after each (re)connection, with `nil`.
    public func startEvents(_ handler: @escaping @Sendable (ContainerEvent?) -> Void) {
        let start = shared.withLock { s -> Bool in
            if s.eventsStarted { return false }
            s.eventsStarted = true
            s.wakeFD = psc_eventfd()
            return true
        }
        guard start else { return }
        // Nobody joins it (stop() does not wait): detached, so its end frees it (TSan reported the leak).
        SystemThread.detach(name: "periscope-engine") { [self] in self.eventLoop(handler) }
    }

    /// Stops the events thread (it exits at its next wake-up).
    public func stop() {
        shared.withLock { s in
            s.stopping = true
            if s.eventFD >= 0 { shutdown(s.eventFD, Int32(SHUT_RDWR)) }
            if s.wakeFD >= 0 { WorkerThread.signalStop(s.wakeFD) }
        }
    }

    private func eventLoop(_ handler: @escaping @Sendable (ContainerEvent?) -> Void) {
        defer {
            shared.withLock { s in
                if s.wakeFD >= 0 { close(s.wakeFD) }
                s.wakeFD = -1
            }
        }
        var delay = 1.0
        while !shared.withLock({ $0.stopping }) {
            let engine = self.engine
            var connected = false
            do throws(EngineError) {
                try engine.followEvents(onOpen: { fd in
                    shared.withLock { s in
                        s.eventFD = fd
                        if s.stopping { shutdown(fd, Int32(SHUT_RDWR)) }
                    }
                }, onClose: { _ in
                    shared.withLock { $0.eventFD = -1; $0.health.eventsConnected = false }
                }, event: { event in
                    shared.withLock {
                        $0.health.eventsSeen += 1
                        $0.needsList = true
                        if !event.id.isEmpty { $0.dirty.insert(event.id) }
                    }
                    if event.changesState { handler(event) }
                }, headers: {
                    connected = true
                    delay = 1.0
                    shared.withLock { $0.health.eventsConnected = true; $0.needsList = true }
                    handler(nil)
                })
            } catch {
                shared.withLock { s in
                    if !s.stopping, s.health.lastError == nil || s.health.state != "ok" {
                        s.health.lastError = "events: \(error.message)"
                    }
                }
            }
            shared.withLock { $0.needsList = true; $0.health.eventsConnected = false }
            if shared.withLock({ $0.stopping }) { return }
            if connected { handler(nil) }
            // Wait out the back-off, or until stop(): one wake-up per attempt (no engine on the host is the
            // common case, and this thread must not cost anything then).
            if let wake = shared.withLock({ $0.wakeFD >= 0 ? $0.wakeFD : nil }) {
                _ = WorkerThread.holdOff(eventFD: wake, millis: Int32(delay * 1000))
            } else {
                usleep(UInt32(delay * 1_000_000))
            }
            delay = min(delay * 2, 30)
        }
    }

    // MARK: Collection

    /// Containers now, with their processes and cgroup figures. Blocking; worker thread.
    public func collect(processes: [ProcessRecord]) -> [ContainerRecord] {
        let now = SystemClock.monotonic()
        var (needsList, dirty) = shared.withLock { s -> (Bool, Set<String>) in
            let out = (s.needsList, s.dirty)
            s.needsList = false
            s.dirty.removeAll()
            return out
        }
        if failures > 0 && now < nextAttempt {
            shared.withLock { $0.health.retryInSeconds = ((nextAttempt - now) * 10).rounded() / 10 }
            return []
        }
        if !shared.withLock({ $0.health.eventsConnected }) { needsList = true }
        if now - lastList >= reconcileSeconds { needsList = true }
        let engine = self.engine
        if needsList {
            do throws(EngineError) {
                let listed = try engine.list()
                lastList = now
                var fresh: [String: ContainerRecord] = [:]
                var inspects: UInt64 = 0
                for summary in listed {
                    if let known = cache[summary.id], !dirty.contains(summary.id), Self.sameState(known.state, summary.state) {
                        fresh[summary.id] = known
                        continue
                    }
                    inspects += 1
                    if let record = try engine.inspect(summary.id) { fresh[summary.id] = record }
                }
                cache = fresh
                dirty.removeAll()
                failures = 0
                shared.withLock {
                    $0.health.listings += 1
                    $0.health.inspects += inspects
                    $0.health.state = "ok"
                    $0.health.lastError = nil
                    $0.health.retryInSeconds = nil
                }
            } catch {
                failures += 1
                let delay = min(30, Double(1 << min(failures - 1, 5)))
                nextAttempt = now + delay
                cache = [:]
                cpuSamples = [:]
                shared.withLock {
                    $0.needsList = true
                    $0.health.state = "unavailable"
                    $0.health.lastError = error.message
                    $0.health.retryInSeconds = delay
                    $0.health.containersSeen = 0
                    $0.health.containersRunning = 0
                }
                return []
            }
        }
        var records = Array(cache.values).sorted { $0.id < $1.id }
        tie(&records, processes)
        measure(&records, at: now)
        let running = records.count(where: { $0.isUp })
        shared.withLock {
            $0.health.containersSeen = records.count
            $0.health.containersRunning = running
        }
        return records
    }

    /// Podman lists `stopped`/`configured` where inspect says `exited`/`created`.
    private static func sameState(_ inspected: String, _ listed: String) -> Bool {
        if inspected == listed { return true }
        switch (inspected, listed) {
        case ("exited", "stopped"), ("created", "configured"), ("exited", "exited"): return true
        default: return false
        }
    }

    /// Fills ``ContainerRecord/pids``: by a container id in the process's cgroup path, else by ancestry.
    func tie(_ records: inout [ContainerRecord], _ processes: [ProcessRecord]) {
        var index: [String: Int] = [:]
        var byInit: [Int32: Int] = [:]
        for i in records.indices where records[i].isUp {
            index[records[i].id] = i
            if records[i].initPID > 0 { byInit[records[i].initPID] = i }
            records[i].pids = []
        }
        if index.isEmpty { return }
        var parent: [Int32: Int32] = [:]
        parent.reserveCapacity(processes.count)
        for p in processes { parent[p.pid] = p.ppid }
        var owner: [Int32: Int] = [:]
        for p in processes {
            if let id = Self.containerID(inCgroup: p.cgroup), let i = index[id] { owner[p.pid] = i; continue }
            var pid = p.pid
            for _ in 0..<64 {
                if let i = byInit[pid] { owner[p.pid] = i; break }
                guard let up = parent[pid], up > 0, up != pid else { break }
                pid = up
            }
        }
        for (pid, i) in owner { records[i].pids.append(pid) }
        for i in records.indices { records[i].pids.sort() }
    }

    /// The last run of exactly 64 hex digits in `path` (``ContainerNodes/containerID(inCgroup:)``).
    static func containerID(inCgroup path: String) -> String? { ContainerNodes.containerID(inCgroup: path) }

    /// CPU % (usage delta over wall time) and memory, from the init process's cgroups.
    private func measure(_ records: inout [ContainerRecord], at now: Double) {
        var seen: Set<String> = []
        for i in records.indices where records[i].isUp {
            let pid = records[i].initPID > 0 ? records[i].initPID : (records[i].pids.first ?? 0)
            guard pid > 0, let paths = cgroupPaths(pid) else { continue }
            let id = records[i].id
            seen.insert(id)
            if let usage = cpuUsageSeconds(paths) {
                if let last = cpuSamples[id], now > last.at, usage >= last.usage {
                    records[i].cpuPercent = (usage - last.usage) / (now - last.at) * 100
                } else {
                    records[i].cpuPercent = 0
                }
                cpuSamples[id] = (usage, now)
            }
            records[i].memoryBytes = memoryBytes(paths)
        }
        cpuSamples = cpuSamples.filter { seen.contains($0.key) }
    }

    /// Controller (or `""` for the unified hierarchy) → path, from `/proc/PID/cgroup`.
    private func cgroupPaths(_ pid: Int32) -> [String: String]? {
        guard let text = reader.text("/proc/\(pid)/cgroup") else { return nil }
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let path = String(parts[2])
            if parts[1].isEmpty { out[""] = path; continue }
            out[String(parts[1])] = path
            for controller in parts[1].split(separator: ",") { out[String(controller)] = path }
            out["dir:" + parts[1].split(separator: ",").sorted().joined(separator: ",")] = path
        }
        return out
    }

    private func v1Directory(_ controller: String, _ paths: [String: String]) -> String? {
        guard let path = paths[controller] else { return nil }
        for (key, value) in paths where key.hasPrefix("dir:") && value == path {
            let mount = String(key.dropFirst(4))
            if mount.split(separator: ",").contains(Substring(controller)),
               access("/sys/fs/cgroup/\(mount)", F_OK) == 0 { return "/sys/fs/cgroup/\(mount)\(path)" }
        }
        return "/sys/fs/cgroup/\(controller)\(path)"
    }

    private func cpuUsageSeconds(_ paths: [String: String]) -> Double? {
        if !unifiedOnly, let dir = v1Directory("cpuacct", paths),
           let text = reader.text(dir + "/cpuacct.usage"), let ns = Double(text.trimmed) {
            return ns / 1e9
        }
        if let path = paths[""] {
            let root = unifiedOnly ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified"
            if let text = reader.text(root + path + "/cpu.stat") {
                for line in text.split(separator: "\n") where line.hasPrefix("usage_usec ") {
                    if let us = Double(line.dropFirst(11).trimmed) { return us / 1e6 }
                }
            }
        }
        return nil
    }

    private func memoryBytes(_ paths: [String: String]) -> UInt64? {
        if unifiedOnly, let path = paths[""] {
            return reader.text("/sys/fs/cgroup" + path + "/memory.current").flatMap { UInt64($0.trimmed) }
        }
        if let dir = v1Directory("memory", paths) {
            return reader.text(dir + "/memory.usage_in_bytes").flatMap { UInt64($0.trimmed) }
        }
        return nil
    }
}

extension StringProtocol {
    fileprivate var trimmed: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\n" || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\n" || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
