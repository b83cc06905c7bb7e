import PeriscopeProtocol

/// Typed access to a request's `params`, with −32602 errors that name the offending parameter.
public struct Params: Sendable {
    public let raw: JSONValue?

    public init(_ raw: JSONValue?) { self.raw = raw }

    private var members: [String: JSONValue] {
        get throws(RPCError) {
            switch raw {
            case nil, .null?: return [:]
            case .object(let members)?: return members
            case .array(let elements)? where elements.isEmpty: return [:]
            default: throw RPCError.invalidParams("params must be an object with named members")
            }
        }
    }

    /// The raw value of `name`, if present and not null.
    public func value(_ name: String) throws(RPCError) -> JSONValue? {
        let value = try members[name]
        if case .null? = value { return nil }
        return value
    }

    public func string(_ name: String) throws(RPCError) -> String? {
        guard let value = try value(name) else { return nil }
        guard case .string(let s) = value else { throw RPCError.invalidParams("params.\(name) must be a string, got \(value.typeName)") }
        return s
    }

    public func requiredString(_ name: String) throws(RPCError) -> String {
        guard let s = try string(name) else { throw RPCError.invalidParams("params.\(name) is required (a string)") }
        return s
    }

    public func int(_ name: String, in range: ClosedRange<Int64>? = nil) throws(RPCError) -> Int64? {
        guard let value = try value(name) else { return nil }
        guard let i = value.intValue else { throw RPCError.invalidParams("params.\(name) must be an integer, got \(value.typeName)") }
        if let range, !range.contains(i) {
            throw RPCError.invalidParams("params.\(name) must be between \(range.lowerBound) and \(range.upperBound), got \(i)")
        }
        return i
    }

    public func bool(_ name: String) throws(RPCError) -> Bool? {
        guard let value = try value(name) else { return nil }
        guard case .bool(let b) = value else { throw RPCError.invalidParams("params.\(name) must be a boolean, got \(value.typeName)") }
        return b
    }

    public func object(_ name: String) throws(RPCError) -> [String: JSONValue]? {
        guard let value = try value(name) else { return nil }
        guard case .object(let o) = value else { throw RPCError.invalidParams("params.\(name) must be an object, got \(value.typeName)") }
        return o
    }

    /// Rejects members not in `known`, so a typo does not silently do nothing.
    public func allowOnly(_ known: Set<String>) throws(RPCError) {
        for key in try members.keys where !known.contains(key) {
            throw RPCError.invalidParams("unknown parameter params.\(key); expected one of: \(known.sorted().joined(separator: ", "))")
        }
    }
}
