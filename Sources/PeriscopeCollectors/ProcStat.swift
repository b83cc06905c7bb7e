/// The fields Periscope uses from one `/proc/PID/stat` line. Pure parsing, any thread.
struct ProcStat: Equatable {
    var name: String
    var state: String
    var ppid: Int32
    /// utime + stime, clock ticks.
    var cpuTicks: Int64
    var threads: Int
    /// Start time after boot, clock ticks.
    var startTicks: Int64
    var rssPages: Int64

    /// Parses a stat line. The command name is between the first `(` and the *last* `)` because it may
    /// itself contain parentheses and spaces. Returns nil on malformed input.
    static func parse(_ bytes: UnsafeRawBufferPointer) -> ProcStat? {
        var open = -1
        var close = -1
        for i in 0..<bytes.count {
            if bytes[i] == UInt8(ascii: "(") && open < 0 { open = i }
            if bytes[i] == UInt8(ascii: ")") { close = i }
        }
        guard open >= 0, close > open else { return nil }
        let name = TextDecoding.escaped(UnsafeRawBufferPointer(rebasing: bytes[(open + 1)..<close]))
        var s = FieldScanner(bytes, from: close + 1)
        let state = s.word()                 // 3
        let ppid = s.int()                   // 4
        s.skip(9)                            // 5...13
        let utime = s.int()                  // 14
        let stime = s.int()                  // 15
        s.skip(4)                            // 16...19
        let threads = s.int()                // 20
        s.skip(1)                            // 21
        let start = s.int()                  // 22
        s.skip(1)                            // 23
        let rss = s.int()                    // 24
        guard !state.isEmpty else { return nil }
        // Saturating: absurd field values must not trap (the scanner already wraps each one).
        let (ticks, overflow) = utime.addingReportingOverflow(stime)
        return ProcStat(name: name, state: state, ppid: Int32(truncatingIfNeeded: ppid),
                        cpuTicks: overflow ? .max : ticks, threads: Int(threads), startTicks: start, rssPages: max(rss, 0))
    }
}
