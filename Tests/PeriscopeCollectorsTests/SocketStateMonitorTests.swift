import Testing
import Synchronization
import PeriscopeCollectors
import PeriscopeSystem
import PeriscopeTopology
#if canImport(Glibc)
import Glibc
#endif

/// Collects what a ``SocketStateMonitor`` delivers, with the delivery latency of each event
/// (handler call time − event timestamp).
private final class StateRecorder: Sendable {
    let events = Mutex<[SocketStateEvent]>([])
    let latencies = Mutex<[Double]>([])
    let batches = Atomic<Int>(0)

    func record(_ batch: [SocketStateEvent]) {
        let t = SystemClock.realtime()
        batches.add(1, ordering: .relaxed)
        latencies.withLock { $0.append(contentsOf: batch.map { t - $0.timestamp }) }
        events.withLock { $0.append(contentsOf: batch) }
    }

    func matching(_ predicate: (SocketStateEvent) -> Bool) -> [SocketStateEvent] {
        events.withLock { $0.filter(predicate) }
    }

    /// p50 and p99 of the recorded latencies, in milliseconds.
    func percentiles() -> (p50: Double, p99: Double, count: Int) {
        let sorted = latencies.withLock { $0 }.sorted()
        guard !sorted.isEmpty else { return (0, 0, 0) }
        func at(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))] * 1000 }
        return (at(0.5), at(0.99), sorted.count)
    }
}

private let isRoot = geteuid() == 0

extension KernelTests {
    /// The perf/tracepoint socket state monitor; nested so it runs serialized with the other kernel tests.
    @Suite struct SocketStateMonitorTests {}
}

extension KernelTests.SocketStateMonitorTests {
    @Test(.enabled(if: !isRoot, "checks the unprivileged failure"))
    func socketStateMonitorFailsClearlyWithoutPrivilege() {
        let monitor = SocketStateMonitor()
        do {
            try monitor.start { _ in }
            Issue.record("an unprivileged start succeeded (perf_event_paranoid = -1 and tracefs readable?)")
            monitor.stop()
        } catch {
            print("unprivileged start: \(error)")
            #expect(error.code == .permission || error.code == .tracing)
        }
    }

