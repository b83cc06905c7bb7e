import PeriscopeProtocol

/// Indented JSON for people (the shell client's `--json` output). Keys sorted, two-space indent.
public enum JSONPretty {
    public static func string(_ value: JSONValue) -> String {
        var out = ""
        write(value, indent: 0, into: &out)
        return out
    }

    private static func write(_ value: JSONValue, indent: Int, into out: inout String) {
        let pad = String(repeating: "  ", count: indent + 1)
        let closePad = String(repeating: "  ", count: indent)
        switch value {
        case .array(let elements) where !elements.isEmpty:
            out += "[\n"
            for (n, element) in elements.enumerated() {
                out += pad
                write(element, indent: indent + 1, into: &out)
                out += n + 1 < elements.count ? ",\n" : "\n"
            }
            out += closePad + "]"
        case .object(let members) where !members.isEmpty:
            out += "{\n"
            let keys = members.keys.sorted()
            for (n, key) in keys.enumerated() {
                out += pad + JSONWriter.string(.string(key)) + ": "
                if let member = members[key] { write(member, indent: indent + 1, into: &out) }
                out += n + 1 < keys.count ? ",\n" : "\n"
            }
            out += closePad + "}"
        default:
            out += JSONWriter.string(value)
        }
    }
}
