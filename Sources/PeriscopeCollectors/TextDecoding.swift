/// Byte-level text helpers for kernel data: UTF-8 validation with `\xNN` escapes, command lines,
/// and allocation-free number parsing. Pure functions, callable from any thread.
public enum TextDecoding {
    /// Decodes `bytes` as UTF-8; every byte that is not part of a well-formed sequence becomes `\xNN`
    /// (upper-case hex), and a literal backslash becomes `\\`, so a name holding the text `\xFF` is
    /// told apart from one holding the byte 0xFF. Never fails.
    public static func escaped(_ bytes: UnsafeRawBufferPointer) -> String {
        if !bytes.contains(UInt8(ascii: "\\")), let valid = String(validating: bytes, as: UTF8.self) { return valid }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 16)
        var i = 0
        let n = bytes.count
        while i < n {
            let length = validSequenceLength(bytes, at: i)
            if bytes[i] == UInt8(ascii: "\\") {
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "\\"))
                i += 1
            } else if length > 0 {
                for k in 0..<length { out.append(bytes[i + k]) }
                i += length
            } else {
                let b = bytes[i]
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "x"))
                out.append(hexDigit(b >> 4))
                out.append(hexDigit(b & 0x0F))
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Convenience for arrays.
    public static func escaped(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { escaped($0) }
    }

    /// Longest command line kept, in bytes: any local user can start processes with huge arguments,
    /// and every view and reply carries the command.
    public static let maxCommandLineBytes = 4096

    /// A `/proc/PID/cmdline` buffer: NUL-separated arguments joined by single spaces (trailing NULs
    /// dropped), invalid UTF-8 escaped, cut to ``maxCommandLineBytes`` with a marker saying how much
    /// was left out.
    public static func commandLine(_ bytes: UnsafeRawBufferPointer) -> String {
        var end = bytes.count
        while end > 0 && bytes[end - 1] == 0 { end -= 1 }
        guard end > 0 else { return "" }
        let kept = min(end, maxCommandLineBytes)
        var copy = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[0..<kept]))
        for k in copy.indices where copy[k] == 0 { copy[k] = UInt8(ascii: " ") }
        guard kept < end else { return escaped(copy) }
        return escaped(copy) + " …[\(end - kept) more bytes]"
    }

    /// Length of the well-formed UTF-8 sequence starting at `i` (Unicode Table 3-7), or 0.
    static func validSequenceLength(_ b: UnsafeRawBufferPointer, at i: Int) -> Int {
        let n = b.count
        let b0 = b[i]
        func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool {
            k < n && b[k] >= lo && b[k] <= hi
        }
        switch b0 {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: return cont(i + 1) ? 2 : 0
        case 0xE0: return cont(i + 1, 0xA0, 0xBF) && cont(i + 2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF: return cont(i + 1) && cont(i + 2) ? 3 : 0
        case 0xED: return cont(i + 1, 0x80, 0x9F) && cont(i + 2) ? 3 : 0
        case 0xF0: return cont(i + 1, 0x90, 0xBF) && cont(i + 2) && cont(i + 3) ? 4 : 0
        case 0xF1...0xF3: return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0
        case 0xF4: return cont(i + 1, 0x80, 0x8F) && cont(i + 2) && cont(i + 3) ? 4 : 0
        default: return 0
        }
    }

    private static func hexDigit(_ v: UInt8) -> UInt8 {
        v < 10 ? UInt8(ascii: "0") + v : UInt8(ascii: "A") + v - 10
    }
}

/// A cursor over ASCII fields separated by spaces/newlines, for /proc/PID/stat-like files.
struct FieldScanner {
    let bytes: UnsafeRawBufferPointer
    var index: Int

    init(_ bytes: UnsafeRawBufferPointer, from index: Int = 0) {
        self.bytes = bytes
        self.index = index
    }

    private mutating func skipSpaces() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x09 {
            index += 1
        }
    }

    /// Skips `count` fields.
    mutating func skip(_ count: Int) {
        for _ in 0..<count {
            skipSpaces()
            while index < bytes.count, bytes[index] != 0x20, bytes[index] != 0x0A { index += 1 }
        }
    }

    /// The next field as an unsigned integer (0 when malformed), optionally negative.
    mutating func int() -> Int64 {
        skipSpaces()
        var negative = false
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { negative = true; index += 1 }
        var value: Int64 = 0
        while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
            value = value &* 10 &+ Int64(bytes[index] - 0x30)
            index += 1
        }
        // Skip any non-digit tail of the field (e.g. "kB" is a separate field; decimals are handled by double()).
        while index < bytes.count, bytes[index] != 0x20, bytes[index] != 0x0A { index += 1 }
        return negative ? -value : value
    }

    /// The next field as a decimal number such as `12345.67`.
    mutating func double() -> Double {
        skipSpaces()
        var value = 0.0
        var scale = 0.0
        while index < bytes.count, bytes[index] != 0x20, bytes[index] != 0x0A {
            let c = bytes[index]
            if c == UInt8(ascii: ".") {
                scale = 1
            } else if c >= 0x30, c <= 0x39 {
                if scale > 0 {
                    scale /= 10
                    value += Double(c - 0x30) * scale
                } else {
                    value = value * 10 + Double(c - 0x30)
                }
            }
            index += 1
        }
        return value
    }

    /// The next field as one character string.
    mutating func word() -> String {
        skipSpaces()
        let start = index
        while index < bytes.count, bytes[index] != 0x20, bytes[index] != 0x0A { index += 1 }
        return TextDecoding.escaped(UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
    }
}
