import CPeriscopeBPF
import PeriscopeSystem
import PeriscopeProtocol
import PeriscopeTopology
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The L7 programs (bpf/l7.bpf.c) loaded into the kernel and attached to the read/write family of syscall
/// tracepoints, and the reading of their connection map at the refresh rate. Each ``refresh(now:)`` turns the
/// cumulative per-connection counters into the figures of the window since the last one (``L7Windows``) and
/// ``annotate(_:)`` writes them onto the report's connection and process nodes.
///
/// When the programs cannot be loaded (not root, no BTF, a locked-down kernel) nothing else changes: the map
/// works as before and ``health`` says why.
/// - Important: ``refresh(now:)`` and ``annotate(_:)`` on the collection queue only; ``health`` from any thread.
public final class L7Tracer: @unchecked Sendable {
    private var handle: OpaquePointer?
    private var buffer: UnsafeMutablePointer<psc_l7_entry>
    private let capacity = 8192
    private var windows = L7Windows()
    private let state = Mutex<SourceHealth>(SourceHealth(state: "starting"))

    /// Loads and attaches the programs; on failure the tracer stays inert and ``health`` is `unavailable`.
    public init() {
        buffer = .allocate(capacity: capacity)
        do throws(CollectorError) {
            handle = try Self.load()
            windows = L7Windows(start: SystemClock.monotonicMillis() / 1000)
            let programs = psc_bpf_program_count(handle)
            state.withLock {
                $0 = SourceHealth(state: "ok", summary: "l7: \(programs) BPF programs attached",
                                  figures: ["loaded": true, "programs": JSONValue(programs), "connections": 0,
                                            "runTimeNs": 0, "runCount": 0])
            }
        } catch {
            let reason = error.message
            state.withLock {
                $0 = SourceHealth(state: "unavailable", summary: "l7: BPF programs not loaded", lastError: reason,
                                  figures: ["loaded": false])
            }
        }
    }

    deinit {
        if let handle { psc_bpf_close(handle) }
        buffer.deallocate()
    }

    /// Whether the programs are attached.
    public var isLoaded: Bool { handle != nil }

    /// `daemon/status` → `collectors.l7`: `loaded`, `programs`, `connections`, `runTimeNs`, `runCount` (the
    /// programs' kernel run time, non-zero while `kernel.bpf_stats_enabled` is 1), or why the programs are not
    /// loaded (`lastError`). Any thread.
    public var health: SourceHealth {
        var health = state.withLock { $0 }
        if handle != nil {  // read live: the programs' run time moves between passes
            let stats = runStats()
            health.figures["runTimeNs"] = JSONValue(stats.nanos)
            health.figures["runCount"] = JSONValue(stats.count)
        }
        return health
    }

    /// Reads the connection map and closes the window that started at the last call. Collection queue only.
    public func refresh(now: Double) {
        guard let handle else { return }
        let n = Int(psc_bpf_read_conns(handle, buffer, Int32(capacity)))
        guard n >= 0 else {  // keep the last window; the next read closes a longer one
            state.withLock { $0.lastError = "reading the connection map failed: \(NamespaceSockets.describe(Int32(-n)))" }
            return
        }
        let entries = UnsafeBufferPointer(start: buffer, count: n)
        let expired = windows.update(entries, now: now)
        for var key in expired { _ = psc_bpf_delete_conn(handle, &key) }
        let connections = windows.connectionCount
        state.withLock {
            $0.figures["connections"] = JSONValue(connections)
            $0.lastError = nil
        }
    }

    /// Writes the last window's figures onto `report`. Collection queue only.
    public func annotate(_ report: inout Report) {
        guard handle != nil else { return }
        windows.annotate(&report)
    }

    /// Kernel run time and run count of the programs so far (`bpf_prog_info`; the handle's fds never change after
    /// `init`, so any thread).
    public func runStats() -> (nanos: UInt64, count: UInt64) {
        guard let handle else { return (0, 0) }
        var runTime: UInt64 = 0, runs: UInt64 = 0
        _ = psc_bpf_run_stats(handle, &runTime, &runs)
        return (runTime, runs)
    }

    private static func load() throws(CollectorError) -> OpaquePointer {
        if geteuid() != 0 {
            throw CollectorError(.permission, "loading BPF programs needs root (CAP_BPF and CAP_PERFMON)")
        }
        if access("/sys/kernel/btf/vmlinux", R_OK) != 0 {
            throw CollectorError(.tracing, "the kernel has no BTF (/sys/kernel/btf/vmlinux): needs CONFIG_DEBUG_INFO_BTF")
        }
        _ = try TraceFS.event("syscalls", "sys_enter_read")   // mounts tracefs when needed; says why not
        guard let object = Self.decodeHex(L7BPFObject.hex) else {
            throw CollectorError(.tracing, "the embedded BPF object is malformed")
        }
        var message = [CChar](repeating: 0, count: 512)
        let loaded = object.withUnsafeBytes { raw in
            psc_bpf_open(raw.baseAddress, raw.count, &message, message.count)
        }
        guard let loaded else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw CollectorError(.tracing, "loading the BPF programs failed: \(text)")
        }
        return loaded
    }

    static func decodeHex(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count / 2)
        var high: UInt8?
        for c in text.utf8 {
            let v: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
            default: return nil
            }
            if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
        }
        return high == nil && !out.isEmpty ? out : nil
    }
}
