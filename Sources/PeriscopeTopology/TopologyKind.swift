/// The typed topologies a ``Report`` holds.
///
/// Every node lives in exactly one topology. Adding a kind later (containers, images, pods) needs no change to
/// merging: ``Report/merge(_:)`` works over every case.
public enum TopologyKind: String, Sendable, Hashable, Codable, CaseIterable, Comparable, CodingKeyRepresentable {
    /// One node per scoped `address:port` of a transport protocol (see ``EndpointID``). Adjacency goes from the
    /// client endpoint to the server endpoint of each connection.
    case endpoint
    /// One node per connection (client endpoint → server endpoint): state, owners, byte counters, RTT.
    /// Its id is ``ConnectionID``'s text form.
    case connection
    /// One node per process: id `hostID;pid`.
    case process
    /// One node per host: id `hostID`.
    case host
    /// Reserved for container discovery.
    case container
    /// Reserved for container images.
    case containerImage = "container_image"

    public static func < (lhs: TopologyKind, rhs: TopologyKind) -> Bool { lhs.rawValue < rhs.rawValue }
}
