import Glibc

/// Where the history log lives and how much it keeps. Plain value.
public struct HistoryConfiguration: Sendable, Hashable {
    /// The SQLite file.
    public var path: String
    /// Data older than this goes first (seconds; `--history-retention`, default 7 days).
    public var retentionSeconds: Double = 7 * 86_400
    /// Bytes of data above which the oldest goes first (`--history-max-size`, default 1 GiB; 0: no limit).
    public var maxBytes: Int64 = 1 << 30
    /// Seconds between two checkpoints (the whole state): bounds the replay behind any instant.
    public var checkpointSeconds: Double = 1200
    /// Seconds between two samples of the volatile part (metrics): the resolution of past metrics.
    public var sampleSeconds: Double = 60
    /// Milliseconds between two commits: what a crash may lose at most (`--history-commit-interval`, default 10 s).
    /// Each commit rewrites the pages it touches in the WAL and again at the WAL checkpoint, so the disk writes
    /// fall about in proportion (bench/RESULTS.md "History"); a query commits what is pending first, so answers
    /// never lag by this interval.
    public var commitMillis: Int = 10_000

    public init(path: String) {
        self.path = path
    }

    /// `/var/lib/periscope/history.db` as root, else `$XDG_STATE_HOME/periscope/history.db` (default
    /// `~/.local/state`).
    public static func defaultPath() -> String {
        if geteuid() == 0 { return "/var/lib/periscope/history.db" }
        if let state = getenv("XDG_STATE_HOME").map({ String(cString: $0) }), state.hasPrefix("/") {
            return state + "/periscope/history.db"
        }
        let home = getenv("HOME").map { String(cString: $0) } ?? "/tmp"
        return home + "/.local/state/periscope/history.db"
    }

    /// `7d`, `12h`, `30m`, `90s`, or a number of seconds.
    public static func parseDuration(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        guard let last = text.last else { return nil }
        if let unit = units[last], let n = Double(text.dropLast()), n > 0, n.isFinite { return n * unit }
        if let n = Double(text), n > 0, n.isFinite { return n }
        return nil
    }

    /// `1GiB`, `500MiB`, `64KiB`, `1GB`, `10M`, or a number of bytes.
    public static func parseSize(_ text: String) -> Int64? {
        let units: [(String, Double)] = [("KiB", 1024), ("MiB", 1_048_576), ("GiB", 1_073_741_824), ("TiB", 1_099_511_627_776),
                                         ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12),
                                         ("K", 1024), ("M", 1_048_576), ("G", 1_073_741_824), ("B", 1)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            guard let n = Double(text.dropLast(suffix.count)), n >= 0, n * factor < 9e18 else { return nil }
            return Int64(n * factor)
        }
        return Int64(text).flatMap { $0 >= 0 ? $0 : nil }
    }

    /// Makes the directories above `path` (owner-only), like `mkdir -p`.
    static func makeParent(of path: String) -> Bool {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return true }
        var prefix = ""
        for part in path[..<slash].split(separator: "/", omittingEmptySubsequences: true) {
            prefix += "/" + part
            if mkdir(prefix, 0o700) != 0, errno != EEXIST { return false }
        }
        return true
    }
}
