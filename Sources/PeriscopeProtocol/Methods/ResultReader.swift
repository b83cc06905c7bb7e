/// Reads the members of a result received from the daemon; a member that is missing or of the wrong type is a
/// ``MalformedResult`` naming it (`result.revision must be an integer, got a string`).
public struct ResultReader: Sendable {
    /// The object read.
    public let value: JSONValue
    /// The path of `value` in the result, `""` for the result itself.
    public let path: String

    public init(_ value: JSONValue, path: String = "") {
        self.value = value
        self.path = path
    }

    private func member<T>(_ name: String, _ expected: String, _ read: (JSONValue) -> T?) throws(MalformedResult) -> T {
        let member = value[name]
        guard let member, let read = read(member) else { throw .member(path + name, expected, in: member) }
        return read
    }

    /// A string member.
    public func string(_ name: String) throws(MalformedResult) -> String { try member(name, "a string") { $0.stringValue } }

    /// An integer member.
    public func int(_ name: String) throws(MalformedResult) -> Int64 { try member(name, "an integer") { $0.intValue } }

    /// A boolean member.
    public func bool(_ name: String) throws(MalformedResult) -> Bool { try member(name, "a boolean") { $0.boolValue } }

    /// An array member.
    public func array(_ name: String) throws(MalformedResult) -> [JSONValue] { try member(name, "an array") { $0.arrayValue } }

    /// An object member, as JSON.
    public func object(_ name: String) throws(MalformedResult) -> JSONValue {
        try member(name, "an object") { $0.objectValue == nil ? nil : $0 }
    }

    /// An array member whose items are all strings.
    public func strings(_ name: String) throws(MalformedResult) -> [String] {
        try member(name, "an array of strings") { value in
            guard let items = value.arrayValue else { return nil }
            let strings = items.compactMap(\.stringValue)
            return strings.count == items.count ? strings : nil
        }
    }

    /// Checks that `name` is `true` (members the schema fixes with `"const": true`).
    public func isTrue(_ name: String) throws(MalformedResult) {
        _ = try member(name, "true") { $0 == .bool(true) ? true : nil }
    }

    /// A reader of the object member `name`.
    public func nested(_ name: String) throws(MalformedResult) -> ResultReader {
        ResultReader(try object(name), path: path + name + ".")
    }
}
