/// The report bus (issue 15): publishers and any number of aggregators share a NATS JetStream stream of host
/// reports instead of the direct `--publish`/`--accept-reports` links. Plain value.
public struct BusConfiguration: Sendable {
    /// NATS server URLs, comma-separated (`--bus nats://H1:4222,nats://H2:4222`); `nil`: no bus.
    public var urls: String?
    /// Also consume every host's reports from the stream and serve the merged map (`--aggregate`).
    public var aggregate = false
    /// A NATS credentials file (user JWT and nkey seed, as `nsc` writes them) (`--bus-creds`).
    public var credsFile: String?
    /// A token the servers require (`--bus-token-file`, first line).
    public var token: String?
    /// TLS towards the servers: CA to verify them, and a client certificate and key for servers that verify
    /// clients (`--bus-tls-ca`, `--bus-tls-cert`, `--bus-tls-key`).
    public var tlsCA: String?
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// The JetStream stream (`--bus-stream`), created if missing over `<subjectPrefix>.>`.
    public var stream = "PERISCOPE_REPORTS"
    /// Reports go to `<subjectPrefix>.<host id>`.
    public var subjectPrefix = "periscope.report"
    /// Replicas of a stream this daemon creates (`--bus-replicas`; 1 for a single server).
    public var replicas = 3
    /// Reports older than this are dropped from a stream this daemon creates, seconds (`--bus-max-age`; 0: none).
    public var maxAgeSeconds = 3600
    /// Messages kept per host in a stream this daemon creates (`--bus-keep`): a publisher sends a full report at
    /// least every that many messages (revisioned deltas in between), so the newest full report and every delta
    /// after it are what a new aggregator finds.
    public var keepPerHost = BusConfiguration.defaultKeep
    /// Unacknowledged publishes before a publisher skips to the next report (bounded, never a queue).
    public var maxPendingPublishes = 16
    /// Wait between reconnect attempts, ms.
    public var reconnectWaitMillis = 500

    public init() {}

    /// `--bus-keep`'s default, and the full-report cadence on a stream that keeps any number per host.
    public static let defaultKeep = 30

    /// Messages per full report (the full report and the deltas after it) on a stream keeping `kept` messages per
    /// subject (0: no limit): never more than the stream keeps, so each host's newest full report stays in it. A
    /// stream keeping 1 (as the first bus version made it) gets full reports only.
    static func fullEvery(kept: Int64) -> Int {
        kept > 0 ? Int(min(kept, 100_000)) : defaultKeep
    }

    /// The wait before the login attempt that follows `refusals` refusals in a row (the servers refused the token
    /// or credentials), ms: 1 s doubling to 60 s, so that a refused daemon does not hammer the servers.
    static func refusalWaitMillis(after refusals: Int) -> Int {
        min(60_000, 1000 << min(max(refusals, 0), 6))
    }

    /// Whether the bus is configured.
    public var isEnabled: Bool { urls != nil }

    /// Why `host` cannot be a subject token of the bus, or `nil`: NATS subjects cannot carry spaces, `*` or `>`.
    static func subjectViolation(host: String) -> String? {
        guard !host.isEmpty, host.utf8.count <= 253 else { return "host id must be 1 to 253 bytes" }
        let allowed = host.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) }
        guard allowed, !host.hasPrefix("."), !host.hasSuffix("."), !host.contains("..") else {
            return "host id \(host) is not a valid NATS subject token (letters, digits, '-', '_', '.')"
        }
        return nil
    }
}
