import CZlib

/// Appends varints, strings and doubles to a byte buffer: the history log's compact binary form.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func int(_ value: Int) { varint(UInt64(max(0, value))) }

    /// A signed value, zigzag-encoded (small negative deltas stay short).
    mutating func signed(_ value: Int64) { varint(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }

    mutating func byte(_ value: UInt8) { bytes.append(value) }

    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            int(utf8.count)
            bytes.append(contentsOf: utf8)
        }
    }

    mutating func double(_ d: Double) {
        var bits = d.bitPattern
        for _ in 0..<8 {
            bytes.append(UInt8(bits & 0xff))
            bits >>= 8
        }
    }
}

/// Reads what ``ByteWriter`` wrote; every read checks the bounds (a damaged record throws, never traps).
struct ByteReader {
    struct Truncated: Error {}

    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset >= bytes.count }

    mutating func varint() throws(Truncated) -> UInt64 {
        var out: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < bytes.count, shift < 64 else { throw Truncated() }
            let b = bytes[offset]
            offset += 1
            out |= UInt64(b & 0x7f) << shift
            if b < 0x80 { return out }
            shift += 7
        }
    }

    mutating func int() throws(Truncated) -> Int {
        let v = try varint()
        guard v <= UInt64(Int32.max) else { throw Truncated() }
        return Int(v)
    }

    mutating func signed() throws(Truncated) -> Int64 {
        let v = try varint()
        return Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1)
    }

    mutating func byte() throws(Truncated) -> UInt8 {
        guard offset < bytes.count else { throw Truncated() }
        offset += 1
        return bytes[offset - 1]
    }

    mutating func string() throws(Truncated) -> String {
        let count = try int()
        guard count <= bytes.count - offset else { throw Truncated() }
        defer { offset += count }
        return String(decoding: bytes[offset..<offset + count], as: UTF8.self)
    }

    mutating func double() throws(Truncated) -> Double {
        guard bytes.count - offset >= 8 else { throw Truncated() }
        var bits: UInt64 = 0
        for i in 0..<8 { bits |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        offset += 8
        return Double(bitPattern: bits)
    }
}

/// zlib: segments and checkpoints are stored compressed.
enum Compression {
    /// The largest inflated blob accepted (a damaged length cannot make us allocate more).
    static let maxInflated = 1 << 30

    /// `input` compressed at zlib `level` (6 for the per-second rows, 9 for what is kept long).
    static func deflate(_ input: [UInt8], level: Int32 = 6) -> [UInt8] {
        var length = compressBound(uLong(input.count))
        var output = [UInt8](repeating: 0, count: Int(length))
        let rc = input.withUnsafeBufferPointer { i in
            output.withUnsafeMutableBufferPointer { o in compress2(o.baseAddress, &length, i.baseAddress, uLong(i.count), level) }
        }
        guard rc == Z_OK else { return [] }
        let n = Int(length)
        var out = ByteWriter()
        out.int(input.count)
        out.bytes += output[0..<n]
        return out.bytes
    }

    static func inflate(_ blob: [UInt8]) throws(ByteReader.Truncated) -> [UInt8] {
        var reader = ByteReader(blob)
        let count = try reader.int()
        guard count <= maxInflated else { throw ByteReader.Truncated() }
        if count == 0 { return [] }
        var output = [UInt8](repeating: 0, count: count)
        let start = reader.offset
        var length = uLong(count)
        let rc = blob.withUnsafeBufferPointer { i in
            output.withUnsafeMutableBufferPointer { o -> Int32 in
                guard let base = i.baseAddress else { return Z_DATA_ERROR }
                return uncompress(o.baseAddress, &length, base + start, uLong(i.count - start))
            }
        }
        guard rc == Z_OK, Int(length) == count else { throw ByteReader.Truncated() }
        return output
    }
}