    @Test(.enabled(if: isRoot, "perf_event_open on a tracepoint needs root"))
    func socketStateMonitorSeesLoopbackConnectAndClose() throws {
        let recorder = StateRecorder()
        let monitor = SocketStateMonitor()
        try monitor.start { recorder.record($0) }
        defer { monitor.stop() }
        #expect(throws: CollectorError.self) { try monitor.start { _ in } }

        let listener = try TestSockets.listen("127.0.0.1")
        defer { close(listener.fd) }
        let pair = try TestSockets.connectPair(listener: listener.fd, address: "127.0.0.1", port: listener.port)
        defer { close(pair.server) }
        let clientPort = try TestSockets.localPort(pair.client)
        let me = getpid()
        let client = { (e: SocketStateEvent) in e.localPort == clientPort && e.remotePort == listener.port }

        #expect(TestProcesses.eventually { !recorder.matching { client($0) && $0.newState == "established" }.isEmpty })
        let synSent = recorder.matching { client($0) && $0.newState == "syn-sent" }
        #expect(synSent.count == 1)
        if let e = synSent.first {
            #expect(e.pid == me && e.oldState == "close" && e.family == .ipv4 && e.proto == .tcp)
            #expect(e.localAddress == "127.0.0.1" && e.remoteAddress == "127.0.0.1")
        }
        let established = recorder.matching { client($0) && $0.newState == "established" }
        #expect(established.first?.oldState == "syn-sent")
        #expect(established.first?.pid == me)           // carried from the socket's connect
        // The accepted socket is born in softirq: no owner known.
        let passive = recorder.matching { $0.localPort == listener.port && $0.remotePort == clientPort }
        #expect(!passive.isEmpty && passive.allSatisfy { $0.pid == nil })
        if let a = synSent.first, let b = established.first { #expect(a.timestamp <= b.timestamp) }
        #expect(!recorder.matching { $0.localPort == listener.port && $0.newState == "listen" && $0.pid == me }.isEmpty)

        // shutdown() moves the socket to FIN_WAIT1 in the caller's context. (A close() does so only if it
        // drops the last reference: a child forked meanwhile by a parallel test may hold the fd until its
        // exec, and then the transition is the child's, seen in CI under ASan and TSan.)
        shutdown(pair.client, Int32(SHUT_WR))
        defer { close(pair.client) }
        #expect(TestProcesses.eventually { !recorder.matching { client($0) && $0.newState == "fin-wait-1" }.isEmpty })
        let closing = recorder.matching { client($0) && $0.newState == "fin-wait-1" }
        #expect(closing.first?.pid == me && closing.first?.oldState == "established")
        #expect(monitor.eventsSeen >= 3)
        #expect(monitor.eventsLost == 0)
    }

    @Test(.enabled(if: isRoot, "perf_event_open on a tracepoint needs root"))
    func socketStateMonitorReportsIPv6() throws {
        let recorder = StateRecorder()
        let monitor = SocketStateMonitor()
        try monitor.start { recorder.record($0) }
        defer { monitor.stop() }
        let listener = try TestSockets.listen("::1")
        defer { close(listener.fd) }
        let pair = try TestSockets.connectPair(listener: listener.fd, address: "::1", port: listener.port)
        defer { close(pair.client); close(pair.server) }
        let clientPort = try TestSockets.localPort(pair.client)
        let found = TestProcesses.eventually {
            !recorder.matching { $0.localPort == clientPort && $0.newState == "syn-sent" }.isEmpty
        }
        #expect(found)
        let e = recorder.matching { $0.localPort == clientPort && $0.newState == "syn-sent" }.first
        #expect(e?.family == .ipv6 && e?.localAddress == "::1" && e?.remoteAddress == "::1")
        #expect(e?.remotePort == listener.port && e?.pid == getpid())
    }

    @Test(.enabled(if: isRoot, "perf_event_open on a tracepoint needs root"))
    func socketStateMonitorCatchesShortLivedConnections() throws {
        let recorder = StateRecorder()
        let monitor = SocketStateMonitor()
        try monitor.start { recorder.record($0) }
        defer { monitor.stop() }
        // 200 connections of ~50 ms each (4 threads × 50), from a child with its own listener.
        let script = """
        import os, socket, threading, time
        srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1024)
        port = srv.getsockname()[1]
        held = []
        def accept():
            while True:
                c, _ = srv.accept(); held.append(c)
        threading.Thread(target=accept, daemon=True).start()
        ports = []
        def work():
            for _ in range(50):
                s = socket.create_connection(("127.0.0.1", port)); ports.append(s.getsockname()[1])
                time.sleep(0.05); s.close()
        ts = [threading.Thread(target=work) for _ in range(4)]
        [t.start() for t in ts]; [t.join() for t in ts]
        print(os.getpid(), port, " ".join(map(str, ports)), flush=True)
        """
        let result = try TestProcesses.run("/usr/bin/python3", ["-c", script])
        #expect(result.status == 0)
        let numbers = result.output.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int($0) }
        try #require(numbers.count == 202)
        let child = Int32(numbers[0])
        let serverPort = UInt16(numbers[1])
        let ports = Set(numbers.dropFirst(2).map { UInt16($0) })
        // Distinct unless the kernel reused a loopback port still in TIME_WAIT (tcp_tw_reuse = 2, > 1 s old).
        #expect(ports.count >= 195)

        let connects = {
            recorder.matching { $0.pid == child && $0.newState == "syn-sent" && $0.remotePort == serverPort }
        }
        // Every connection's close by its owner is attributed as well. The last batch may wait out a hold-off
        // (events came steadily) after the child ended.
        let closes = { Set(recorder.matching { $0.pid == child && $0.newState == "fin-wait-1" }.map(\.localPort)) }
        _ = TestProcesses.eventually { connects().count >= 200 && closes().count >= ports.count }
        #expect(connects().count == 200)                  // every connect, attributed to the child
        #expect(Set(connects().map(\.localPort)) == ports)  // with the port the child saw
        #expect(closes() == ports)
        #expect(monitor.eventsLost == 0)

        let (p50, p99, count) = recorder.percentiles()
        print("socket state delivery latency over \(count) events in \(recorder.batches.load(ordering: .relaxed)) "
              + "batches: p50 \(p50) ms, p99 \(p99) ms")
        // Issue 4's end-to-end targets; typically 0.1–0.3 ms / 1–25 ms here (2 shared cores under load).
        #expect(p50 <= 50)
        #expect(p99 <= 250)
    }

