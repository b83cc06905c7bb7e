/// Builders of node ids for the topologies whose ids are simple.
public enum NodeID {
    /// `hostID`.
    public static func host(_ hostID: String) -> String { hostID }
    /// `hostID;pid`.
    public static func process(hostID: String, pid: Int32) -> String { "\(hostID);\(pid)" }
}

/// The id of an endpoint node: `scope;address;port;proto`, e.g. `;10.0.0.7;5432;tcp` (global) or
/// `web1/4026531840;127.0.0.1;8080;tcp` (loopback inside one namespace of host `web1`).
///
/// The scope rule (see ``AddressScoper``) is what lets two hosts' views of one connection name the same two
/// endpoints, while private addresses that only mean something inside a host or a namespace stay apart.
public struct EndpointID: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Empty for global addresses; `hostID` for host-internal ones; `hostID/netns` for namespace-local ones.
    public var scope: String
    public var address: String
    public var port: UInt16
    public var proto: TransportProtocol

    public init(scope: String, address: String, port: UInt16, proto: TransportProtocol) {
        self.scope = scope
        self.address = address
        self.port = port
        self.proto = proto
    }

    /// Parses the text form; fields are taken from the right so a scope may itself contain `;`.
    public init?(_ id: String) {
        var id = id
        switch id.withUTF8(Self.parse) {
        case .some(let parsed?): self = parsed
        case .some(nil): return nil
        case nil: self.init(slow: id)
        }
    }

    /// The usual case on the UTF-8 bytes: `.some(id)` or `.some(nil)` when the text is not an endpoint id; `nil`
    /// when the port field is not plain digits (then the general parser decides).
    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> EndpointID?? {
        let semicolon = UInt8(ascii: ";")
        guard let p3 = bytes.lastIndex(of: semicolon), let p2 = bytes[..<p3].lastIndex(of: semicolon),
              let p1 = bytes[..<p2].lastIndex(of: semicolon) else { return .some(nil) }
        guard let proto = TransportProtocol(rawValue: String(decoding: bytes[(p3 + 1)...], as: UTF8.self))
        else { return .some(nil) }
        var port: UInt32 = 0
        let digits = bytes[(p2 + 1)..<p3]
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            port = port * 10 + UInt32(byte - UInt8(ascii: "0"))
            if port > UInt32(UInt16.max) { return .some(nil) }
        }
        if digits.isEmpty { return .some(nil) }
        return EndpointID(scope: String(decoding: bytes[..<p1], as: UTF8.self),
                          address: String(decoding: bytes[(p1 + 1)..<p2], as: UTF8.self),
                          port: UInt16(port), proto: proto)
    }

    private init?(slow id: String) {
        let utf8 = id.utf8
        let semicolon = UInt8(ascii: ";")
        guard let p3 = utf8.lastIndex(of: semicolon),
              let p2 = utf8[..<p3].lastIndex(of: semicolon),
              let p1 = utf8[..<p2].lastIndex(of: semicolon),
              let proto = TransportProtocol(rawValue: String(id[id.index(after: p3)...])),
              let port = UInt16(id[id.index(after: p2)..<p3]) else { return nil }
        self.init(scope: String(id[..<p1]), address: String(id[id.index(after: p1)..<p2]), port: port, proto: proto)
    }

    /// The text form used as node id.
    public var id: String { "\(scope);\(address);\(port);\(proto.rawValue)" }
    public var description: String { id }

    /// The host part of a non-global scope (`web1` for `web1/4026531840`), `nil` for global endpoints.
    public var scopeHost: String? {
        if scope.isEmpty { return nil }
        if let slash = scope.lastIndex(of: "/") { return String(scope[..<slash]) }
        return scope
    }

    /// `address:port`, with IPv6 addresses in brackets.
    public var addressAndPort: String {
        address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)"
    }
}

/// The id of a connection node: `clientEndpointID->serverEndpointID`.
public enum ConnectionID {
    public static func make(client: String, server: String) -> String { "\(client)->\(server)" }
}
