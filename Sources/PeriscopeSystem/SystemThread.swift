import CPeriscopeLinux
#if canImport(Glibc)
import Glibc
#endif

/// Starts POSIX threads running a Swift closure, for work that blocks in syscalls (stdio pumps, kernel
/// readers, benchmark clients) and so must not run on the event loop or a Swift concurrency pool thread.
///
/// Stateless; callable from any thread.
public enum SystemThread {
    private final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    /// Starts a joinable thread running `body`, named `name` when given (the kernel keeps 15 bytes, shown by
    /// `top -H` and `/proc/PID/task/TID/comm`). Returns the thread, or nil when `pthread_create` fails; the
    /// caller joins or detaches it. Any thread.
    public static func start(name: String? = nil, _ body: @escaping @Sendable () -> Void) -> pthread_t? {
        let box = Unmanaged.passRetained(Box({
            if let name { psc_set_thread_name(name) }
            body()
        })).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { context in
            guard let context else { return nil }
            Unmanaged<Box>.fromOpaque(context).takeRetainedValue().body()
            return nil
        }, box)
        guard status == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            return nil
        }
        return thread
    }

    /// Starts a detached thread running `body`; false when `pthread_create` fails. Any thread.
    @discardableResult
    public static func detach(name: String? = nil, _ body: @escaping @Sendable () -> Void) -> Bool {
        guard let thread = start(name: name, body) else { return false }
        pthread_detach(thread)
        return true
    }
}
