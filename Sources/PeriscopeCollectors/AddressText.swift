#if canImport(Glibc)
import Glibc
#endif

/// Canonical text for raw IPv4/IPv6 addresses. Pure, any thread.
public enum AddressText {
    /// `bytes` holds 4 (IPv4) or 16 (IPv6) bytes in network order. IPv4-mapped IPv6 (`::ffff:a.b.c.d`)
    /// is returned in IPv4 form.
    public static func format(family: Int32, bytes: UnsafeRawBufferPointer) -> String {
        if family == AF_INET6, bytes.count >= 16, isV4Mapped(bytes) {
            return format(family: AF_INET, bytes: UnsafeRawBufferPointer(rebasing: bytes[12..<16]))
        }
        if family == AF_INET, bytes.count >= 4 {
            return "\(bytes[0]).\(bytes[1]).\(bytes[2]).\(bytes[3])"
        }
        guard family == AF_INET6, bytes.count >= 16 else { return "" }
        var out = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        guard inet_ntop(AF_INET6, bytes.baseAddress, &out, socklen_t(out.count)) != nil else { return "" }
        return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// True for `::ffff:0:0/96`.
    public static func isV4Mapped(_ b: UnsafeRawBufferPointer) -> Bool {
        guard b.count >= 16 else { return false }
        for i in 0..<10 where b[i] != 0 { return false }
        return b[10] == 0xFF && b[11] == 0xFF
    }
}
