/// Reads the members of a request's `params` with the daemon's checks: an object with named members,
/// no unknown member, each member of the right type and range. Every failure is a −32602 ``RPCError``
/// whose message names the member, e.g. `params.delayMs must be an integer, got a string`.
///
/// Params types (``RPCParams``) decode through it; it is not meant for results.
public struct ParamReader: Sendable {
    /// The members present (`null` members included: they read as absent).
    public let members: [String: JSONValue]

    /// Checks that `raw` is params with named members (absent, `null` and `[]` read as `{}`) and, when
    /// `known` is given, that every member is one of `known`.
    public init(_ raw: JSONValue?, allowing known: Set<String>?) throws(RPCError) {
        switch raw {
        case nil, .null?: members = [:]
        case .object(let object)?: members = object
        case .array(let elements)? where elements.isEmpty: members = [:]
        default: throw RPCError.invalidParams("params must be an object with named members")
        }
        guard let known else { return }
        for key in members.keys.sorted() where !known.contains(key) {
            throw RPCError.invalidParams("unknown parameter params.\(key); expected one of: \(known.sorted().joined(separator: ", "))")
        }
    }

    /// The value of `name`, if present and not null.
    public func value(_ name: String) -> JSONValue? {
        guard let value = members[name], !value.isNull else { return nil }
        return value
    }

    /// A string, if present.
    public func string(_ name: String) throws(RPCError) -> String? {
        guard let value = value(name) else { return nil }
        guard case .string(let s) = value else { throw RPCError.invalidParams("params.\(name) must be a string, got \(value.typeName)") }
        return s
    }

    /// A string that must be present.
    public func requiredString(_ name: String) throws(RPCError) -> String {
        guard let s = try string(name) else { throw RPCError.invalidParams("params.\(name) is required (a string)") }
        return s
    }

    /// An integer (a number without fraction), within `range` when given.
    public func int(_ name: String, in range: ClosedRange<Int64>? = nil) throws(RPCError) -> Int64? {
        guard let value = value(name) else { return nil }
        guard let i = value.intValue else { throw RPCError.invalidParams("params.\(name) must be an integer, got \(value.typeName)") }
        if let range, !range.contains(i) {
            throw RPCError.invalidParams("params.\(name) must be between \(range.lowerBound) and \(range.upperBound), got \(i)")
        }
        return i
    }

    /// An integer that must be present, within `range` when given.
    public func requiredInt(_ name: String, in range: ClosedRange<Int64>? = nil) throws(RPCError) -> Int64 {
        guard let i = try int(name, in: range) else { throw RPCError.invalidParams("params.\(name) is required (an integer)") }
        return i
    }

    /// A boolean, if present.
    public func bool(_ name: String) throws(RPCError) -> Bool? {
        guard let value = value(name) else { return nil }
        guard case .bool(let b) = value else { throw RPCError.invalidParams("params.\(name) must be a boolean, got \(value.typeName)") }
        return b
    }

    /// An object, if present.
    public func object(_ name: String) throws(RPCError) -> [String: JSONValue]? {
        guard let value = value(name) else { return nil }
        guard case .object(let o) = value else { throw RPCError.invalidParams("params.\(name) must be an object, got \(value.typeName)") }
        return o
    }
}

/// Builds the `params` object a client sends: members that are `nil` are left out.
public struct ParamWriter: Sendable {
    /// The members set so far.
    public private(set) var members: [String: JSONValue] = [:]

    public init() {}

    /// Sets `name` to `value`; `nil` leaves it out.
    public mutating func set(_ name: String, _ value: JSONValue?) {
        if let value { members[name] = value }
    }

    public mutating func set(_ name: String, _ value: String?) { set(name, value.map(JSONValue.string)) }

    public mutating func set(_ name: String, _ value: Int64?) { set(name, value.map(JSONValue.int)) }

    /// The params object.
    public var json: JSONValue { .object(members) }
}
