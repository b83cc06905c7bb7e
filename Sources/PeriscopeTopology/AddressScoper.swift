/// Decides the scope of an address seen on one host, for ``EndpointID``.
///
/// The rule, applied by every host to every address (its own and its peers'):
/// 1. **Namespace-local** addresses (loopback `127/8` and `::1`, link-local `169.254/16` and `fe80::/10`,
///    unspecified) are scoped by host and namespace: `hostID/netns`. The same `127.0.0.1:8080` in two
///    namespaces, or on two hosts, are different endpoints.
/// 2. **Host-internal** addresses are scoped by host: `hostID`. An address is host-internal when it is an
///    address of an interface (or a socket's local address) in a network namespace other than the host's own,
///    or lies in the subnet of such an interface (so the host side of a bridge, e.g. `172.17.0.1`, is covered
///    too). These are container and `ip netns` networks: reachable from every namespace of this host, so a
///    client in the root namespace and a server in a container name the same endpoint, but meaningless on
///    other hosts, whose identical `172.17.0.2` is another machine.
/// 3. Everything else — the addresses of the host's own namespace and every remote peer — is **global**
///   (empty scope). Host A's own `10.0.0.1:5555` and host B's view of its peer `10.0.0.1:5555` are the same
///    id, so the two hosts' reports of one connection merge into one edge.
///
/// Limitation: two namespaces of one host using the same non-loopback address (two bridges with the same
/// subnet) share endpoints.
public struct AddressScoper: Sendable {
    public let hostID: String
    private let internalNetworks: [IPNetwork]
    private let internalAddresses: Set<IPAddress>

    /// A scoper for one snapshot of host `hostID`.
    public init(hostID: String, snapshot: HostSnapshot) {
        self.hostID = hostID
        var networks: [IPNetwork] = []
        var addresses: Set<IPAddress> = []
        for ifaddr in snapshot.host.addresses where ifaddr.netns != snapshot.hostNetns {
            guard let ip = IPAddress(ifaddr.address), !ip.isNamespaceLocal else { continue }
            addresses.insert(ip)
            let net = IPNetwork(address: ip, prefixLength: ifaddr.prefixLength)
            if !networks.contains(net) { networks.append(net) }
        }
        for socket in snapshot.sockets where socket.netns != snapshot.hostNetns {
            guard let ip = IPAddress(socket.localAddress), !ip.isNamespaceLocal else { continue }
            addresses.insert(ip)
        }
        internalNetworks = networks
        internalAddresses = addresses
    }

    /// The scope of `address` as seen from namespace `netns` (rules above).
    public func scope(of address: String, netns: UInt64) -> String {
        guard let ip = IPAddress(address) else { return hostID }  // unparsable: keep it private to this host
        if ip.isNamespaceLocal { return "\(hostID)/\(netns)" }
        if internalAddresses.contains(ip) { return hostID }
        for network in internalNetworks where network.contains(ip) { return hostID }
        return ""
    }

    /// The endpoint id of `address:port` seen from `netns`.
    public func endpoint(_ address: String, _ port: UInt16, _ proto: TransportProtocol, netns: UInt64) -> EndpointID {
        EndpointID(scope: scope(of: address, netns: netns), address: address, port: port, proto: proto)
    }
}
