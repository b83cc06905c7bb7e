import PeriscopeCollectors
import PeriscopeProtocol
import PeriscopeSystem

/// What the host map's work on the collection queue has cost since start: full passes and event-driven
/// patches, counted, with the CPU time of the queue's thread while each ran (`CLOCK_THREAD_CPUTIME_ID`
/// read before and after, on that thread). Shown in `daemon/status` → `collectors` → `host-map`.
///
/// A plain value; the topology service keeps it on the loop thread. ``measure(_:)`` runs on the queue.
struct CollectionCosts {
    var passes = 0
    /// Full passes that asked the kernel for TCP counters (someone was looking).
    var passesWithCounters = 0
    var patches = 0
    /// Counters-only updates (someone looks, between full passes).
    var counterUpdates = 0
    var passCPUNanos: UInt64 = 0
    var patchCPUNanos: UInt64 = 0
    var counterCPUNanos: UInt64 = 0

    /// Runs `work` and returns its result with the CPU time the calling thread spent in it. Any thread.
    static func measure<T>(_ work: () -> T) -> (T, UInt64) {
        let start = SystemClock.threadCPUNanos()
        let result = work()
        return (result, SystemClock.threadCPUNanos() &- start)
    }

    /// Adds a finished full pass (`counters`: with TCP counters).
    mutating func addPass(cpuNanos: UInt64, counters: Bool) {
        passes += 1
        if counters { passesWithCounters += 1 }
        passCPUNanos &+= cpuNanos
    }

    /// Adds a finished patch (whether or not it changed anything).
    mutating func addPatch(cpuNanos: UInt64) {
        patches += 1
        patchCPUNanos &+= cpuNanos
    }

    /// Adds a finished counters-only update.
    mutating func addCounters(cpuNanos: UInt64) {
        counterUpdates += 1
        counterCPUNanos &+= cpuNanos
    }

    /// The figures, for the host map's health.
    func add(to health: inout SourceHealth) {
        health.figures["fullPasses"] = JSONValue(passes)
        health.figures["fullPassesWithCounters"] = JSONValue(passesWithCounters)
        health.figures["patches"] = JSONValue(patches)
        health.figures["fullPassCPUMillis"] = JSONValue((Double(passCPUNanos) / 10_000).rounded() / 100)
        health.figures["patchCPUMillis"] = JSONValue((Double(patchCPUNanos) / 10_000).rounded() / 100)
        health.figures["counterUpdates"] = JSONValue(counterUpdates)
        health.figures["counterCPUMillis"] = JSONValue((Double(counterCPUNanos) / 10_000).rounded() / 100)
    }
}
