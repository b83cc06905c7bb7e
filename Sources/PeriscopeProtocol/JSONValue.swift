/// A JSON document as a value.
///
/// Periscope parses and writes JSON itself (see ``JSONParser`` and ``JSONWriter``) so that it controls
/// every limit a peer could abuse (depth, size, number range, duplicate keys) and so that the hot path
/// does not go through `Codable`. Integers that fit in 64 bits stay exact (`.int`); every other number
/// is a `.double`. Objects are unordered; ``JSONWriter`` writes their keys sorted, so output is stable.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

extension JSONValue {
    /// The member `key` of an object, or `nil` for a missing key or a value that is not an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The value as an integer: an `.int`, or a `.double` with no fractional part that fits in 64 bits.
    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d):
            guard d.rounded() == d, d >= -9.223372036854775e18, d < 9.223372036854775e18 else { return nil }
            return Int64(d)
        default: return nil
        }
    }

    /// The value as a floating-point number (either numeric case).
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// A short name of the value's JSON type, for error messages ("expected a string, got an array").
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int, .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(nilLiteral: ()) { self = .null }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        var members: [String: JSONValue] = [:]
        members.reserveCapacity(elements.count)
        for (k, v) in elements { members[k] = v }
        self = .object(members)
    }
}

extension JSONValue {
    /// Convenience initialisers for building results.
    public init(_ s: String) { self = .string(s) }
    public init(_ i: Int) { self = .int(Int64(i)) }
    public init(_ i: Int32) { self = .int(Int64(i)) }
    public init(_ u: UInt64) { self = u <= UInt64(Int64.max) ? .int(Int64(u)) : .double(Double(u)) }
    public init(_ u: UInt32) { self = .int(Int64(u)) }
    public init(_ u: UInt16) { self = .int(Int64(u)) }
    public init(_ d: Double) { self = .double(d) }
    public init(_ b: Bool) { self = .bool(b) }
    public init(_ a: [String]) { self = .array(a.map { .string($0) }) }
    /// `nil` becomes JSON `null`.
    public init(_ s: String?) { self = s.map { .string($0) } ?? .null }
}

/// A type that has a JSON form. Results, notifications and view nodes adopt it.
public protocol JSONRepresentable {
    var json: JSONValue { get }
}

extension JSONValue: JSONRepresentable {
    public var json: JSONValue { self }
}
