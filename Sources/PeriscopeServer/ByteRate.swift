/// Bytes per second over a sliding window, from the frames counted in it (publisher and aggregator traffic
/// figures). Keeps at most ``maxEntries`` entries. Plain value.
struct ByteRate {
    /// The window, ms.
    static let windowMillis = 10_000.0
    /// Most frames remembered (a publisher sends at most ~10 a second).
    static let maxEntries = 1024
    private var recent: [(at: Double, bytes: Int)] = []
    /// Every byte counted.
    private(set) var total: UInt64 = 0

    /// Counts a frame of `bytes` at monotonic ms `now`.
    mutating func count(_ bytes: Int, now: Double) {
        total &+= UInt64(bytes)
        recent.append((now, bytes))
        if let keep = recent.firstIndex(where: { $0.at >= now - Self.windowMillis }), keep > 0 { recent.removeFirst(keep) }
        if recent.count > Self.maxEntries { recent.removeFirst(recent.count - Self.maxEntries) }
    }

    /// Bytes per second over the window (or since the first frame, when younger than a second: over a second).
    func perSecond(now: Double) -> Double {
        let inWindow = recent.filter { $0.at >= now - Self.windowMillis }
        guard let first = inWindow.first else { return 0 }
        let rate = Double(inWindow.reduce(0) { $0 + $1.bytes }) * 1000 / max(1000.0, now - first.at)
        return (rate * 10).rounded() / 10
    }
}
