import PeriscopeEventLoop
import PeriscopeProtocol
import PeriscopeServer
import PeriscopeSystem

/// A whole daemon (methods, limits, sessions) in the test process with no socket: clients connect
/// over ``InMemoryStream``s and the test runs the loop in short slices while it waits for replies.
///
/// - Important: use from one thread (it becomes the loop thread while the loop runs).
public final class EmbeddedDaemon {
    public let daemon: Daemon
    public var loop: EventLoop { daemon.loop }
    public var core: ServerCore { daemon.core }
    /// The host map, when the configuration keeps one: with ``ServerConfiguration/injectedReports`` the test
    /// gives it reports (``TopologyService/install(_:names:)``) and subscriptions run as with collectors.
    public var topology: TopologyService? { daemon.topology }

    /// A daemon with `configure` applied to a configuration that has no endpoints, no collectors and no
    /// signal handling.
    public init(_ configure: (inout ServerConfiguration) -> Void = { _ in }) throws {
        var configuration = ServerConfiguration()
        configuration.collectors = false
        configuration.handlesSignals = false
        configure(&configuration)
        daemon = try Daemon(configuration: configuration)
    }

    /// A new client on `transport` (TCP ones must authenticate, as on a socket).
    public func connect(_ transport: TransportKind = .unix, uid: UInt32 = 0) -> EmbeddedClient {
        let stream = InMemoryStream(peer: "memory-\(transport.rawValue)",
                                    credentials: transport == .unix ? (pid: 1, uid: uid) : nil)
        core.accept(stream, transport: transport)
        return EmbeddedClient(stream: stream, daemon: self)
    }

    /// Runs the loop for `millis` (timers fire, work from other threads lands).
    public func run(millis: Int) { loop.run(forMillis: millis) }
}

/// One in-memory client: sends JSON (Content-Length framed or ndjson) and reads what the daemon sends.
public final class EmbeddedClient {
    public let stream: InMemoryStream
    private let daemon: EmbeddedDaemon
    private var decoder: FrameDecoder
    private let parser = JSONParser(maxDepth: 256)
    public let framing: FramingMode

    init(stream: InMemoryStream, daemon: EmbeddedDaemon, framing: FramingMode = .headers) {
        self.stream = stream
        self.daemon = daemon
        self.framing = framing
        decoder = FrameDecoder(maxMessageSize: 1 << 30, mode: nil)
    }

    /// Sends one message framed with Content-Length.
    public func send(_ value: JSONValue) {
        stream.clientSend(FrameEncoder.frame(value, mode: .headers))
    }

    /// Sends one message as a line (newline-delimited JSON; the session's framing is chosen by the
    /// first byte it sees).
    public func sendLine(_ value: JSONValue) {
        stream.clientSend(FrameEncoder.frame(value, mode: .lines))
    }

    /// Sends raw bytes.
    public func sendRaw(_ bytes: [UInt8]) { stream.clientSend(bytes) }

    /// Sends a request and waits for the response with its id.
    public func call(_ method: String, _ params: JSONValue? = nil, id: Int64 = 1, lines: Bool = false,
                     timeoutMillis: Int = 2000) -> JSONValue? {
        let message = Message.request(id: .number(id), method: method, params: params).json
        if lines { sendLine(message) } else { send(message) }
        while let reply = next(timeoutMillis: timeoutMillis) {
            if reply["id"] == .int(id) { return reply }
        }
        return nil
    }

    /// The next message the daemon sends, reading as a prompt client does; nil on timeout or close.
    public func next(timeoutMillis: Int = 2000) -> JSONValue? {
        let deadline = SystemClock.monotonicMillis() + Double(timeoutMillis)  // wall time: a loop slice may run long
        while true {
            if let body = try? decoder.next() {
                return try? parser.parse(body)
            }
            let bytes = stream.clientTake()
            if !bytes.isEmpty {
                decoder.append(bytes)
                continue
            }
            if !stream.isOpen || SystemClock.monotonicMillis() >= deadline { return nil }
            daemon.run(millis: 2)
        }
    }

    /// Whether the daemon has closed this client.
    public var isClosed: Bool { !stream.isOpen }
}
