import PeriscopeTopology

/// Reads one process outside a full pass: what ``FlowTracker`` needs to show a flow whose process the last
/// pass did not see, in the namespace the process is in now. ``HostCollector`` is the real one; tests
/// give their own.
public protocol ProcessLookup: AnyObject {
    /// The process `pid` read now, or nil when it is gone or unreadable. May block briefly (procfs reads);
    /// called on the thread that owns the caller (the collection queue).
    func process(pid: Int32) -> ProcessRecord?

    /// The inode of `pid`'s network namespace now, or nil when it cannot be read.
    func networkNamespace(pid: Int32) -> UInt64?
}

extension HostCollector: ProcessLookup {}
