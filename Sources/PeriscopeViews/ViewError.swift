import PeriscopeTopology

/// An error in a view request: unknown view, bad option, bad filter. The server answers it with JSON-RPC
/// `-32602` (invalid params) and ``message`` as the error message.
public struct ViewError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was wrong.
    public enum Code: String, Sendable, Hashable {
        case unknownView
        case invalidOption
        case invalidFilter
    }

    public var code: Code
    /// A sentence for a person, naming the bad view, option or filter term.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
