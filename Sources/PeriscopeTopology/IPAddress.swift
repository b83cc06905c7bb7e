/// An IPv4 or IPv6 address parsed from its text form, with the classifications the topology needs.
///
/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are normalised to IPv4. A zone suffix (`fe80::1%eth0`)
/// is ignored.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    public enum Family: Sendable, Hashable { case ipv4, ipv6 }

    public let family: Family
    /// The high 64 bits (IPv6 only; 0 for IPv4).
    public let high: UInt64
    /// The low 64 bits; an IPv4 address is in the low 32 bits.
    public let low: UInt64

    public init(ipv4: UInt32) {
        family = .ipv4; high = 0; low = UInt64(ipv4)
    }

    public init(ipv6High: UInt64, low: UInt64) {
        if ipv6High == 0, low >> 32 == 0xffff {
            family = .ipv4; high = 0; self.low = low & 0xffff_ffff
        } else {
            family = .ipv6; high = ipv6High; self.low = low
        }
    }

    /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text; `nil` when `text` is neither.
    public init?(_ text: String) {
        switch Self.parseDottedQuad(text.utf8) {
        case .some(let v4?): self.init(ipv4: v4); return
        case .some(nil): return nil
        case nil: break
        }
        var text = Substring(text)
        if let percent = text.firstIndex(of: "%") { text = text[..<percent] }
        if let v4 = Self.parseIPv4(text) {
            self.init(ipv4: v4)
        } else if let (h, l) = Self.parseIPv6(text) {
            self.init(ipv6High: h, low: l)
        } else {
            return nil
        }
    }

    /// The fast path for text made only of digits and dots (the usual IPv4 address): `.some(address)`, or
    /// `.some(nil)` when it is not a valid dotted quad (such text is not IPv6 either); `nil` for other text.
    private static func parseDottedQuad(_ bytes: String.UTF8View) -> UInt32?? {
        var value: UInt32 = 0, part: UInt32 = 0, digits = 0, dots = 0, valid = true
        for byte in bytes {
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                part = part &* 10 &+ UInt32(byte - UInt8(ascii: "0"))
                digits += 1
                if digits > 3 || part > 255 { valid = false }
            } else if byte == UInt8(ascii: ".") {
                if digits == 0 { valid = false }
                value = value << 8 | part
                part = 0; digits = 0; dots += 1
            } else {
                return nil
            }
        }
        guard valid, dots == 3, digits > 0 else { return .some(nil) }
        return .some(value << 8 | part)
    }

    private static func parseIPv4(_ text: Substring) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let byte = UInt8(part) else { return nil }
            value = value << 8 | UInt32(byte)
        }
        return value
    }

    private static func parseIPv6(_ text: Substring) -> (UInt64, UInt64)? {
        guard text.contains(":") else { return nil }
        var groups: [UInt16] = []
        var tail: [UInt16] = []
        var sawGap = false
        let gaps = text.ranges(of: "::")
        guard gaps.count <= 1 else { return nil }
        let halves: [String] = gaps.first.map { [String(text[..<$0.lowerBound]), String(text[$0.upperBound...])] }
            ?? [String(text)]
        func parse(_ s: String, into out: inout [UInt16], allowV4: Bool) -> Bool {
            if s.isEmpty { return true }
            let fields = s.split(separator: ":", omittingEmptySubsequences: false)
            for (index, field) in fields.enumerated() {
                if allowV4, index == fields.count - 1, field.contains(".") {
                    guard let v4 = parseIPv4(field) else { return false }
                    out.append(UInt16(v4 >> 16)); out.append(UInt16(v4 & 0xffff))
                } else {
                    guard (1...4).contains(field.count), let g = UInt16(field, radix: 16) else { return false }
                    out.append(g)
                }
            }
            return true
        }
        if halves.count == 2 {
            sawGap = true
            guard parse(halves[0], into: &groups, allowV4: false), parse(halves[1], into: &tail, allowV4: true)
            else { return nil }
        } else {
            guard parse(halves[0], into: &groups, allowV4: true) else { return nil }
        }
        let total = groups.count + tail.count
        if sawGap {
            guard total <= 7 else { return nil }
            groups += Array(repeating: 0, count: 8 - total) + tail
        } else {
            guard total == 8 else { return nil }
        }
        var h: UInt64 = 0, l: UInt64 = 0
        for i in 0..<4 { h = h << 16 | UInt64(groups[i]) }
        for i in 4..<8 { l = l << 16 | UInt64(groups[i]) }
        return (h, l)
    }

    /// `127.0.0.0/8` or `::1`.
    public var isLoopback: Bool {
        family == .ipv4 ? (low >> 24) == 127 : (high == 0 && low == 1)
    }

    /// `169.254.0.0/16` or `fe80::/10`.
    public var isLinkLocal: Bool {
        family == .ipv4 ? (low >> 16) == 0xa9fe : (high >> 54) == 0x3fa
    }

    /// `0.0.0.0` or `::`.
    public var isUnspecified: Bool { high == 0 && low == 0 }

    /// Addresses that only mean something inside one network namespace: loopback, link-local, unspecified.
    public var isNamespaceLocal: Bool { isLoopback || isLinkLocal || isUnspecified }

    /// Private, shared or unique-local ranges: RFC 1918, `100.64.0.0/10` (CGNAT), `fc00::/7`, plus
    /// namespace-local addresses.
    public var isPrivate: Bool {
        if isNamespaceLocal { return true }
        switch family {
        case .ipv4:
            let a = low >> 24, b = (low >> 16) & 0xff
            return a == 10 || (a == 172 && (16...31).contains(b)) || (a == 192 && b == 168)
                || (a == 100 && (64...127).contains(b))
        case .ipv6:
            return (high >> 57) == 0x7e
        }
    }

    public var description: String {
        switch family {
        case .ipv4:
            return "\(low >> 24 & 0xff).\(low >> 16 & 0xff).\(low >> 8 & 0xff).\(low & 0xff)"
        case .ipv6:
            return (0..<8).map { i -> String in
                let word = i < 4 ? high >> UInt64((3 - i) * 16) : low >> UInt64((7 - i) * 16)
                return String(word & 0xffff, radix: 16)
            }.joined(separator: ":")
        }
    }
}

