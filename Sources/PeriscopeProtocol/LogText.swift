/// Makes text that a peer controls safe to write into a log line: control characters (C0, DEL, C1)
/// and bidirectional overrides are shown as escapes, backslashes are doubled, and the result is cut to
/// a bound with a marker saying how much was left out.
///
/// Logs are read on terminals and by log shippers; raw peer bytes there can move the cursor, retitle
/// the terminal or forge log lines. Pure; any thread.
public enum LogText {
    /// Default bound on the characters kept from one peer-supplied value.
    public static let defaultLimit = 200

    /// `text` escaped and cut to `limit` characters (`…(+N more)` marks a cut).
    public static func escape(_ text: some StringProtocol, limit: Int = defaultLimit) -> String {
        var out = ""
        var kept = 0
        var total = 0
        for scalar in text.unicodeScalars {
            total += 1
            guard kept < limit else { continue }
            kept += 1
            appendEscaped(scalar, to: &out)
        }
        if total > kept { out += "…(+\(total - kept) more)" }
        return out
    }

    /// Bytes (possibly invalid UTF-8) as escaped text cut to `limit` bytes.
    public static func escape(bytes: some Collection<UInt8>, limit: Int = defaultLimit) -> String {
        let text = String(decoding: bytes.prefix(limit), as: UTF8.self)
        let cut = bytes.count > limit ? "…(+\(bytes.count - limit) more bytes)" : ""
        return escape(text, limit: Int.max) + cut
    }

    static func appendEscaped(_ scalar: Unicode.Scalar, to out: inout String) {
        switch scalar.value {
        case 0x5C: out += "\\\\"
        case 0x0A: out += "\\n"
        case 0x0D: out += "\\r"
        case 0x09: out += "\\t"
        case 0x1B: out += "\\e"
        case 0x00..<0x20, 0x7F..<0xA0, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069:
            out += "\\u{" + String(scalar.value, radix: 16) + "}"
        default: out.unicodeScalars.append(scalar)
        }
    }
}
