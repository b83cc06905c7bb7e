/// The roles of a daemon in a multi-host map (issue 11): a publisher sends its host's report to an
/// aggregator; an aggregator merges its own host and every publisher into one model. Both speak mutual TLS 1.3
/// with the certificate, key and CA given here. Plain value.
public struct MultiHostConfiguration: Sendable {
    /// `HOST:PORT` of the aggregator to publish to (`--publish`).
    public var publish: String?
    /// `ADDR:PORT` to accept publishers on (`--accept-reports`).
    public var acceptReports: String?
    /// PEM certificate chain of this daemon (`--tls-cert`); its name is the host id a publisher may report.
    public var certificate: String?
    /// PEM private key (`--tls-key`).
    public var key: String?
    /// PEM CA certificates peers are verified against (`--tls-ca`).
    public var ca: String?
    /// A host whose publisher is silent is removed from the map after this long (`--host-expiry`, ms).
    public var hostExpiryMillis = 60_000
    /// Intervals a publisher may miss before its nodes are marked stale.
    public var staleAfterIntervals = 3
    /// Most publishers connected at once; more are refused at accept.
    public var maxPublishers = 1024
    /// Largest frame a publisher may send (compressed report, base64), bytes.
    public var maxFrameBytes = 32 << 20
    /// Time a publisher has to identify itself with a valid report or heartbeat, ms.
    public var identifyTimeoutMillis = 10_000
    /// Shortest gap between two reports a publisher sends, ms (changes in between coalesce into the newest).
    public var minimumSendGapMillis = 100
    /// Output a publisher lets queue towards a slow aggregator before it stops sending and coalesces, bytes.
    public var publisherOutputLimit = 256 << 10
    /// Publisher reconnect backoff: first and longest wait, ms.
    public var reconnectInitialMillis = 100
    public var reconnectMaximumMillis = 5_000

    public init() {}

    /// Whether a host silent for `silentMillis` is removed from the map.
    func isExpired(silentMillis: Double) -> Bool { silentMillis > Double(hostExpiryMillis) }

    /// Whether a host silent for `silentMillis` that reports every `refreshMillis` is stale (one timer tick, 250 ms, of slack).
    func isStale(silentMillis: Double, refreshMillis: Int) -> Bool {
        silentMillis > Double(staleAfterIntervals * refreshMillis) + 250
    }

    /// Whether either role is configured.
    public var isEnabled: Bool { publish != nil || acceptReports != nil }
}
