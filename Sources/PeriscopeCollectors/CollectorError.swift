/// An error met while collecting; it never stops a pass, it is reported in ``CollectorHealth/lastError``
/// or thrown from ``ProcessEventMonitor/start(handler:)``.
public struct CollectorError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Which part of the collection failed.
    public enum Code: String, Sendable, Hashable {
        case permission
        case namespace
        case netlink
        case procfs
        case connector
        /// Kernel tracing: tracefs, tracepoint formats, perf_event_open (``SocketStateMonitor``).
        case tracing
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
