import ArgumentParser
import Glibc
import PeriscopeHistory
import PeriscopeProtocol
import PeriscopeSystem
import PeriscopeTopology
import PeriscopeViews

/// `periscope-bench history`: a synthetic host (processes, loopback connections, a steady rate of connections
/// opening and closing) recorded through ``HistoryRecorder`` with an injected clock, one report per simulated
/// second and a commit every `--commit-seconds` (10, the daemon's default); then `topology/get at` and `topology/diff` over the
/// recorded span. Prints the log's growth (extrapolated to a day), the disk writes, the recorder's CPU per
/// simulated second, and the query times.
struct HistoryBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history",
                                                    abstract: "History log: bytes per day, recording CPU, get-at and diff times.")

    @Option(help: "The SQLite file (removed first).") var path: String
    @Option(help: "Simulated seconds to record.") var seconds = 3600
    @Option(help: "Processes on the host.") var processes = 200
    @Option(help: "Open connections at any time.") var connections = 1000
    @Option(help: "Changes per second (half connections closing, half opening).") var changes = 10
    @Option(help: "Queries of each kind to time.") var queries = 5
    @Option(help: "Simulated seconds between two commits (the daemon's --history-commit-interval).") var commitSeconds = 10

    func run() throws {
        for suffix in ["", "-wal", "-shm", ".lock"] { unlink(path + suffix) }
        let start = 1_780_000_000.0
        var workload = SyntheticHost(processes: processes, connections: connections, changesPerSecond: changes)
        var builder = ReportBuilder(hostID: "bench")
        let recorder = try HistoryRecorder(configuration: HistoryConfiguration(path: path))
        // Warm up: the first report and its checkpoint are not the steady state.
        recorder.record(builder.ingest(workload.snapshot(at: start)), names: [:], at: start)
        try recorder.commit()
        let bytesAtStart = try recorder.usedBytes()
        let ioAtStart = Self.writeBytes()
        var cpu: UInt64 = 0
        var worst: UInt64 = 0
        var lastReport = Report()
        for second in 1...seconds {
            let t = start + Double(second)
            let report = builder.ingest(workload.snapshot(at: t))
            let before = SystemClock.threadCPUNanos()
            recorder.record(report, names: [:], at: t)
            if second % max(1, commitSeconds) == 0 || second == seconds { try recorder.commit() }
            let used = SystemClock.threadCPUNanos() - before
            cpu += used
            worst = max(worst, used)
            lastReport = report
        }
        let bytes = try recorder.usedBytes() - bytesAtStart
        let io = Self.writeBytes() - ioAtStart
        let perDay = 86_400 / Double(seconds)
        print("# history: \(processes) processes, \(connections) connections, \(changes) changes/s, \(seconds) s simulated, a commit every \(commitSeconds) s")
        print("report nodes: \(lastReport.nodeCount) (\(lastReport.connections.count) connections, \(lastReport.endpoints.count) endpoints)")
        print("events written: \(recorder.eventsWritten), checkpoints: \(recorder.checkpoints)")
        print("events: " + recorder.eventCounts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        let mb = Double(bytes) / 1e6, ioMB = Double(io) / 1e6
        let cpuMillis = Double(cpu) / 1e6 / Double(seconds)
        print("log growth (pages in use): \(fixed(mb, 2)) MB over the run → \(fixed(mb * perDay, 1)) MB/day")
        print("disk writes (WAL + checkpoints into the file, /proc/self/io): \(fixed(ioMB, 1)) MB → \(fixed(ioMB * perDay, 1)) MB/day")
        print("recording CPU: \(fixed(cpuMillis, 3)) ms per simulated second (\(fixed(cpuMillis / 10, 2)) % of a core at one report a second), worst \(fixed(Double(worst) / 1e6, 1)) ms")
        let spec = try ViewSpec(view: "processes", options: ViewOptions())
        let t0 = SystemClock.monotonicMillis()
        let live = ViewRenderer.render(report: lastReport, spec: spec)
        let liveMillis = SystemClock.monotonicMillis() - t0
        print("baseline: rendering the live processes view (\(live.nodes.count) nodes, \(live.edges.count) edges) takes \(fixed(liveMillis, 1)) ms")
        try timeQueries(start: start, end: start + Double(seconds))
    }

    /// `topology/get at` at instants spread over the span, and `topology/diff` across the whole of it, as the
    /// daemon answers them (state from the log, render, diff, JSON encoding).
    private func timeQueries(start: Double, end: Double) throws {
        let log = try HistoryLog(reading: HistoryConfiguration(path: path), clock: { end })
        let spec = try ViewSpec(view: "processes", options: ViewOptions())
        var gets: [Double] = []
        var diffs: [Double] = []
        var size = 0
        for i in 0..<queries {
            let at = start + 60 + (end - start - 120) * Double(i) / Double(max(1, queries - 1))
            let t0 = SystemClock.monotonicMillis()
            let (report, names) = try log.state(at: at).report()
            let view = ViewRenderer.render(report: report, spec: spec, names: names)
            size = JSONWriter.bytes(view.json).count
            gets.append(SystemClock.monotonicMillis() - t0)
        }
        var changed = 0
        for _ in 0..<queries {
            let t0 = SystemClock.monotonicMillis()
            let (a, an) = try log.state(at: start + 1).report()
            let (b, bn) = try log.state(at: end).report()
            let before = ViewRenderer.render(report: a, spec: spec, names: an)
            let after = ViewRenderer.render(report: b, spec: spec, names: bn)
            let diff = ViewDiff(from: before, to: after)
            changed = JSONWriter.bytes(diff.json).count
            diffs.append(SystemClock.monotonicMillis() - t0)
        }
        gets.sort()
        diffs.sort()
        let getMedian = gets[gets.count / 2], getMax = gets.last ?? 0
        let diffMedian = diffs[diffs.count / 2], diffMax = diffs.last ?? 0
        print("topology/get at (processes view, \(size / 1024) KB): median \(fixed(getMedian, 1)) ms, max \(fixed(getMax, 1)) ms")
        print("topology/diff over \(Int(end - start - 1)) s (processes view, \(changed / 1024) KB of changes): median \(fixed(diffMedian, 1)) ms, max \(fixed(diffMax, 1)) ms")
    }

    /// This process's bytes written to storage so far (`write_bytes` of /proc/self/io).
    static func writeBytes() -> Int64 {
        guard let file = fopen("/proc/self/io", "r") else { return 0 }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(nulTerminated: line)
            if text.hasPrefix("write_bytes:") { return Int64(text.dropFirst(12).trimmingCharacters()) ?? 0 }
        }
        return 0
    }
}

