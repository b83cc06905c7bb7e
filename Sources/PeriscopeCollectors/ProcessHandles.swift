import CPeriscopeLinux
#if canImport(Glibc)
import Glibc
#endif

/// The descriptors ``ProcessScanner`` keeps open for each process between scans: `/proc/PID` (`O_PATH`) and
/// `/proc/PID/stat`. With them a scan reads a known process with three syscalls (`fstat` of the directory for
/// the owner, `pread` of stat, `fstatat` of `fd` for the open-file count) instead of nine (open, fstat, open,
/// read, read, close, two `fstatat`, close) — at 10,000 connections over 370 processes that was a third of
/// every counters update.
///
/// The descriptors pin the process's `struct pid`, not its number: once the process exits they fail with
/// ESRCH, also when its pid is reused, and the caller's read on a fresh handle sees the new process.
/// At most ``capacity`` processes keep theirs — two descriptors each, a quarter of the open-file limit in
/// all, at most 8,192 processes — so clients and collectors keep the other three quarters; beyond it a process
/// is opened and closed for each read, as before.
/// - Important: not thread-safe; owned by ``ProcessScanner`` (the collection queue).
final class ProcessHandles {
    /// One process's kept descriptors.
    struct Handle {
        /// `/proc/PID`, `O_PATH | O_DIRECTORY`: relative reads and the owner (`fstat`).
        let directory: Int32
        /// `/proc/PID/stat`, read again with `pread` from offset 0.
        let stat: Int32
    }

    private let procRoot: String
    private var kept: [Int32: Handle] = [:]
    /// How many processes may keep their descriptors (from `RLIMIT_NOFILE` when first needed, after the
    /// daemon raised its limit).
    private(set) lazy var capacity: Int = {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        let quarter = UInt64(limit.rlim_cur) / 4   // RLIM_INFINITY is the largest value: the cap applies
        return Int(min(quarter / 2, 8192))
    }()

    init(procRoot: String) {
        self.procRoot = procRoot
    }

    deinit {
        for handle in kept.values { Self.close(handle) }
    }

    /// `body` on `pid`'s handle: the kept one, else a fresh one (kept afterwards when `keep` and there is
    /// room). When `body` returns nil on a kept handle (the process exited, or its pid now names another
    /// process), that handle is closed and `body` runs once more on a fresh one. Nil when the process cannot be
    /// opened. Reads between scans pass `keep: false`: under churn most of those processes are gone before the
    /// next scan, which is what closes the handles of exited processes.
    func with<R>(_ pid: Int32, keep: Bool = true, _ body: (Handle) -> R?) -> R? {
        if let handle = kept[pid] {
            if let result = body(handle) { return result }
            kept[pid] = nil
            Self.close(handle)
        }
        guard let fresh = open(pid) else { return nil }
        let result = body(fresh)
        if result != nil, keep, kept.count < capacity {
            kept[pid] = fresh
        } else {
            Self.close(fresh)
        }
        return result
    }

    /// Closes the handles of processes for which `alive` is false (after a scan: the processes that are gone).
    func closeAll(except alive: (Int32) -> Bool) {
        var gone: [Int32] = []
        for pid in kept.keys where !alive(pid) { gone.append(pid) }
        for pid in gone {
            if let handle = kept.removeValue(forKey: pid) { Self.close(handle) }
        }
    }

    private func open(_ pid: Int32) -> Handle? {
        let directory = psc_open_path_directory("\(procRoot)/\(pid)")
        guard directory >= 0 else { return nil }
        let stat = openat(directory, "stat", O_RDONLY | O_CLOEXEC)
        guard stat >= 0 else {
            Glibc.close(directory)
            return nil
        }
        return Handle(directory: directory, stat: stat)
    }

    private static func close(_ handle: Handle) {
        Glibc.close(handle.stat)
        Glibc.close(handle.directory)
    }
}
