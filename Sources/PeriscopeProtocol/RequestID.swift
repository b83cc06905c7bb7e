/// A JSON-RPC request id: a string or an integer (JSON-RPC 2.0 §4). Fractional or out-of-range
/// numbers are refused as ids when a request is decoded.
public enum RequestID: Sendable, Hashable, CustomStringConvertible {
    case number(Int64)
    case string(String)

    public var json: JSONValue {
        switch self {
        case .number(let n): return .int(n)
        case .string(let s): return .string(s)
        }
    }

    public var description: String {
        switch self {
        case .number(let n): return String(n)
        case .string(let s): return "\"\(s)\""
        }
    }

    /// Reads an id from its JSON form; `nil` for anything that is not a valid id.
    public init?(json: JSONValue) {
        switch json {
        case .int(let n): self = .number(n)
        case .string(let s): self = .string(s)
        default: return nil
        }
    }
}
