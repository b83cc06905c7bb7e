/// The version of Periscope (daemon and shell client alike) and the protocol version it speaks: one
/// source for `periscoped --version`, `periscope --version`, `initialize` and `daemon/status`.
public enum PeriscopeVersion {
    /// The release of the daemon and its clients.
    public static let daemon = "0.1.0"
    /// Bumped in the minor for additions, in the major for incompatible changes (see protocol/SPEC.md).
    public static let protocolVersion = "1.0"
}
