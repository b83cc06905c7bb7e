import CPeriscopeLinux

/// glibc malloc settings for the daemon: few arenas (it has a handful of threads), and free memory
/// handed back to the kernel after large transient allocations (a 10,000-connection render).
public enum MemoryTuning {
    /// Caps malloc arenas. Call once at start, before other threads exist.
    public static func limitArenas(_ count: Int32 = 2) {
        _ = psc_malloc_limit_arenas(count)
    }

    /// Serves allocations of `bytes` and more with their own mappings, given back to the kernel when freed (a
    /// pass's multi-megabyte socket arrays and tables), instead of glibc's rising threshold that moves them into
    /// the heap after the first one is freed. Call once at start.
    public static func fixMmapThreshold(_ bytes: Int32 = 256 * 1024) {
        _ = psc_malloc_mmap_threshold(bytes)
    }

    /// Returns free heap pages to the kernel. Any thread; cheap when there is little to free.
    public static func trim() {
        _ = psc_malloc_trim()
    }
}
