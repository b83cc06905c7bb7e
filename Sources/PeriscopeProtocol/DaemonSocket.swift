import Glibc

/// Where the daemon's Unix socket is by default (protocol/SPEC.md section 1): the one rule the daemon
/// and every client share, so they meet without flags.
public enum DaemonSocket {
    /// `$PERISCOPE_SOCKET`, else `/run/periscope/periscope.sock` for root, else
    /// `$XDG_RUNTIME_DIR/periscope.sock`, else `/tmp/periscope-UID/periscope.sock`.
    public static func defaultPath() -> String {
        if let override = getenv("PERISCOPE_SOCKET").map({ String(cString: $0) }), !override.isEmpty {
            return override
        }
        if getuid() == 0 { return "/run/periscope/periscope.sock" }
        if let runtime = getenv("XDG_RUNTIME_DIR").map({ String(cString: $0) }), !runtime.isEmpty {
            return runtime + "/periscope.sock"
        }
        return "/tmp/periscope-\(getuid())/periscope.sock"
    }
}
