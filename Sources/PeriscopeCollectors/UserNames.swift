#if canImport(Glibc)
import Glibc
#endif

/// uid → user name from /etc/passwd, re-read only when the file's mtime changes.
///
/// - Important: not thread-safe; owned by one collector.
final class UserNames {
    private var names: [UInt32: String] = [:]
    private var loadedMTime: timespec?
    private let path: String

    init(path: String = "/etc/passwd") {
        self.path = path
    }

    /// Re-reads the file if it changed since the last call.
    func refresh(using reader: ProcReader) {
        var st = stat()
        guard stat(path, &st) == 0 else { return }
        if let t = loadedMTime, t.tv_sec == st.st_mtim.tv_sec, t.tv_nsec == st.st_mtim.tv_nsec { return }
        loadedMTime = st.st_mtim
        var table: [UInt32: String] = [:]
        _ = reader.withFile(path) { bytes in
            var lineStart = 0
            for i in 0...bytes.count where i == bytes.count || bytes[i] == 0x0A {
                let line = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<i])
                lineStart = i + 1
                // name:passwd:uid:...
                var fields: [Range<Int>] = []
                var fieldStart = 0
                for k in 0...line.count where k == line.count || line[k] == UInt8(ascii: ":") {
                    fields.append(fieldStart..<k)
                    fieldStart = k + 1
                    if fields.count == 3 { break }
                }
                guard fields.count == 3, !fields[0].isEmpty else { continue }
                var uid: UInt32 = 0
                var ok = !fields[2].isEmpty
                for k in fields[2] {
                    let c = line[k]
                    guard c >= 0x30, c <= 0x39 else { ok = false; break }
                    uid = uid &* 10 &+ UInt32(c - 0x30)
                }
                guard ok, table[uid] == nil else { continue }
                table[uid] = TextDecoding.escaped(UnsafeRawBufferPointer(rebasing: line[fields[0]]))
            }
        }
        names = table
    }

    func name(for uid: UInt32) -> String? { names[uid] }
}
