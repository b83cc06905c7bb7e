import Glibc

/// Instants as clients write them: RFC 3339 (`2026-11-30T14:02:00Z`, `…+01:00`, fractional seconds allowed),
/// relative to now (`-10m`, `1h` and `-1h` both mean an hour ago, `now`), or seconds since the epoch.
/// Pure functions.
public enum HistoryTime {
    /// Seconds since the epoch for `text`, relative forms counted back from `now`; `nil` when unreadable.
    public static func parse(_ text: String, now: Double) -> Double? {
        if text == "now" { return now }
        if text.contains("T") || text.contains("t") { return parseRFC3339(text) }
        var body = Substring(text)
        if body.hasPrefix("-") || body.hasPrefix("+") { body = body.dropFirst() }
        if body.isEmpty { return nil }
        if let last = body.last, last.isLetter {
            var total = 0.0
            var number = ""
            for ch in body {
                if ch.isNumber || ch == "." { number.append(ch); continue }
                let unit: Double
                switch ch {
                case "s": unit = 1
                case "m": unit = 60
                case "h": unit = 3600
                case "d": unit = 86_400
                case "w": unit = 604_800
                default: return nil
                }
                guard let n = Double(number) else { return nil }
                total += n * unit
                number = ""
            }
            guard number.isEmpty, total.isFinite else { return nil }
            return now - total
        }
        guard let seconds = Double(text), seconds.isFinite, seconds > 0 else { return nil }
        return seconds
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`.
    static func parseRFC3339(_ text: String) -> Double? {
        let chars = Array(text.utf8)
        func number(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= chars.count else { return nil }
            var n = 0
            for c in chars[start..<start + count] {
                guard c >= 48, c <= 57 else { return nil }
                n = n * 10 + Int(c - 48)
            }
            return n
        }
        guard chars.count >= 20, chars[4] == 45, chars[7] == 45, chars[10] == 84 || chars[10] == 116,
              chars[13] == 58, chars[16] == 58,
              let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var i = 19
        var fraction = 0.0
        if i < chars.count, chars[i] == 46 {
            i += 1
            var scale = 0.1
            while i < chars.count, chars[i] >= 48, chars[i] <= 57 {
                fraction += Double(chars[i] - 48) * scale
                scale /= 10
                i += 1
            }
        }
        guard i < chars.count else { return nil }
        var offset = 0
        if chars[i] == 90 || chars[i] == 122 {
            guard i + 1 == chars.count else { return nil }
        } else if chars[i] == 43 || chars[i] == 45 {
            guard i + 6 == chars.count, chars[i + 3] == 58, let oh = number(i + 1, 2), let om = number(i + 4, 2) else { return nil }
            offset = (oh * 3600 + om * 60) * (chars[i] == 45 ? -1 : 1)
        } else {
            return nil
        }
        var tm = Glibc.tm()
        tm.tm_year = Int32(year - 1900)
        tm.tm_mon = Int32(month - 1)
        tm.tm_mday = Int32(day)
        tm.tm_hour = Int32(hour)
        tm.tm_min = Int32(minute)
        tm.tm_sec = Int32(second)
        let epoch = timegm(&tm)
        return Double(epoch - offset) + fraction
    }

    /// `2026-11-30T14:02:00.123Z`: how the daemon writes instants.
    public static func format(_ seconds: Double) -> String {
        var t = time_t(seconds.rounded(.down))
        var tm = Glibc.tm()
        gmtime_r(&t, &tm)
        let millis = Int(((seconds - seconds.rounded(.down)) * 1000).rounded())
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let ms = millis >= 1000 ? 999 : millis
        let fraction = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
        return "\(tm.tm_year + 1900)-\(two(tm.tm_mon + 1))-\(two(tm.tm_mday))T\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)).\(fraction)Z"
    }
}
