/// The two sides of a connection, typed: what the topology engine knows when it writes a connection node, kept on
/// the node (``Node/sides``) so views read the client and server endpoints without parsing the node's text.
///
/// The node's `client` / `server` `latest` entries hold the same endpoints as text: that is the report's wire form
/// (`report/get`, `report/publish`). A report read from text gets its sides once, where it is decoded
/// (``init?(client:server:)``). Pure value; any thread.
public struct ConnectionSides: Sendable, Hashable, Codable {
    /// The side that connected.
    public var client: EndpointID
    /// The side that accepted (or, for UDP, the listening side).
    public var server: EndpointID

    public init(client: EndpointID, server: EndpointID) {
        self.client = client
        self.server = server
    }

    /// The sides named by a connection node's `client` and `server` texts; `nil` when either is not an endpoint id.
    public init?(client: String, server: String) {
        guard let c = EndpointID(client), let s = EndpointID(server) else { return nil }
        self.init(client: c, server: s)
    }

    /// The connection's transport (the client's; both sides have the same).
    public var proto: TransportProtocol { client.proto }

    /// The connection node's id (``ConnectionID``).
    public var connectionID: String { ConnectionID.make(client: client.id, server: server.id) }

    /// A total order, so merging nodes that disagree (reports from different producers) keeps the same sides
    /// whatever the merge order.
    func precedes(_ other: ConnectionSides) -> Bool {
        (client.id, server.id) < (other.client.id, other.server.id)
    }
}

/// The storage of ``Node/sides``: one reference per node, shared by every copy of it, so nodes of other kinds grow
/// by a pointer only and copying a connection node retains one object instead of four strings.
final class ConnectionSidesBox: Sendable, Hashable, Codable {
    let value: ConnectionSides

    init(_ value: ConnectionSides) { self.value = value }

    static func == (a: ConnectionSidesBox, b: ConnectionSidesBox) -> Bool { a === b || a.value == b.value }
    func hash(into hasher: inout Hasher) { hasher.combine(value) }

    init(from decoder: any Decoder) throws { value = try ConnectionSides(from: decoder) }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}

extension Node {
    /// Types a connection node's sides from its `client` / `server` texts: for nodes read back from a text form
    /// (the report wire, the history log), so views see them as the engine wrote them. No-op for other kinds.
    public mutating func restoreSidesFromText() {
        guard topology == .connection, let client = latest[NodeKey.client], let server = latest[NodeKey.server] else { return }
        sides = ConnectionSides(client: client, server: server)
    }
}