/// `value` with `decimals` digits after the point.
private func fixed(_ value: Double, _ decimals: Int) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let n = Int64((value * scale).rounded())
    let whole = n / Int64(scale), part = abs(n % Int64(scale))
    guard decimals > 0 else { return "\(whole)" }
    let digits = String(part)
    return "\(n < 0 && whole == 0 ? "-" : "")\(whole)." + String(repeating: "0", count: decimals - digits.count) + digits
}

extension Substring {
    fileprivate func trimmingCharacters() -> String { String(filter { !$0.isWhitespace }) }
}

/// The synthetic host: `processes` processes (a fifth of them servers, each listening on its own port), and
/// `connections` loopback connections from clients to servers; every second `changesPerSecond / 2` of the oldest
/// connections close and as many new ones open, process CPU moves, and a tenth of the connections carry traffic.
struct SyntheticHost {
    let processes: Int
    let connections: Int
    let changesPerSecond: Int
    private var open: [(client: Int32, server: Int, port: UInt16)] = []
    private var nextPort = 20_000
    private var tick = 0
    private var rng: UInt64 = 0x9E37_79B9_7F4A_7C15

    init(processes: Int, connections: Int, changesPerSecond: Int) {
        self.processes = processes
        self.connections = connections
        self.changesPerSecond = changesPerSecond
        for _ in 0..<connections { open.append(newConnection()) }
    }

