import PeriscopeSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Reverse DNS (PTR) names for remote addresses, resolved on a private thread and cached with a TTL.
///
/// ``name(for:)`` never blocks on the network: it answers from the cache (a stale entry is still returned
/// while it is being refreshed) and queues a lookup for addresses it has not resolved yet. Failed lookups are
/// cached too, so an address without a PTR record is asked about at most once per TTL. Safe from any thread,
/// including the event loop thread.
public final class ReverseResolver: @unchecked Sendable {
    private struct Entry {
        var name: String?
        var expires: Double
    }

    private struct State {
        var cache: [String: Entry] = [:]
        var pending: [String] = []
        var queued: Set<String> = []
        var stopped = false
        var threadStarted = false
    }

    /// Shared with the worker thread, so the resolver itself can be released (which stops the thread).
    private final class Shared: @unchecked Sendable {
        let state = Mutex(State())
        // Heap-allocated: pthread objects must not move.
        let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        init() {
            pthread_cond_init(condition, nil)
            pthread_mutex_init(mutex, nil)
        }
        deinit {
            pthread_cond_destroy(condition)
            pthread_mutex_destroy(mutex)
            condition.deallocate()
            mutex.deallocate()
        }
        func signal() {
            pthread_mutex_lock(mutex)
            pthread_cond_signal(condition)
            pthread_mutex_unlock(mutex)
        }
        /// Waits up to one second for ``signal()``.
        func wait() {
            pthread_mutex_lock(mutex)
            var deadline = timespec()
            clock_gettime(CLOCK_REALTIME, &deadline)
            deadline.tv_sec += 1
            _ = pthread_cond_timedwait(condition, mutex, &deadline)
            pthread_mutex_unlock(mutex)
        }
    }

    private let shared = Shared()
    private let ttl: Double
    private let maxPending = 1024
    private let maxEntries = 20_000

    /// - Parameter ttl: seconds a resolved (or failed) name is kept before it is looked up again.
    public init(ttl: Double = 300) {
        self.ttl = ttl
    }

    deinit {
        shared.state.withLock { $0.stopped = true }
        shared.signal()
    }

    /// The cached PTR name of `address` (IPv4 or IPv6 text), or nil when unknown; queues a lookup when the
    /// address is not cached or its entry expired. Never blocks. Any thread.
    public func name(for address: String) -> String? {
        let now = SystemClock.monotonic()
        var needsThread = false
        var enqueued = false
        let cached: String? = shared.state.withLock { s in
            let entry = s.cache[address]
            if entry.map({ $0.expires <= now }) ?? true, !s.queued.contains(address), s.pending.count < maxPending,
               Self.socketAddress(address) != nil {
                s.pending.append(address)
                s.queued.insert(address)
                enqueued = true
                if !s.threadStarted { s.threadStarted = true; needsThread = true }
            }
            return entry?.name
        }
        if needsThread { startThread() }
        if enqueued { shared.signal() }
        return cached
    }

    private func startThread() {
        let shared = self.shared
        let ttl = self.ttl
        let maxEntries = self.maxEntries
        let started = SystemThread.start(name: "periscope-rdns") {
            Self.run(shared: shared, ttl: ttl, maxEntries: maxEntries)
        }
        if let started { pthread_detach(started) } else { shared.state.withLock { $0.threadStarted = false } }
    }

    private static func run(shared: Shared, ttl: Double, maxEntries: Int) {
        while true {
            let next: String?? = shared.state.withLock { s in
                if s.stopped { return .some(nil) }
                return s.pending.isEmpty ? nil : .some(s.pending.removeFirst())
            }
            switch next {
            case .some(nil):
                return
            case .some(.some(let address)):
                let name = lookup(address)
                shared.state.withLock { s in
                    s.queued.remove(address)
                    if s.cache.count >= maxEntries {
                        let now = SystemClock.monotonic()
                        s.cache = s.cache.filter { $0.value.expires > now }
                        if s.cache.count >= maxEntries { s.cache.removeAll(keepingCapacity: true) }
                    }
                    s.cache[address] = Entry(name: name, expires: SystemClock.monotonic() + ttl)
                }
            case .none:
                // Wait for work; the timed wait covers a signal sent between the check and the wait.
                shared.wait()
            }
        }
    }

    /// Blocking PTR lookup (NI_NAMEREQD: no numeric fallback).
    private static func lookup(_ address: String) -> String? {
        guard var storage = socketAddress(address) else { return nil }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        let length = socklen_t(storage.ss_family == sa_family_t(AF_INET)
            ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
        let rc = withUnsafePointer(to: &storage) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &host, socklen_t(host.count), nil, 0, NI_NAMEREQD)
            }
        }
        guard rc == 0 else { return nil }
        let name = host.withUnsafeBufferPointer { buffer in
            String(decoding: UnsafeRawBufferPointer(buffer).prefix { $0 != 0 }, as: UTF8.self)
        }
        return name.isEmpty ? nil : name
    }

    private static func socketAddress(_ text: String) -> sockaddr_storage? {
        var storage = sockaddr_storage()
        var ok = false
        withUnsafeMutablePointer(to: &storage) { raw in
            if text.contains(":") {
                raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    sin6.pointee.sin6_family = sa_family_t(AF_INET6)
                    ok = inet_pton(AF_INET6, text, &sin6.pointee.sin6_addr) == 1
                }
            } else {
                raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    sin.pointee.sin_family = sa_family_t(AF_INET)
                    ok = inet_pton(AF_INET, text, &sin.pointee.sin_addr) == 1
                }
            }
        }
        return ok ? storage : nil
    }
}
