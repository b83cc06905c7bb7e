/// One field of a tracepoint's binary record, as tracefs `events/CATEGORY/NAME/format` describes it.
struct TracepointField: Sendable, Hashable {
    var offset: Int
    var size: Int
    var signed: Bool
}

/// Parsing of tracefs `format` files and reading fields out of raw tracepoint payloads. Pure, any thread.
enum TracepointFormat {
    /// Fields by name from lines like `\tfield:__u16 sport;\toffset:24;\tsize:2;\tsigned:0;`.
    /// Array fields (`saddr[4]`) are named without the brackets. Lines that do not parse are ignored.
    static func parse(_ text: String) -> [String: TracepointField] {
        var fields: [String: TracepointField] = [:]
        for line in text.split(whereSeparator: { $0 == "\n" }) {
            var declaration: Substring?
            var offset: Int?
            var size: Int?
            var signed = false
            for part in line.split(separator: ";") {
                let item = part.drop { $0 == " " || $0 == "\t" }
                guard let colon = item.firstIndex(of: ":") else { continue }
                let key = item[..<colon]
                let value = item[item.index(after: colon)...]
                switch key {
                case "field": declaration = value
                case "offset": offset = Int(value)
                case "size": size = Int(value)
                case "signed": signed = value == "1"
                default: break
                }
            }
            guard let declaration, let offset, let size, offset >= 0, size > 0,
                  let name = fieldName(declaration) else { continue }
            fields[name] = TracepointField(offset: offset, size: size, signed: signed)
        }
        return fields
    }

    /// `const void * skaddr` → `skaddr`; `__u8 saddr[4]` → `saddr`.
    static func fieldName(_ declaration: Substring) -> String? {
        guard let last = declaration.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "*" }).last
        else { return nil }
        let name = last.prefix { $0 != "[" }
        return name.isEmpty ? nil : String(name)
    }

    /// An integer field of 1, 2, 4 or 8 bytes in host byte order (sign-extended when the format says
    /// signed); nil when it does not fit in `raw` or has another size.
    static func integer(_ field: TracepointField, in raw: UnsafeRawBufferPointer) -> Int64? {
        guard fits(field, in: raw) else { return nil }
        let at = field.offset
        switch (field.size, field.signed) {
        case (1, false): return Int64(raw.loadUnaligned(fromByteOffset: at, as: UInt8.self))
        case (1, true): return Int64(raw.loadUnaligned(fromByteOffset: at, as: Int8.self))
        case (2, false): return Int64(raw.loadUnaligned(fromByteOffset: at, as: UInt16.self))
        case (2, true): return Int64(raw.loadUnaligned(fromByteOffset: at, as: Int16.self))
        case (4, false): return Int64(raw.loadUnaligned(fromByteOffset: at, as: UInt32.self))
        case (4, true): return Int64(raw.loadUnaligned(fromByteOffset: at, as: Int32.self))
        case (8, _): return raw.loadUnaligned(fromByteOffset: at, as: Int64.self)
        default: return nil
        }
    }

    /// The bytes of an array field, or nil when it does not fit in `raw`.
    static func bytes(_ field: TracepointField, in raw: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard fits(field, in: raw) else { return nil }
        return UnsafeRawBufferPointer(rebasing: raw[field.offset..<(field.offset + field.size)])
    }

    /// Whether the field lies inside `raw`, without overflowing on absurd offsets from a format file.
    static func fits(_ field: TracepointField, in raw: UnsafeRawBufferPointer) -> Bool {
        field.offset >= 0 && field.size >= 0 && field.size <= raw.count && field.offset <= raw.count - field.size
    }
}
