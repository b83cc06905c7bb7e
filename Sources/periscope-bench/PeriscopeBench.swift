import ArgumentParser
import Glibc
import PeriscopeClient
import PeriscopeProtocol
import PeriscopeSystem
import Synchronization

/// `periscope-bench`: figures for bench/RESULTS.md. Not a test: it prints numbers.
@main
struct PeriscopeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "periscope-bench",
        abstract: "Benchmarks for the Periscope daemon and protocol.",
        subcommands: [Ping.self, Framing.self, SocketEvents.self, HistoryBenchmark.self, RevisionCost.self]
    )
}

struct Ping: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "daemon/ping round trips over the Unix socket: throughput and latency.")

    @Option(help: "Daemon socket.") var socket: String
    @Option(help: "Concurrent clients (one thread and connection each).") var clients = 1
    @Option(help: "Seconds to run.") var seconds = 5.0

    func run() throws {
        let request = FrameEncoder.frame(Message.request(id: .number(1), method: DaemonPingRequest.method, params: DaemonPingRequest.Params().json).json, mode: .headers)
        let stop = Atomic<Bool>(false)
        let results = Mutex<[[UInt64]]>([])
        let failures = Atomic<Int>(0)
        var threads: [pthread_t] = []
        let path = socket
        for _ in 0..<clients {
            let work: @Sendable () -> Void = {
                var latencies: [UInt64] = []
                latencies.reserveCapacity(1 << 20)
                do {
                    let client = try RPCClient(socketPath: path)
                    try client.initialize(clientName: "periscope-bench")
                    while !stop.load(ordering: .relaxed) {
                        let start = SystemClock.monotonicNanos()
                        try client.writeAll(request)
                        guard case .response(_, .success) = try client.readMessage() else {
                            failures.add(1, ordering: .relaxed)
                            continue
                        }
                        latencies.append(SystemClock.monotonicNanos() - start)
                    }
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
                results.withLock { $0.append(latencies) }
            }
            guard let thread = SystemThread.start(name: "bench-client", work) else {
                stop.store(true, ordering: .relaxed)
                throw ValidationError("cannot start a client thread")
            }
            threads.append(thread)
        }
        usleep(UInt32(seconds * 1_000_000))
        stop.store(true, ordering: .relaxed)
        for thread in threads { pthread_join(thread, nil) }
        let all = results.withLock { $0.flatMap { $0 } }.sorted()
        guard !all.isEmpty else { throw ValidationError("no successful pings (failures: \(failures.load(ordering: .relaxed)))") }
        func percentile(_ p: Double) -> Double { Double(all[min(all.count - 1, Int(Double(all.count) * p))]) / 1000 }
        let rate = Double(all.count) / seconds
        print("clients=\(clients) pings=\(all.count) rate=\(Int(rate))/s p50=\(String(format2: percentile(0.5)))us p99=\(String(format2: percentile(0.99)))us max=\(String(format2: Double(all.last ?? 0) / 1000))us failures=\(failures.load(ordering: .relaxed))")
    }
}

struct Framing: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Framing + JSON decode throughput, in-process, in MB/s.")

    @Option(help: "Megabytes of framed messages to decode.") var megabytes = 64

    func run() throws {
        // A realistic mix: small requests and a larger result-sized message.
        let small = FrameEncoder.frame(Message.request(id: .number(12345), method: DaemonPingRequest.method,
                                                     params: DaemonPingRequest.Params(delayMs: 0).json).json, mode: .headers)
        var nodes: [JSONValue] = []
        for n in 0..<50 {
            nodes.append(["id": .string("host;\(n)"), "label": .string("process \(n)"), "metrics": ["cpu": 1.5, "rss": 123456], "pid": JSONValue(n)])
        }
        let large = FrameEncoder.frame(Message.response(id: .number(1), result: .success(["nodes": .array(nodes)])).json, mode: .headers)
        var stream: [UInt8] = []
        while stream.count < 4 << 20 {
            for _ in 0..<10 { stream += small }
            stream += large
        }
        let parser = JSONParser()
        let rounds = max(1, (megabytes << 20) / stream.count)
        var messages = 0
        let start = SystemClock.monotonicNanos()
        for _ in 0..<rounds {
            var decoder = FrameDecoder()
            var offset = 0
            while offset < stream.count {
                let end = min(stream.count, offset + 16384)
                stream[offset..<end].withUnsafeBytes { decoder.append($0) }
                offset = end
                while let body = try decoder.next() {
                    _ = try parser.parse(body)
                    messages += 1
                }
            }
        }
        let elapsed = Double(SystemClock.monotonicNanos() - start) / 1e9
        let bytes = Double(rounds * stream.count)
        print("framing+decode: \(String(format2: bytes / elapsed / 1e6)) MB/s, \(Int(Double(messages) / elapsed)) messages/s (\(Int(bytes / 1e6)) MB)")
    }
}

extension String {
    /// Two decimals, without Foundation.
    init(format2 value: Double) {
        let scaled = (value * 100).rounded()
        let whole = Int(scaled / 100)
        let fraction = Int(abs(scaled).truncatingRemainder(dividingBy: 100))
        self = "\(whole).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
