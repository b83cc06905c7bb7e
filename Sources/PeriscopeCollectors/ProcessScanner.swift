import CPeriscopeLinux
import PeriscopeTopology
#if canImport(Glibc)
import Glibc
#endif

/// Walks `/proc` and builds one ``ProcessRecord`` per process, keeping per-pid CPU tick counters
/// across passes for CPU %.
///
/// Each process is read through descriptors kept open between scans (``ProcessHandles``): three syscalls
/// for a known process, no path walks. A process that disappears mid-read is skipped.
/// - Important: not thread-safe; owned by ``HostCollector``.
final class ProcessScanner {
    private struct CPUSample {
        var startTicks: Int64
        var cpuTicks: Int64
        var monotonic: Double
    }

    /// Fields that change only on exec or rarely (cwd, cgroup migration, a `setns` of the network namespace),
    /// re-read when the process is new, its name changed (exec), it was invalidated (process connector exec
    /// event), or every `detailRefreshPasses` passes.
    private struct Details {
        var startTicks: Int64
        var name: String
        var command: String
        var executable: String?
        var cwd: String?
        var cgroup: String
        /// Inode of the network namespace (0 when unreadable).
        var netns: UInt64
    }

    private let procRoot: String
    private let reader: ProcReader
    private let handles: ProcessHandles
    private let users: UserNames
    private var samples: [Int32: CPUSample] = [:]
    private var details: [Int32: Details] = [:]
    private var stale: Set<Int32> = []
    private var pass: UInt64 = 0
    private let detailRefreshPasses: UInt64
    private let ticksPerSecond: Double
    private let pageSize: Int64
    /// Linux ≥ 6.2 reports the number of open fds as the size of `/proc/PID/fd`.
    private let fdDirSizeIsCount: Bool

    init(procRoot: String, reader: ProcReader, users: UserNames, detailRefreshPasses: Int) {
        self.procRoot = procRoot
        self.detailRefreshPasses = UInt64(max(detailRefreshPasses, 1))
        self.reader = reader
        self.users = users
        handles = ProcessHandles(procRoot: procRoot)
        let hz = sysconf(Int32(_SC_CLK_TCK))
        ticksPerSecond = hz > 0 ? Double(hz) : 100
        let page = sysconf(Int32(_SC_PAGESIZE))
        pageSize = page > 0 ? Int64(page) : 4096
        var st = stat()
        fdDirSizeIsCount = stat("\(procRoot)/self/fd", &st) == 0 && st.st_size > 0
    }

    /// One walk of /proc. `bootTime` is the epoch second the host booted (from /proc/stat `btime`).
    func scan(bootTime: Double, monotonic: Double) -> [ProcessRecord] {
        pass += 1
        guard let dir = opendir(procRoot) else { return [] }
        defer { closedir(dir) }
        var records: [ProcessRecord] = []
        records.reserveCapacity(samples.count + 16)
        var seen: [Int32: CPUSample] = [:]
        seen.reserveCapacity(samples.count + 16)
        while let entry = readdir(dir) {
            let pid = withUnsafeBytes(of: entry.pointee.d_name) { Self.pid(fromName: $0) }
            guard pid > 0 else { continue }
            guard let (record, sample) = read(pid: pid, bootTime: bootTime, monotonic: monotonic) else { continue }
            records.append(record)
            seen[pid] = sample
        }
        samples = seen
        handles.closeAll { seen[$0] != nil }
        if details.count > seen.count { details = details.filter { seen[$0.key] != nil } }
        stale.removeAll()
        records.sort { $0.pid < $1.pid }
        return records
    }

    /// One process read now, or nil when it is gone or unreadable: the one-pid entry point, for a pid the
    /// last scan did not see (a process that forked and connected a moment ago). Same record as a scan
    /// gives, with CPU % from the last scan's sample when there is one (else 0); no sample is kept.
    func record(pid: Int32, bootTime: Double, monotonic: Double) -> ProcessRecord? {
        read(pid: pid, bootTime: bootTime, monotonic: monotonic, keep: false)?.0
    }

    /// The inode of `pid`'s network namespace now, or nil when it cannot be read.
    static func netns(pid: Int32, procRoot: String) -> UInt64? {
        var st = stat()
        return stat("\(procRoot)/\(pid)/ns/net", &st) == 0 ? UInt64(st.st_ino) : nil
    }

    /// Forces the exec-dependent fields of `pid` to be re-read on the next scan (e.g. after an exec event).
    func invalidate(_ pids: Set<Int32>) {
        stale.formUnion(pids)
    }

