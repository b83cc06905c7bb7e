import PeriscopeTopology
#if canImport(Glibc)
import Glibc
#endif

/// Reads host-wide facts: hostname, OS, kernel, uptime, CPU count and %, memory, load, boot time.
/// Keeps the previous /proc/stat CPU totals for the CPU % delta.
/// - Important: not thread-safe; owned by ``HostCollector``.
final class HostFacts {
    private let procRoot: String
    private let reader: ProcReader
    private var previousCPU: (busy: Int64, total: Int64)?
    private var osName: String?
    /// Boot time, epoch seconds (`btime` in /proc/stat); refreshed every ``read()``.
    private(set) var bootTime: Double = 0

    init(procRoot: String, reader: ProcReader) {
        self.procRoot = procRoot
        self.reader = reader
    }

    /// One sample. Addresses are filled by the caller.
    func read() -> HostRecord {
        var record = HostRecord(hostname: Self.hostname())
        var names = utsname()
        if uname(&names) == 0 {
            record.kernel = withUnsafeBytes(of: names.release) { raw in
                TextDecoding.escaped(UnsafeRawBufferPointer(rebasing: raw.prefix { $0 != 0 }))
            }
        }
        record.os = os()
        let online = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        record.cpuCount = online > 0 ? online : 1
        _ = reader.withFile("\(procRoot)/uptime") { bytes in
            var s = FieldScanner(bytes)
            record.uptimeSeconds = s.double()
        }
        _ = reader.withFile("\(procRoot)/loadavg") { bytes in
            var s = FieldScanner(bytes)
            record.load1 = s.double()
            record.load5 = s.double()
            record.load15 = s.double()
        }
        _ = reader.withFile("\(procRoot)/meminfo") { bytes in
            forEachLine(bytes) { line in
                if let v = value(line, key: "MemTotal:") { record.memoryTotalBytes = kibibytes(v) }
                if let v = value(line, key: "MemAvailable:") { record.memoryAvailableBytes = kibibytes(v) }
            }
        }
        _ = reader.withFile("\(procRoot)/stat") { bytes in
            forEachLine(bytes) { line in
                if let v = value(line, key: "btime") { bootTime = Double(v) }
                if line.count > 4, line[0] == UInt8(ascii: "c"), line[3] == UInt8(ascii: " ") {   // "cpu  ..."
                    record.cpuPercent = cpuPercent(line)
                }
            }
        }
        return record
    }

    /// Busy share of all cores since the previous sample, from the aggregate `cpu` line.
    private func cpuPercent(_ line: UnsafeRawBufferPointer) -> Double {
        var s = FieldScanner(line)
        s.skip(1)
        // user nice system idle iowait irq softirq steal (guest time is already in user/nice)
        var fields: [Int64] = []
        for _ in 0..<8 { fields.append(s.int()) }
        // Wrapping: absurd counters must not trap (a wrapped total fails the `total >` test below).
        let idle = fields[3] &+ fields[4]
        let total = fields.reduce(0, &+)
        let busy = total &- idle
        defer { previousCPU = (busy, total) }
        guard let previous = previousCPU, total > previous.total else { return 0 }
        return min(100, max(0, Double(busy &- previous.busy) / Double(total &- previous.total) * 100))
    }

    private func os() -> String {
        if let osName { return osName }
        var name = ""
        for path in ["/etc/os-release", "/usr/lib/os-release"] {
            let found: String? = reader.withFile(path) { bytes in
                var result: String?
                forEachLine(bytes) { line in
                    let key = Array("PRETTY_NAME=".utf8)
                    guard line.count > key.count, line.starts(with: key) else { return }
                    var value = Array(line[key.count...])
                    if value.count >= 2, value.first == value.last, value.first == 0x22 || value.first == 0x27 {
                        value = Array(value.dropFirst().dropLast())
                    }
                    result = TextDecoding.escaped(value)
                }
                return result
            } ?? nil
            if let found { name = found; break }
        }
        osName = name
        return name
    }

    static func hostname() -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return TextDecoding.escaped(Array(buffer.prefix { $0 != 0 }))
    }
}

/// Calls `body` for each `\n`-separated line of `bytes` (without the newline).
func forEachLine(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
    var start = 0
    for i in 0...bytes.count where i == bytes.count || bytes[i] == 0x0A {
        if i > start { body(UnsafeRawBufferPointer(rebasing: bytes[start..<i])) }
        start = i + 1
    }
}

/// A `kB` figure of /proc/meminfo in bytes, saturating instead of trapping on absurd values.
private func kibibytes(_ value: UInt64) -> UInt64 {
    let (bytes, overflow) = value.multipliedReportingOverflow(by: 1024)
    return overflow ? .max : bytes
}

/// `key value ...` → value as an integer, when the line starts with `key`.
private func value(_ line: UnsafeRawBufferPointer, key: StaticString) -> UInt64? {
    let k = UnsafeRawBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount)
    guard line.count > k.count, line.starts(with: k) else { return nil }
    var s = FieldScanner(line, from: k.count)
    let v = s.int()
    return v >= 0 ? UInt64(v) : nil
}
