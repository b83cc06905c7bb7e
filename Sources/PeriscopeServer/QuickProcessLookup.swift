import Glibc
import PeriscopeTopology

/// A minimal ``ProcessRecord`` read straight from /proc for a pid the last full pass did not see
/// (a process that forked and connected a moment ago), so its flows can be shown at once. The next
/// full pass replaces it with the complete record.
enum QuickProcessLookup {
    static func record(pid: Int32, procRoot: String = "/proc") -> ProcessRecord? {
        guard let comm = read("\(procRoot)/\(pid)/comm"), let status = read("\(procRoot)/\(pid)/status") else { return nil }
        var ppid: Int32 = 0
        var uid: UInt32 = 0
        for line in status.split(separator: "\n") {
            if line.hasPrefix("PPid:") { ppid = Int32(line.dropFirst(5).trimmingCharacters()) ?? 0 }
            if line.hasPrefix("Uid:") { uid = UInt32(line.dropFirst(4).split(separator: "\t").first { !$0.isEmpty } ?? "") ?? 0 }
        }
        var info = stat()
        let netns = stat("\(procRoot)/\(pid)/ns/net", &info) == 0 ? UInt64(info.st_ino) : 0
        let cmdline = read("\(procRoot)/\(pid)/cmdline").map { $0.split(separator: "\0").joined(separator: " ") } ?? ""
        let name = comm.trimmingCharacters()
        return ProcessRecord(pid: pid, ppid: ppid, name: name, command: cmdline.isEmpty ? name : cmdline, uid: uid, netns: netns)
    }

    /// The inode of the process's network namespace now.
    static func netns(pid: Int32, procRoot: String = "/proc") -> UInt64? {
        var info = stat()
        return stat("\(procRoot)/\(pid)/ns/net", &info) == 0 ? UInt64(info.st_ino) : nil
    }

    private static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" || $0 == "\n" }.reversed())
    }
}

extension String {
    fileprivate func trimmingCharacters() -> String { Substring(self).trimmingCharacters() }
}
