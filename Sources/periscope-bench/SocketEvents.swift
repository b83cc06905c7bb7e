import ArgumentParser
import Glibc
import PeriscopeCollectors
import PeriscopeSystem
import Synchronization

/// How fast the TCP state tracepoint reader (``SocketStateMonitor``) hands events over, in-process: the
/// delivery latency of single loopback connections, then a burst well past the rings' size.
struct SocketEvents: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "socket-events",
        abstract: "TCP state tracepoint: delivery latency and a burst past the rings (needs root)."
    )

    @Option(help: "Loopback connections, one at a time, for the latency figures.") var connections = 500
    @Option(help: "Connections per thread in the burst (4 threads back to back).") var burst = 1500

    func run() throws {
        guard geteuid() == 0 else { throw ValidationError("needs root: perf_event_open on a tracepoint") }
        let me = getpid()
        let latencies = Mutex<[Double]>([])
        let established = Mutex<[UInt16: Double]>([:])
        let connects = Atomic<Int>(0)
        let monitor = SocketStateMonitor()
        try monitor.start { batch in
            let now = SystemClock.realtime()
            latencies.withLock { $0.append(contentsOf: batch.map { now - $0.timestamp }) }
            established.withLock { for e in batch where e.newState == "established" { $0[e.localPort] = $0[e.localPort] ?? now } }
            connects.add(batch.count { $0.pid == me && $0.newState == "syn-sent" && $0.localPort != 0 }, ordering: .relaxed)
        }
        defer { monitor.stop() }
        let listener = try Loopback.listener()
        defer { shutdown(listener.fd, Int32(SHUT_RDWR)); close(listener.fd) }
        SystemThread.detach(name: "bench-accept") { Loopback.acceptAndClose(listener.fd) }

        // Latency: event timestamp → handler, and connect() returning → handler holding its `established`.
        var connected: [UInt16: Double] = [:]
        for _ in 0..<connections {
            let client = try Loopback.connect(port: listener.port)
            connected[try Loopback.localPort(client)] = SystemClock.realtime()
            close(client)
            usleep(2000)
        }
        waitUntil { established.withLock { $0.count } >= connections }
        let arrivals = established.withLock { $0 }
        let seen = connected.compactMap { port, t in arrivals[port].map { max(0, $0 - t) * 1000 } }.sorted()
        let delivered = latencies.withLock { $0 }.map { $0 * 1000 }.sorted()
        print("socket events: \(delivered.count) events, timestamp→handler p50 \(quantile(delivered, 0.5)) ms "
              + "p99 \(quantile(delivered, 0.99)) ms; connect-return→handler (\(seen.count)/\(connections)) "
              + "p50 \(quantile(seen, 0.5)) ms p99 \(quantile(seen, 0.99)) ms max \(seen.last.map { String(format2: $0) } ?? "-") ms; lost \(monitor.eventsLost)")

        // Burst: 4 threads connecting back to back. Counted as events, not distinct ports (tcp_tw_reuse).
        let before = (events: monitor.eventsSeen, connects: connects.load(ordering: .relaxed))
        let started = SystemClock.realtime()
        let port = listener.port
        let perThread = burst
        let threads = (0..<4).compactMap { _ in
            SystemThread.start(name: "bench-burst") {
                for _ in 0..<perThread { if let fd = try? Loopback.connect(port: port) { close(fd) } }
            }
        }
        for thread in threads { pthread_join(thread, nil) }
        let expected = 4 * burst
        waitUntil { connects.load(ordering: .relaxed) - before.connects >= expected }
        print("socket events burst: \(connects.load(ordering: .relaxed) - before.connects)/\(expected) connects attributed, "
              + "\(monitor.eventsSeen - before.events) events in \(String(format2: SystemClock.realtime() - started)) s, "
              + "lost \(monitor.eventsLost)")
    }

    private func quantile(_ sorted: [Double], _ q: Double) -> String {
        sorted.isEmpty ? "-" : String(format2: sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))])
    }

    /// Polls `condition` every 50 ms for up to 5 s.
    private func waitUntil(_ condition: () -> Bool) {
        let deadline = SystemClock.monotonic() + 5
        while !condition(), SystemClock.monotonic() < deadline { usleep(50_000) }
    }
}

/// IPv4 loopback TCP sockets for the benchmark.
private enum Loopback {
    static func listener() throws -> (fd: Int32, port: UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw failure("socket") }
        guard withAddress(port: 0, { bind(fd, $0, $1) }) == 0 else { throw failure("bind") }
        guard listen(fd, 4096) == 0 else { throw failure("listen") }
        return (fd, try localPort(fd))
    }

    static func connect(port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw failure("socket") }
        guard withAddress(port: port, { Glibc.connect(fd, $0, $1) }) == 0 else {
            close(fd)
            throw failure("connect")
        }
        return fd
    }

    /// Accepts and closes connections until the listener is shut down.
    static func acceptAndClose(_ listener: Int32) {
        while true {
            let fd = accept(listener, nil, nil)
            if fd >= 0 { close(fd) } else if errno != EINTR && errno != ECONNABORTED { return }
        }
    }

    static func localPort(_ fd: Int32) throws -> UInt16 {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { throw failure("getsockname") }
        return UInt16(bigEndian: address.sin_port)
    }

    private static func withAddress(port: UInt16, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    private static func failure(_ what: String) -> ValidationError {
        ValidationError("\(what): \(String(cString: strerror(errno)))")
    }
}
