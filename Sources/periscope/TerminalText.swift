import PeriscopeProtocol

/// Text from the daemon made safe to show on a terminal: the one escaping rule of every human-readable
/// output (tables, details, watch lines, DOT, status, top, error messages).
///
/// Process names and command lines are chosen by whoever starts the process, so they may hold escape
/// sequences (clear the screen, retitle the window), carriage returns and newlines (forge or hide
/// rows), C1 controls or bidirectional overrides (reorder what is shown). Each such character is shown
/// as a visible escape instead: `\e`, `\n`, `\r`, `\t`, `\xNN` for other C0 controls and DEL,
/// `\u{NNNN}` for C1 controls, bidirectional controls and line/paragraph separators. A backslash is shown
/// as `\\`, so a name that merely *contains* the text `\e` can never pass for an escape.
enum TerminalText {
    /// `text` with every control character escaped (see the type's description).
    static func escape(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar) else {
                out.append(scalar)
                continue
            }
            out.append(contentsOf: escapeSequence(scalar).unicodeScalars)
        }
        return String(out)
    }

    /// `value` with every string and object key passed through ``escape(_:)``: a view, details or
    /// status ready for any text renderer.
    static func sanitized(_ value: JSONValue) -> JSONValue {
        switch value {
        case .string(let text):
            return .string(escape(text))
        case .array(let elements):
            return .array(elements.map(sanitized))
        case .object(let members):
            var out: [String: JSONValue] = [:]
            for (key, member) in members { out[escape(key)] = sanitized(member) }
            return .object(out)
        default:
            return value
        }
    }

    /// Compact or pretty JSON text with the characters JSON allows raw but terminals act on (DEL, C1,
    /// bidirectional controls, line separators) written as `\uNNNN`: the same JSON value, safe to print.
    /// (Other controls are already escaped by the JSON writer; these characters only occur in strings.)
    static func jsonSafe(_ json: String) -> String {
        guard json.unicodeScalars.contains(where: needsEscape) else { return json }
        var out = String.UnicodeScalarView()
        for scalar in json.unicodeScalars {
            if needsEscape(scalar), scalar.value >= 0x7F {
                out.append(contentsOf: ("\\u" + hex(scalar.value, digits: 4)).unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// Whether `scalar` is shown escaped: C0, DEL, C1, bidirectional controls, separators, backslash.
    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x5C, 0x7F...0x9F: return true
        case 0x061C, 0x200E, 0x200F, 0x2028...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }

    private static func escapeSequence(_ scalar: Unicode.Scalar) -> String {
        switch scalar.value {
        case 0x5C: return "\\\\"
        case 0x1B: return "\\e"
        case 0x0A: return "\\n"
        case 0x0D: return "\\r"
        case 0x09: return "\\t"
        case 0x00...0x1F, 0x7F: return "\\x" + hex(scalar.value, digits: 2)
        default: return "\\u{" + hex(scalar.value, digits: 4) + "}"
        }
    }

    private static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
