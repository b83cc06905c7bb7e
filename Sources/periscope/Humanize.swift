import Glibc
import PeriscopeProtocol

/// Numbers as people read them: bytes in KiB/MiB/GiB, durations as `3m12s`, ages as `12s ago`, and metric
/// histories as text sparklines (`▁▂▅█`). Pure functions.
enum Humanize {
    /// `20221952` → `19.3 MiB`.
    static func bytes(_ value: Double) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var amount = value
        var unit = 0
        while abs(amount) >= 1024, unit < units.count - 1 {
            amount /= 1024
            unit += 1
        }
        return (unit == 0 ? String(Int(amount)) : TopologyText.format(amount, decimals: 1)) + " " + units[unit]
    }

    /// `192` → `3m12s`.
    static func duration(_ seconds: Double) -> String { Status.formatDuration(max(0, seconds)) }

    /// How long ago `timestamp` (Unix seconds) was: `12s ago`.
    static func age(_ timestamp: Double) -> String { duration(Double(time(nil)) - timestamp) + " ago" }

    static let bars: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]

    /// The last `width` values as bars scaled between their minimum and maximum (all equal: the lowest bar,
    /// or the highest when the values are not zero).
    static func sparkline(_ values: [Double], width: Int = 30) -> String {
        let shown = values.suffix(width)
        guard let low = shown.min(), let high = shown.max() else { return "" }
        let span = high - low
        return String(shown.map { value -> Character in
            guard span > 0 else { return value > 0 ? bars[bars.count / 2] : bars[0] }
            let index = Int(((value - low) / span * Double(bars.count - 1)).rounded())
            return bars[min(max(index, 0), bars.count - 1)]
        })
    }

    /// The values of a metric history (`[{timestamp, value}]`) of node details.
    static func samples(_ history: JSONValue?) -> [Double] {
        (history?.arrayValue ?? []).compactMap { $0["value"]?.doubleValue }
    }

    /// Metadata values that are bytes or times, humanized: `memoryTotal` → `23.6 GiB`, `startTime` → `started
    /// 3m12s ago`, `uptime` → `3h22m`. Others: `nil`.
    static func metadata(_ key: String, _ value: JSONValue) -> String? {
        guard let number = value.doubleValue ?? value.stringValue.flatMap(Double.init) else { return nil }
        switch key {
        case "memoryTotal", "memoryAvailable", "memory", "rss": return bytes(number)
        case "startTime", "started", "created": return number > 0 ? "\(age(number)) (\(Int(number)))" : nil
        case "uptime": return duration(number)
        default: return nil
        }
    }
}
