#if canImport(Glibc)
import Glibc
#endif

/// Clock readings: the monotonic clock for durations and deadlines, the real-time clock for timestamps
/// clients see. Stateless; callable from any thread.
public enum SystemClock {
    /// Seconds on the monotonic clock (`CLOCK_MONOTONIC`; unrelated to the epoch, never goes back).
    public static func monotonic() -> Double {
        let ts = read(CLOCK_MONOTONIC)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Milliseconds on the monotonic clock.
    public static func monotonicMillis() -> Double {
        let ts = read(CLOCK_MONOTONIC)
        return Double(ts.tv_sec) * 1000 + Double(ts.tv_nsec) / 1e6
    }

    /// Nanoseconds on the monotonic clock, as the kernel's perf timestamps count them.
    public static func monotonicNanos() -> UInt64 {
        let ts = read(CLOCK_MONOTONIC)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Wall-clock seconds since the epoch (`CLOCK_REALTIME`).
    public static func realtime() -> Double {
        let ts = read(CLOCK_REALTIME)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// CPU time the calling thread has used, nanoseconds (`CLOCK_THREAD_CPUTIME_ID`): what one source's own
    /// thread, or one piece of work on a queue (difference of two readings), costs.
    public static func threadCPUNanos() -> UInt64 {
        let ts = read(CLOCK_THREAD_CPUTIME_ID)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    private static func read(_ clock: clockid_t) -> timespec {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return ts
    }
}