/// An address prefix (`10.1.0.0/16`).
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    /// The network of `address` with `prefixLength` bits (clamped to the family's width); host bits are kept
    /// in ``address`` but ignored by ``contains(_:)``.
    public init(address: IPAddress, prefixLength: Int) {
        self.address = address
        self.prefixLength = max(0, min(prefixLength, address.family == .ipv4 ? 32 : 128))
    }

    /// Parses `address/prefix`; a bare address is a host route.
    public init?(cidr: String) {
        let parts = cidr.split(separator: "/", maxSplits: 1)
        guard let first = parts.first, let address = IPAddress(String(first)) else { return nil }
        let width = address.family == .ipv4 ? 32 : 128
        if parts.count == 2 {
            guard let p = Int(parts[1]), (0...width).contains(p) else { return nil }
            self.init(address: address, prefixLength: p)
        } else {
            self.init(address: address, prefixLength: width)
        }
    }

    /// Whether `other` lies in this network (same family only).
    public func contains(_ other: IPAddress) -> Bool {
        guard other.family == address.family else { return false }
        switch address.family {
        case .ipv4:
            if prefixLength == 0 { return true }
            let shift = UInt64(32 - prefixLength)
            return (address.low >> shift) == (other.low >> shift)
        case .ipv6:
            if prefixLength == 0 { return true }
            if prefixLength <= 64 {
                let shift = UInt64(64 - prefixLength)
                return (address.high >> shift) == (other.high >> shift)
            }
            guard address.high == other.high else { return false }
            if prefixLength == 128 { return address.low == other.low }
            let shift = UInt64(128 - prefixLength)
            return (address.low >> shift) == (other.low >> shift)
        }
    }

    public var description: String { "\(address)/\(prefixLength)" }
}
