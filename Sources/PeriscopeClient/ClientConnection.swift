import Glibc
import PeriscopeProtocol

/// Where a client finds the daemon: the same default-socket rule as the daemon
/// (`$PERISCOPE_SOCKET`, `/run/periscope/periscope.sock` for root, `$XDG_RUNTIME_DIR/periscope.sock`).
public enum DaemonAddress {
    public static func defaultSocketPath() -> String {
        if let override = getenv("PERISCOPE_SOCKET").map({ String(cString: $0) }), !override.isEmpty {
            return override
        }
        if getuid() == 0 { return "/run/periscope/periscope.sock" }
        if let runtime = getenv("XDG_RUNTIME_DIR").map({ String(cString: $0) }), !runtime.isEmpty {
            return runtime + "/periscope.sock"
        }
        return "/tmp/periscope-\(getuid())/periscope.sock"
    }

    /// Opens an initialized client on `socketPath` (or the default socket).
    public static func connect(socketPath: String?, clientName: String = "periscope") throws -> RPCClient {
        let client = try RPCClient(socketPath: socketPath ?? defaultSocketPath())
        try client.initialize(clientName: clientName)
        return client
    }
}