    private static func pid(fromName name: UnsafeRawBufferPointer) -> Int32 {
        var value: Int32 = 0
        for byte in name {
            if byte == 0 { break }
            guard byte >= 0x30, byte <= 0x39 else { return 0 }
            value = value &* 10 &+ Int32(byte - 0x30)
        }
        return value
    }

    private func read(pid: Int32, bootTime: Double, monotonic: Double,
                      keep: Bool = true) -> (ProcessRecord, CPUSample)? {
        handles.with(pid, keep: keep) { handle in
            var st = stat()
            guard fstat(handle.directory, &st) == 0,
                  let stat = reader.withOpenFile(handle.stat, { ProcStat.parse($0) }) ?? nil else { return nil }
            return record(pid: pid, dfd: handle.directory, owner: st.st_uid, stat: stat, bootTime: bootTime,
                          monotonic: monotonic)
        }
    }

    private func record(pid: Int32, dfd: Int32, owner: uid_t, stat: ProcStat, bootTime: Double,
                        monotonic: Double) -> (ProcessRecord, CPUSample) {
        let sample = CPUSample(startTicks: stat.startTicks, cpuTicks: stat.cpuTicks, monotonic: monotonic)
        var cpu = 0.0
        if let previous = samples[pid], previous.startTicks == stat.startTicks, monotonic > previous.monotonic {
            let ticks = Double(max(stat.cpuTicks - previous.cpuTicks, 0))
            cpu = ticks / ticksPerSecond / (monotonic - previous.monotonic) * 100
        }

        let info = details(pid: pid, dfd: dfd, stat: stat)
        let uid = UInt32(owner)

        var record = ProcessRecord(pid: pid, ppid: stat.ppid, name: stat.name, command: info.command)
        record.executable = info.executable
        record.cwd = info.cwd
        record.uid = uid
        record.user = users.name(for: uid)
        record.threads = stat.threads
        record.startTime = bootTime + Double(stat.startTicks) / ticksPerSecond
        record.state = stat.state
        record.cpuPercent = cpu
        record.rssBytes = UInt64(stat.rssPages * pageSize)
        record.openFDs = openFDCount(dfd)
        record.cgroup = info.cgroup
        record.netns = info.netns
        return (record, sample)
    }

    private func details(pid: Int32, dfd: Int32, stat: ProcStat) -> Details {
        // Periodic refreshes are spread over passes by pid, so they do not all land on the same pass.
        let due = (pass &+ UInt64(UInt32(bitPattern: pid))) % detailRefreshPasses == 0
        if let known = details[pid], known.startTicks == stat.startTicks, known.name == stat.name, !due,
           !stale.contains(pid) {
            return known
        }
        var command = reader.withFile("cmdline", in: dfd) { TextDecoding.commandLine($0) } ?? ""
        if command.isEmpty { command = "[\(stat.name)]" }   // kernel threads and zombies, as ps shows them
        let executable = reader.link("exe", in: dfd)
        let cwd = reader.link("cwd", in: dfd)
        let cgroup = reader.withFile("cgroup", in: dfd) { Self.cgroupPath($0) } ?? ""
        var ns = Glibc.stat()
        let netns = fstatat(dfd, "ns/net", &ns, 0) == 0 ? UInt64(ns.st_ino) : 0
        let fresh = Details(startTicks: stat.startTicks, name: stat.name, command: command,
                            executable: executable, cwd: cwd, cgroup: cgroup, netns: netns)
        details[pid] = fresh
        return fresh
    }

    private func openFDCount(_ dfd: Int32) -> Int {
        if fdDirSizeIsCount {
            var st = stat()
            return fstatat(dfd, "fd", &st, 0) == 0 ? Int(st.st_size) : 0
        }
        let fd = openat(dfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0, let dir = fdopendir(fd) else { return 0 }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            if entry.pointee.d_name.0 != 0x2E { count += 1 }
        }
        return count
    }

    /// The cgroup v2 path (`0::/path`), or the first v1 line's path.
    static func cgroupPath(_ bytes: UnsafeRawBufferPointer) -> String {
        var first: String?
        var lineStart = 0
        for i in 0...bytes.count where i == bytes.count || bytes[i] == 0x0A {
            let line = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<i])
            lineStart = i + 1
            guard !line.isEmpty else { continue }
            var colons: [Int] = []
            for k in 0..<line.count where line[k] == UInt8(ascii: ":") {
                colons.append(k)
                if colons.count == 2 { break }
            }
            guard colons.count == 2 else { continue }
            let path = TextDecoding.escaped(UnsafeRawBufferPointer(rebasing: line[(colons[1] + 1)...]))
            if colons[0] == 1 && line[0] == UInt8(ascii: "0") { return path }   // "0::/..."
            if first == nil { first = path }
        }
        return first ?? ""
    }
}
