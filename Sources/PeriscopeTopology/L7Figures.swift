/// What the L7 programs measured on one connection, seen from one side (the client's or the server's process),
/// over one window of the daemon's refresh: requests, responses by class, a latency histogram. Stored as text in
/// the connection node's ``NodeKey/l7Server`` or ``NodeKey/l7Client`` latest entry, so it travels with reports
/// (multi-host) like any other node field. Pure value.
public struct L7Figures: Sendable, Hashable {
    /// `http`, `http2`, `tls`, `postgres`, `mysql`, `redis` or `dns`.
    public var protocolName: String
    /// Length of the window, seconds (> 0).
    public var seconds: Double
    public var requests: Int = 0
    public var responses: Int = 0
    /// HTTP 4xx.
    public var clientErrors: Int = 0
    /// HTTP 5xx, PostgreSQL ErrorResponse, Redis error reply, MySQL ERR, DNS rcode ≠ 0.
    public var serverErrors: Int = 0
    public var bytesIn: Int = 0
    public var bytesOut: Int = 0
    /// Latency of the window's responses: histogram bucket (see ``L7Histogram``) → count.
    public var histogram: [Int: Int] = [:]
    /// TLS server name from the ClientHello, when there was one.
    public var sni: String?
    /// Since the side was first seen (the connection's life; for a process, every connection it had).
    public var totalRequests: Int = 0
    public var totalResponses: Int = 0
    public var totalErrors: Int = 0
    public var totalHistogram: [Int: Int] = [:]

    public init(protocolName: String, seconds: Double) {
        self.protocolName = protocolName
        self.seconds = seconds
    }

    /// Responses that were errors (HTTP ≥ 400, and every protocol's error replies).
    public var errors: Int { clientErrors + serverErrors }

    /// `p=http s=1.000 rq=10 rs=10 ce=0 se=1 bi=100 bo=200 h=12:3,13:7 sni=example.com` (sni last, optional).
    public var text: String {
        var out = "p=\(protocolName) s=\(seconds) rq=\(requests) rs=\(responses) ce=\(clientErrors) se=\(serverErrors)"
        out += " bi=\(bytesIn) bo=\(bytesOut) h="
        out += Self.encode(histogram)
        out += " tq=\(totalRequests) tr=\(totalResponses) te=\(totalErrors) th=" + Self.encode(totalHistogram)
        if let sni { out += " sni=\(sni)" }
        return out
    }

    /// Parses ``text``; nil when a required field is missing or malformed.
    public init?(text: String) {
        var fields: [Substring: Substring] = [:]
        for part in text.split(separator: " ") {
            guard let eq = part.firstIndex(of: "=") else { return nil }
            fields[part[..<eq]] = part[part.index(after: eq)...]
        }
        guard let p = fields["p"], !p.isEmpty, let s = fields["s"].flatMap({ Double($0) }), s > 0 else { return nil }
        self.init(protocolName: String(p), seconds: s)
        func int(_ key: Substring) -> Int { fields[key].flatMap { Int($0) } ?? 0 }
        requests = int("rq")
        responses = int("rs")
        clientErrors = int("ce")
        serverErrors = int("se")
        bytesIn = int("bi")
        bytesOut = int("bo")
        histogram = Self.decode(fields["h"] ?? "")
        totalRequests = int("tq")
        totalResponses = int("tr")
        totalErrors = int("te")
        totalHistogram = Self.decode(fields["th"] ?? "")
        if let name = fields["sni"], !name.isEmpty { sni = String(name) }
    }

    /// Adds `other`'s counts (same window length assumed; the longer one is kept).
    public mutating func add(_ other: L7Figures) {
        seconds = max(seconds, other.seconds)
        requests += other.requests
        responses += other.responses
        clientErrors += other.clientErrors
        serverErrors += other.serverErrors
        bytesIn += other.bytesIn
        bytesOut += other.bytesOut
        for (b, n) in other.histogram { histogram[b, default: 0] += n }
        totalRequests += other.totalRequests
        totalResponses += other.totalResponses
        totalErrors += other.totalErrors
        for (b, n) in other.totalHistogram { totalHistogram[b, default: 0] += n }
        if sni == nil { sni = other.sni }
    }

    private static func encode(_ h: [Int: Int]) -> String {
        h.keys.sorted().map { "\($0):\(h[$0] ?? 0)" }.joined(separator: ",")
    }

    private static func decode(_ text: Substring) -> [Int: Int] {
        var out: [Int: Int] = [:]
        for pair in text.split(separator: ",") {
            let kv = pair.split(separator: ":")
            guard kv.count == 2, let b = Int(kv[0]), let n = Int(kv[1]), b >= 0, b < L7Histogram.bucketCount, n > 0
            else { continue }
            out[b, default: 0] += n
        }
        return out
    }
}

/// The latency buckets of the L7 programs (bpf/l7.bpf.c): microseconds 0…7 exactly, then 8 linear sub-buckets per
/// power of two, at most 12.5 % wide.
public enum L7Histogram {
    public static let bucketCount = 256

    /// The bucket's range in microseconds, [lower, upper).
    public static func range(_ bucket: Int) -> (lower: Double, upper: Double) {
        if bucket < 8 { return (Double(bucket), Double(bucket + 1)) }
        let msb = bucket / 8 + 2
        let sub = bucket % 8
        let width = Double(1 << (msb - 3))
        let lower = Double(8 + sub) * width
        return (lower, lower + width)
    }

    /// The bucket of a latency in microseconds (as the BPF program computes it).
    public static func bucket(micros: UInt64) -> Int {
        if micros < 8 { return Int(micros) }
        let msb = 63 - micros.leadingZeroBitCount
        let b = (msb - 2) * 8 + Int((micros >> UInt64(msb - 3)) & 7)
        return min(b, bucketCount - 1)
    }

    /// The `q` quantile (0…1) in milliseconds, interpolated linearly inside its bucket; nil for an empty histogram.
    public static func quantileMillis(_ histogram: [Int: Int], _ q: Double) -> Double? {
        let total = histogram.values.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = q * Double(total)
        var seen = 0.0
        for b in histogram.keys.sorted() {
            let n = Double(histogram[b] ?? 0)
            if seen + n >= rank {
                let r = range(b)
                let fraction = n > 0 ? max(0, min(1, (rank - seen) / n)) : 0
                return (r.lower + fraction * (r.upper - r.lower)) / 1000
            }
            seen += n
        }
        let last = histogram.keys.max() ?? 0
        return range(last).upper / 1000
    }
}

extension NodeKey {
    /// Connection node: the server process's ``L7Figures`` of the last window (text).
    public static let l7Server = "l7_server"
    /// Connection node: the client process's ``L7Figures`` of the last window (text).
    public static let l7Client = "l7_client"
    /// Process node: `l7:PROTOCOL:server` / `l7:PROTOCOL:client` → the process's ``L7Figures`` for that protocol
    /// and side, summed over its connections (text).
    public static let l7Prefix = "l7:"
}