    private var servers: Int { max(1, processes / 5) }

    private mutating func random() -> UInt64 {
        rng &+= 0x9E37_79B9_7F4A_7C15
        var z = rng
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    private mutating func newConnection() -> (client: Int32, server: Int, port: UInt16) {
        nextPort = nextPort >= 60_000 ? 20_000 : nextPort + 1
        let client = Int32(1000 + servers + Int(random() % UInt64(max(1, processes - servers))))
        return (client, Int(random() % UInt64(servers)), UInt16(nextPort))
    }

    mutating func snapshot(at t: Double) -> HostSnapshot {
        tick += 1
        if tick > 1 {
            let n = changesPerSecond / 2
            open.removeFirst(min(n, open.count))
            for _ in 0..<n { open.append(newConnection()) }
        }
        var procs: [ProcessRecord] = []
        for i in 0..<processes {
            let server = i < servers
            let name = server ? "server-\(i)" : "worker-\(i % 17)"
            procs.append(ProcessRecord(pid: Int32(1000 + i), ppid: 1, name: name, command: "/usr/bin/\(name) --flag",
                                       executable: "/usr/bin/\(name)", cwd: "/srv", uid: 1000, user: "svc",
                                       threads: 4, startTime: 1000, state: "S", cpuPercent: Double(random() % 500) / 100,
                                       rssBytes: 50_000_000 + UInt64(i) * 4096, openFDs: 20, cgroup: "/system.slice/\(name).service",
                                       netns: 1))
        }
        var sockets: [SocketRecord] = []
        for i in 0..<servers {
            sockets.append(SocketRecord(proto: .tcp, family: .ipv4, state: "listen", localAddress: "0.0.0.0",
                                        localPort: UInt16(5000 + i), remoteAddress: "0.0.0.0", remotePort: 0,
                                        inode: UInt64(1_000_000 + i), uid: 1000, netns: 1, pid: Int32(1000 + i)))
        }
        for (k, c) in open.enumerated() {
            let port = UInt16(5000 + c.server)
            let busy = k % 10 == 0
            let info = TCPInfoRecord(rttMicros: 50, rttVarMicros: 10, bytesSent: busy ? UInt64(tick) * 1000 : 500,
                                     bytesReceived: busy ? UInt64(tick) * 3000 : 1500, retransmits: 0)
            sockets.append(SocketRecord(proto: .tcp, family: .ipv4, state: "established", localAddress: "127.0.0.1",
                                        localPort: c.port, remoteAddress: "127.0.0.1", remotePort: port,
                                        inode: UInt64(c.port) * 2, uid: 1000, netns: 1, pid: c.client, tcpInfo: info))
            sockets.append(SocketRecord(proto: .tcp, family: .ipv4, state: "established", localAddress: "127.0.0.1",
                                        localPort: port, remoteAddress: "127.0.0.1", remotePort: c.port,
                                        inode: UInt64(c.port) * 2 + 1, uid: 1000, netns: 1, pid: Int32(1000 + c.server), tcpInfo: info))
        }
        let host = HostRecord(hostname: "bench", os: "Debian", kernel: "6.1", uptimeSeconds: t - 1_779_000_000, cpuCount: 2,
                              cpuPercent: Double(random() % 10_000) / 100, memoryTotalBytes: 4 << 30,
                              memoryAvailableBytes: 2 << 30, load1: 0.5,
                              addresses: [InterfaceAddress(interface: "lo", address: "127.0.0.1", prefixLength: 8, netns: 1)])
        return HostSnapshot(timestamp: t, host: host, processes: procs, sockets: sockets, hostNetns: 1)
    }
}
