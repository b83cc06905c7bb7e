import Glibc
import PeriscopeProtocol

/// Connecting to the daemon at its default socket (``DaemonSocket/defaultPath()``) or a given one.
public enum DaemonAddress {

    /// Opens an initialized client on `socketPath` (or the default socket).
    public static func connect(socketPath: String?, clientName: String = "periscope") throws -> RPCClient {
        let client = try RPCClient(socketPath: socketPath ?? DaemonSocket.defaultPath())
        try client.initialize(clientName: clientName)
        return client
    }
}
