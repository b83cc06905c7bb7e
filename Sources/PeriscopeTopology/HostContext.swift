/// The inputs of address scoping that come from the host's interfaces (see ``AddressScoper``): a snapshot with
/// other interfaces or another host namespace makes ``TopologyEngine`` start over.
struct HostContext: Equatable {
    let hostNetns: UInt64
    let interfaces: [InterfaceAddress]
    /// Interface addresses outside the host namespace (not namespace-local).
    let internalAddresses: Set<IPAddress>
    /// Their networks.
    let internalNetworks: [IPNetwork]
    /// Namespaces of every interface address, by address text.
    let addressNamespaces: [String: Set<UInt64>]

    init(_ snapshot: HostSnapshot) {
        hostNetns = snapshot.hostNetns
        interfaces = snapshot.host.addresses
        var networks: [IPNetwork] = []
        var addresses: Set<IPAddress> = []
        var namespaces: [String: Set<UInt64>] = [:]
        for ifaddr in interfaces {
            namespaces[ifaddr.address, default: []].insert(ifaddr.netns)
            guard ifaddr.netns != hostNetns, let ip = IPAddress(ifaddr.address), !ip.isNamespaceLocal else { continue }
            addresses.insert(ip)
            let net = IPNetwork(address: ip, prefixLength: ifaddr.prefixLength)
            if !networks.contains(net) { networks.append(net) }
        }
        internalAddresses = addresses
        internalNetworks = networks
        addressNamespaces = namespaces
    }

    /// Same interfaces and host namespace (the derived fields follow from these).
    static func == (a: HostContext, b: HostContext) -> Bool {
        a.hostNetns == b.hostNetns && a.interfaces == b.interfaces
    }
}