    @Test(.enabled(if: isRoot, "perf_event_open on a tracepoint needs root"))
    func socketStateMonitorStopIsIdempotentAndRestarts() throws {
        let monitor = SocketStateMonitor()
        monitor.stop()                          // never started
        let first = StateRecorder()
        try monitor.start { first.record($0) }
        monitor.stop()
        monitor.stop()
        let second = StateRecorder()
        try monitor.start { second.record($0) }
        defer { monitor.stop() }
        let listener = try TestSockets.listen("127.0.0.1")
        defer { close(listener.fd) }
        let pair = try TestSockets.connectPair(listener: listener.fd, address: "127.0.0.1", port: listener.port)
        defer { close(pair.client); close(pair.server) }
        let clientPort = try TestSockets.localPort(pair.client)
        #expect(TestProcesses.eventually { !second.matching { $0.localPort == clientPort }.isEmpty })
        #expect(first.matching { $0.localPort == clientPort }.isEmpty)
        #expect(monitor.eventsSeen > 0)

        // Stopping from inside the handler must not deadlock.
        let stopped = Atomic<Bool>(false)
        monitor.stop()
        try monitor.start { [monitor] _ in
            monitor.stop()
            stopped.store(true, ordering: .relaxed)
        }
        let again = try TestSockets.connectPair(listener: listener.fd, address: "127.0.0.1", port: listener.port)
        defer { close(again.client); close(again.server) }
        #expect(TestProcesses.eventually { stopped.load(ordering: .relaxed) })
    }

    /// While nobody looks the reader reads its rings every 100 ms: a sparse stream of connections then costs a
    /// wake-up per period, not one per state change, and each connection is still seen once.
    @Test(.enabled(if: isRoot, "perf_event_open on a tracepoint needs root"))
    func idlePeriodBatchesASparseStream() throws {
        let run = try idlePeriodRun(flood: 0)
        // Each connection is two bursts of state changes (connect; close): read on every wake-up that is ≥ 60
        // batches; read every 100 ms it is ~25 (other tests' sockets may add a few).
        print("30 connections over 2.4 s read in \(run.sparseBatches) batches")
        #expect(run.sparseBatches < 40)
        #expect(run.connects == 30)
        #expect(run.lost == 0)
    }

    /// With the same 100 ms period a flood loses nothing: the kernel wakes the reader as soon as a ring holds
    /// ``SocketStateMonitor/wakeupSamples`` samples. (A throughput check of the optimized reader: under the
    /// sanitizers it is several times slower than the flood, so scripts/sanitize.sh skips this one.)
    @Test(.enabled(if: isRoot, "perf_event_open on a tracepoint needs root"))
    func idlePeriodKeepsUpWithAFlood() throws {
        let run = try idlePeriodRun(flood: 3000)
        #expect(run.connects == 3030)   // every connect, once (none written twice while the rings switch)
        #expect(run.lost == 0)
    }

    /// A monitor with the 100 ms period; a child opens 30 connections of 40 ms, 40 ms apart (2.4 s: a burst of
    /// state changes every 40 ms, too sparse for a hold-off after each batch), then `flood` as fast as they go.
    /// Returns the batches read during the sparse part, the connects seen in all, and the samples lost.
    private func idlePeriodRun(flood: Int) throws -> (sparseBatches: Int, connects: Int, lost: UInt64) {
        let recorder = StateRecorder()
        let monitor = SocketStateMonitor()
        monitor.setHoldOff(millis: 100)
        try monitor.start { recorder.record($0) }
        defer { monitor.stop() }
        let script = """
        import os, socket, sys, threading, time
        srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(4096)
        port = srv.getsockname()[1]
        def accept():
            while True:
                c, _ = srv.accept(); c.close()
        threading.Thread(target=accept, daemon=True).start()
        def connect(hold=0):
            s = socket.create_connection(("127.0.0.1", port)); time.sleep(hold); s.close()
        for _ in range(30):
            connect(0.04); time.sleep(0.04)
        print(os.getpid(), port, flush=True)
        sys.stdin.readline()
        for _ in range(\(flood)):
            connect()
        print("done", flush=True)
        """
        var toChild: [Int32] = [0, 0], fromChild: [Int32] = [0, 0]
        try #require(pipe(&toChild) == 0 && pipe(&fromChild) == 0)
        let child = try TestProcesses.spawn(["/usr/bin/python3", "-c", script], stdout: fromChild[1], stdin: toChild[0])
        close(toChild[0]); close(fromChild[1])
        defer { close(toChild[1]); close(fromChild[0]); TestProcesses.kill(child) }
        func line() -> String {
            var bytes: [UInt8] = []
            var byte: UInt8 = 0
            while read(fromChild[0], &byte, 1) == 1, byte != 10 { bytes.append(byte) }
            return String(decoding: bytes, as: UTF8.self)
        }
        let first = line().split(separator: " ").compactMap { UInt16($0) }
        try #require(first.count == 2)
        let serverPort = first[1]
        let connects = { recorder.matching { $0.newState == "syn-sent" && $0.remotePort == serverPort }.count }
        #expect(TestProcesses.eventually { connects() >= 30 })
        let sparseBatches = recorder.batches.load(ordering: .relaxed)
        _ = write(toChild[1], "go\n", 3)
        #expect(line() == "done")
        _ = TestProcesses.eventually(seconds: 10) { connects() >= 30 + flood }
        return (sparseBatches, connects(), monitor.eventsLost)
    }
}
