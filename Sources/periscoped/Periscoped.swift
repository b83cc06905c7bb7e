import ArgumentParser
import Glibc
import Logging
import PeriscopeHistory
import PeriscopeProtocol
import PeriscopeServer

/// `periscoped`: the long-running daemon. Thin: parses flags, sets up logging, runs ``Daemon``.
@main
struct Periscoped: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "periscoped",
        abstract: "Discover every process, socket and connection on this host and serve the topology over JSON-RPC.",
        discussion: """
            Serves JSON-RPC 2.0 (LSP Content-Length framing, or one JSON message per line) on a Unix socket \
            (owner-only), on stdio with --stdio, and on TCP with --listen plus --token-file. Logs go to stderr.
            """,
        version: PeriscopeVersion.daemon
    )

    @Flag(help: "Serve one client on stdin/stdout (what an editor spawns). No socket unless --socket is given.")
    var stdio = false

    @Option(help: "Unix socket path (default: $PERISCOPE_SOCKET, else /run/periscope/periscope.sock as root, else $XDG_RUNTIME_DIR/periscope.sock).")
    var socket: String?

    @Flag(help: "Do not listen on a Unix socket.")
    var noSocket = false

    @Option(help: "Also listen on TCP HOST:PORT (requires --token-file).")
    var listen: String?

    @Option(help: "File whose first line is the token TCP clients must present.")
    var tokenFile: String?

    @Option(help: "Largest message accepted from a client, in bytes.")
    var maxMessageSize = 64 << 20

    @Option(help: "Most clients connected at once.")
    var maxClients = 4096

    @Option(help: "Unsent output (bytes) above which a client that reads nothing for 2 s is disconnected; also the bound on one batch reply. A client that keeps reading is never dropped.")
    var maxClientOutput = 16 << 20

    @Option(help: "A client that reads nothing for this long (ms) while output waits for it is disconnected.")
    var clientStallMs = 15_000

    @Option(help: "Most TCP peers connected and not yet authenticated.")
    var maxUnauthenticated = 64

    @Option(help: "Time (ms) a TCP peer has to authenticate before it is disconnected.")
    var authTimeoutMs = 10_000

    @Option(help: "Most subscriptions (view and node) per connection.")
    var maxSubscriptions = 64

    @Option(help: "Refresh interval in milliseconds while someone looks: TCP counters and process figures.")
    var refreshMs = 1000

    @Option(help: "Full-pass interval in milliseconds: every process and socket read again (events keep the map current in between).")
    var reconcileMs = 15_000

    @Flag(help: "Serve the protocol only, without kernel collectors (for protocol tests).")
    var noCollectors = false

    @Option(help: "Container engine socket (Docker-compatible API; default: DOCKER_HOST, else /var/run/docker.sock, else /run/podman/podman.sock).")
    var dockerSocket: String?

    @Flag(inversion: .prefixedNo, help: ArgumentHelp("Load the L7 BPF programs with the collectors: protocol, requests, latency and errors per edge (off by default: they run at the exit of every read and write on the host, see bench/RESULTS.md \"L7\")."))
    var l7 = false

    @Option(help: ArgumentHelp("Serve L7 and edge figures as Prometheus metrics on ADDR:PORT (off by default).", valueName: "addr:port"))
    var metrics: String?

    @Option(help: ArgumentHelp("Enable controls (control/invoke): bare --controls enables all, --controls=start,stop,... only those. Off by default; at an aggregator, controls on another host also need that host's --controls.", valueName: "list"))
    var controls: String?

    @Option(help: ArgumentHelp("Publish this host's report to the aggregator at HOST:PORT (mutual TLS).", valueName: "host:port"))
    var publish: String?

    @Option(help: ArgumentHelp("Aggregate: accept publishers' reports on ADDR:PORT (mutual TLS) and serve one map of every host.", valueName: "addr:port"))
    var acceptReports: String?

    @Option(help: ArgumentHelp("This daemon's certificate (PEM); for a publisher its name (CN or DNS SAN) is its host id.", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("The certificate's private key (PEM).", valueName: "file"))
    var tlsKey: String?

    @Option(help: ArgumentHelp("CA certificates (PEM) that peers' certificates must chain to.", valueName: "file"))
    var tlsCa: String?

    @Option(help: "Aggregator: seconds after which a silent publisher's host is removed (stale after 3 missed refreshes).")
    var hostExpiry = 60.0

    @Option(help: ArgumentHelp("Publish this host's report to a NATS JetStream bus (comma-separated nats:// or tls:// URLs).", valueName: "urls"))
    var bus: String?

    @Flag(help: "With --bus: also consume every host's reports from the bus and serve the merged map.")
    var aggregate = false

    @Option(help: ArgumentHelp("With --bus: NATS credentials file (user JWT and nkey seed).", valueName: "file"))
    var busCreds: String?

    @Option(help: ArgumentHelp("With --bus: file whose first line is the token the NATS servers require.", valueName: "file"))
    var busTokenFile: String?

    @Option(help: ArgumentHelp("With --bus: CA certificates (PEM) the NATS servers' certificates must chain to (turns TLS on).", valueName: "file"))
    var busTlsCa: String?

    @Option(help: ArgumentHelp("With --bus: client certificate (PEM) for NATS servers that verify clients.", valueName: "file"))
    var busTlsCert: String?

    @Option(help: ArgumentHelp("With --bus: the client certificate's private key (PEM).", valueName: "file"))
    var busTlsKey: String?

    @Option(help: "With --bus: the JetStream stream of reports (created over periscope.report.> if missing).")
    var busStream = "PERISCOPE_REPORTS"

    @Option(help: "With --bus: replicas of the stream when this daemon creates it (1 for a single server).")
    var busReplicas = 3

    @Option(help: ArgumentHelp("With --bus: reports older than this leave the stream it creates (1h, 30m, seconds; 0 for never).", valueName: "duration"))
    var busMaxAge = "1h"

    @Option(help: "With --bus: messages kept per host in the stream it creates; a full report at least every that many (deltas between), which aggregators catch up from.")
    var busKeep = BusConfiguration.defaultKeep

    @Option(help: ArgumentHelp("History log (SQLite): a file path, or 'off' (default: /var/lib/periscope/history.db as root, else $XDG_STATE_HOME/periscope/history.db).", valueName: "path|off"))
    var history: String?

    @Option(help: ArgumentHelp("History: data older than this goes first (7d, 12h, 30m, seconds).", valueName: "duration"))
    var historyRetention = "7d"

    @Option(help: ArgumentHelp("History: the most bytes the log keeps; the oldest goes first (1GiB, 500MiB, 0 for no limit).", valueName: "size"))
    var historyMaxSize = "1GiB"

    @Option(help: ArgumentHelp("History: time between two commits, what a crash may lose at most (10s, 1s, 0.5s); queries always see the latest.", valueName: "duration"))
    var historyCommitInterval = "10s"

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    @Flag(help: "Print the socket path the daemon would use, and exit.")
    var printSocket = false

    /// A bare `--controls` (no value) means every control: rewritten to `--controls=all` before parsing.
    static func main() {
        let arguments = CommandLine.arguments.dropFirst().map { $0 == "--controls" ? "--controls=all" : $0 }
        main(Array(arguments))
    }

    func validate() throws {
        if let controls {
            let known = ServerConfiguration.knownControls
            for name in controls.split(separator: ",") where !known.contains(String(name)) {
                throw ValidationError("unknown control '\(name)' in --controls; known: \(known.sorted().joined(separator: ", "))")
            }
        }
        if listen != nil, tokenFile == nil { throw ValidationError("--listen needs --token-file: TCP clients must authenticate") }
        if maxMessageSize < 1024 { throw ValidationError("--max-message-size must be at least 1024") }
        if clientStallMs < 100 { throw ValidationError("--client-stall-ms must be at least 100") }
        if authTimeoutMs < 100 { throw ValidationError("--auth-timeout-ms must be at least 100") }
        if maxUnauthenticated < 1 || maxSubscriptions < 1 {
            throw ValidationError("--max-unauthenticated and --max-subscriptions must be at least 1")
        }
        if refreshMs < 50 { throw ValidationError("--refresh-ms must be at least 50") }
        if (publish != nil || acceptReports != nil), tlsCert == nil || tlsKey == nil || tlsCa == nil {
            throw ValidationError("--publish and --accept-reports need --tls-cert, --tls-key and --tls-ca (mutual TLS)")
        }
        if (publish != nil || acceptReports != nil), noCollectors {
            throw ValidationError("--publish and --accept-reports need the collectors")
        }
        if bus == nil, aggregate || busCreds != nil || busTokenFile != nil || busTlsCa != nil || busTlsCert != nil {
            throw ValidationError("--aggregate, --bus-creds, --bus-token-file and --bus-tls-* need --bus")
        }
        if bus != nil, noCollectors { throw ValidationError("--bus needs the collectors") }
        if aggregate, acceptReports != nil { throw ValidationError("--aggregate (bus) and --accept-reports cannot be combined") }
        if (busTlsCert == nil) != (busTlsKey == nil) { throw ValidationError("--bus-tls-cert and --bus-tls-key go together") }
        if !(1...5).contains(busReplicas) { throw ValidationError("--bus-replicas must be 1 to 5") }
        if busKeep < 1 { throw ValidationError("--bus-keep must be at least 1") }
        if busMaxAge != "0", HistoryConfiguration.parseDuration(busMaxAge) == nil {
            throw ValidationError("--bus-max-age must be a duration such as 1h, 30m, a number of seconds, or 0")
        }
        if !(hostExpiry >= 1 && hostExpiry <= 86_400) { throw ValidationError("--host-expiry must be 1 to 86400 seconds") }
        if HistoryConfiguration.parseDuration(historyRetention) == nil {
            throw ValidationError("--history-retention must be a duration such as 7d, 12h, 30m or a number of seconds")
        }
        if let t = HistoryConfiguration.parseDuration(historyCommitInterval), t >= 0.1, t <= 3600 {} else {
            throw ValidationError("--history-commit-interval must be a duration from 0.1s to 1h, such as 10s or 1m")
        }
        if HistoryConfiguration.parseSize(historyMaxSize) == nil {
            throw ValidationError("--history-max-size must be a size such as 1GiB, 500MiB or a number of bytes")
        }
        if history == "" { throw ValidationError("--history needs a path or 'off'") }
        if Logger.Level(rawValue: logLevel) == nil { throw ValidationError("unknown --log-level \(logLevel)") }
    }

    func run() throws {
        if printSocket {
            print(socket ?? DaemonSocket.defaultPath())
            return
        }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var configuration = ServerConfiguration()
        configuration.stdio = stdio
        if !noSocket { configuration.socketPath = socket ?? (stdio ? nil : DaemonSocket.defaultPath()) }
        configuration.tcpListen = listen
        if let tokenFile { configuration.token = try Self.readToken(tokenFile) }
        configuration.maxMessageSize = maxMessageSize
        configuration.maxClients = maxClients
        configuration.maxOutputBytes = maxClientOutput
        configuration.stallMillis = clientStallMs
        configuration.maxUnauthenticated = maxUnauthenticated
        configuration.authTimeoutMillis = authTimeoutMs
        configuration.maxSubscriptionsPerSession = maxSubscriptions
        configuration.refreshMillis = refreshMs
        configuration.reconcileMillis = max(reconcileMs, refreshMs)
        configuration.collectors = !noCollectors
        configuration.dockerSocket = dockerSocket
        configuration.l7Enabled = l7 && !noCollectors
        configuration.metricsListen = metrics
        configuration.multiHost.publish = publish
        configuration.multiHost.acceptReports = acceptReports
        configuration.multiHost.certificate = tlsCert
        configuration.multiHost.key = tlsKey
        configuration.multiHost.ca = tlsCa
        configuration.multiHost.hostExpiryMillis = Int(hostExpiry * 1000)
        configuration.bus.urls = bus
        configuration.bus.aggregate = aggregate
        configuration.bus.credsFile = busCreds
        if let busTokenFile { configuration.bus.token = try Self.readToken(busTokenFile) }
        configuration.bus.tlsCA = busTlsCa
        configuration.bus.tlsCertificate = busTlsCert
        configuration.bus.tlsKey = busTlsKey
        configuration.bus.stream = busStream
        configuration.bus.replicas = busReplicas
        configuration.bus.maxAgeSeconds = busMaxAge == "0" ? 0 : Int(HistoryConfiguration.parseDuration(busMaxAge) ?? 3600)
        configuration.bus.keepPerHost = busKeep
        if history == "off" {
            configuration.historyOffReason = "turned off (--history off)"
        } else if noCollectors {
            configuration.historyOffReason = "no collectors (--no-collectors)"
        } else {
            var h = HistoryConfiguration(path: history ?? HistoryConfiguration.defaultPath())
            h.retentionSeconds = HistoryConfiguration.parseDuration(historyRetention) ?? h.retentionSeconds
            h.maxBytes = HistoryConfiguration.parseSize(historyMaxSize) ?? h.maxBytes
            h.commitMillis = HistoryConfiguration.parseDuration(historyCommitInterval).map { Int($0 * 1000) } ?? h.commitMillis
            configuration.history = h
        }
        if let controls {
            configuration.controls = Set(controls.split(separator: ",").map { String($0).trimmingCharacters(in: " ") })
        }
        let daemon: Daemon
        do {
            daemon = try Daemon(configuration: configuration)
        } catch {
            Logger(label: "periscoped").critical("cannot start: \(error)")
            throw ExitCode(1)
        }
        let code = daemon.run()
        if code != 0 { throw ExitCode(code) }
    }

    static func readToken(_ path: String) throws -> String {
        guard let file = fopen(path, "r") else { throw ValidationError("cannot read token file \(path)") }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 4096)
        guard fgets(&line, Int32(line.count), file) != nil else { throw ValidationError("token file \(path) is empty") }
        let bytes = line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        let token = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: " \t\r\n")
        guard token.count >= 16 else { throw ValidationError("the token in \(path) is shorter than 16 characters") }
        return token
    }
}

extension String {
    /// Trims the given characters, compared as Unicode scalars (`"\r\n"` is one `Character`).
    func trimmingCharacters(in set: String) -> String {
        let trim = Set(set.unicodeScalars)
        var s = Substring(self).unicodeScalars
        while let f = s.first, trim.contains(f) { s = s.dropFirst() }
        while let l = s.last, trim.contains(l) { s = s.dropLast() }
        return String(String.UnicodeScalarView(s))
    }
}
