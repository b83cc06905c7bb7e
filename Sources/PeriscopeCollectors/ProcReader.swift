#if canImport(Glibc)
import Glibc
#endif

/// Reads small kernel files (procfs, sysfs, /etc) with raw `open`/`read` into one reused buffer.
///
/// - Important: not thread-safe; each collector thread owns its own reader. The bytes handed to a
///   `body` closure are only valid inside that closure.
final class ProcReader {
    private var buffer: UnsafeMutableRawPointer
    private var capacity: Int
    private let linkBuffer: UnsafeMutablePointer<CChar>
    private let linkCapacity = Int(PATH_MAX) + 1

    init(capacity: Int = 64 * 1024) {
        self.capacity = max(capacity, 4096)
        buffer = .allocate(byteCount: self.capacity, alignment: 16)
        linkBuffer = .allocate(capacity: linkCapacity)
    }

    deinit {
        buffer.deallocate()
        linkBuffer.deallocate()
    }

    /// Reads the whole file `name` (relative to `directory`, or absolute with `AT_FDCWD`) and passes its
    /// bytes to `body`. Returns nil when the file cannot be opened or read (e.g. the process exited).
    func withFile<R>(_ name: String, in directory: Int32 = AT_FDCWD,
                     _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        let fd = openat(directory, name, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard let used = fill(from: fd, fromStart: false) else { return nil }
        return body(UnsafeRawBufferPointer(start: buffer, count: used))
    }

    /// Reads an already open procfs file again from its start (`pread` at offset 0: a seq_file regenerates its
    /// text) and passes its bytes to `body`: one syscall for a file kept open across passes. Reads until a short
    /// read, which for procfs's one-record files (`/proc/PID/stat`) is the end. Returns nil on a read error
    /// (ESRCH: the process the file belongs to is gone).
    func withOpenFile<R>(_ fd: Int32, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        guard let used = fill(from: fd, fromStart: true) else { return nil }
        return body(UnsafeRawBufferPointer(start: buffer, count: used))
    }

    /// Reads `fd` into the buffer (grown as needed) and returns the byte count, nil on a read error. Sequential
    /// `read`s until end of file, or, `fromStart`, `pread`s from offset 0 until a short read (see
    /// ``withOpenFile(_:_:)``: that saves the final zero-byte read).
    private func fill(from fd: Int32, fromStart: Bool) -> Int? {
        var used = 0
        while true {
            if used == capacity { grow() }
            let asked = capacity - used
            let n = fromStart ? pread(fd, buffer + used, asked, off_t(used)) : read(fd, buffer + used, asked)
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            used += n
            if fromStart && n < asked { break }
        }
        return used
    }

    /// Reads the whole file as bytes (copied).
    func bytes(_ name: String, in directory: Int32 = AT_FDCWD) -> [UInt8]? {
        withFile(name, in: directory) { Array($0) }
    }

    /// Reads the whole file as text, escaping invalid UTF-8.
    func text(_ name: String, in directory: Int32 = AT_FDCWD) -> String? {
        withFile(name, in: directory) { TextDecoding.escaped($0) }
    }

    /// The target of the symbolic link `name` as raw bytes passed to `body`, or nil.
    func withLink<R>(_ name: String, in directory: Int32 = AT_FDCWD,
                     _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        let n = readlinkat(directory, name, linkBuffer, linkCapacity)
        guard n >= 0 else { return nil }
        return body(UnsafeRawBufferPointer(start: linkBuffer, count: n))
    }

    /// The target of the symbolic link `name` as text (invalid UTF-8 escaped), or nil.
    func link(_ name: String, in directory: Int32 = AT_FDCWD) -> String? {
        withLink(name, in: directory) { TextDecoding.escaped($0) }
    }

    private func grow() {
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: capacity * 2, alignment: 16)
        bigger.copyMemory(from: buffer, byteCount: capacity)
        buffer.deallocate()
        buffer = bigger
        capacity *= 2
    }
}
