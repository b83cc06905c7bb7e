/// The incremental half of ``ReportBuilder``: remembers every socket of the last snapshot with what was derived
/// from it (endpoint ids and scopes, direction, owners, connection id) and keeps endpoint and connection inputs
/// as reference counts, so a pass costs a hash lookup per unchanged socket and real work only for sockets that
/// appeared or went away.
///
/// Derived facts depend on the socket and on a few snapshot-wide inputs: the listeners (direction, server of an
/// outbound socket), the namespaces each address is used in, and the host-internal addresses (scopes). When one
/// of those changes, only the sockets that can be affected (same port, same address) are derived again; a change
/// of the host's interfaces or namespace starts over (see ``HostContext``).
final class TopologyEngine {
    let hostID: String
    let context: HostContext
    var generation = 0
    var sockets: [SocketKey: SocketEntry] = [:]
    var endpoints: [String: EndpointState] = [:]
    var connections: [String: ConnectionState] = [:]
    private(set) var listeners = ListenerIndex()
    /// Namespaces in which each (non-wildcard) local address has sockets, counted.
    private var namespacesByAddress: [String: [UInt64: Int]] = [:]
    /// Addresses of sockets outside the host namespace (host-internal for ``AddressScoper``), counted.
    private var internalSocketIPs: [IPAddress: Int] = [:]

    // Results of the last pass.
    /// Endpoints whose node changed (or whose node must go: no references).
    var dirtyEndpoints: [EndpointState] = []
    /// Connections that had members before the pass and have none after it.
    var closed: [ConnectionState] = []
    /// The pass's listening sockets, in snapshot order.
    private(set) var listenerSockets: [SocketRecord] = []
    /// Connections whose members changed this pass.
    var touchedConnections: [ConnectionState] = []
    /// Connections written with a sample that moved their counters, by the last update that sampled: the next
    /// counters-only update samples them again even if unchanged, as a full pass would (their rates fall to 0).
    var movingConnections: [ConnectionState] = []

    /// Parent maps and adjacency sets shared by the nodes the builder writes.
    var sharedSets = SharedSets()

    /// Retained connections whose nodes the builder merged into the report, by endpoint id.
    var overlayEndpoints: [String: [String]] = [:]
    /// Retained connections whose connection node is in the report.
    var overlayConnections: Set<String> = []

    init(hostID: String, context: HostContext) {
        self.hostID = hostID
        self.context = context
    }

    /// Folds `snapshot`'s sockets into the state. `snapshot` must have this engine's ``context``.
    func apply(_ snapshot: HostSnapshot) {
        generation &+= 1
        let gen = generation
        dirtyEndpoints.removeAll(keepingCapacity: true)
        closed.removeAll(keepingCapacity: true)
        listenerSockets.removeAll(keepingCapacity: true)
        touchedConnections.removeAll(keepingCapacity: true)
        movingConnections.removeAll(keepingCapacity: true)  // every connection is sampled (or none is) below
        var changedTexts: Set<String> = [], changedIPs: Set<IPAddress> = []

        // 1. Claim the entry of every socket seen before; collect the new ones.
        let all = snapshot.sockets
        var entries: [SocketEntry?] = Array(repeating: nil, count: all.count)
        var fresh: [Int] = []
        for i in all.indices {
            let s = all[i]
            var e = sockets[SocketKey(s)]
            while let c = e, c.generation == gen || !c.matches(s) { e = c.next }
            if let c = e { c.generation = gen; entries[i] = c } else { fresh.append(i) }
        }
        // 2. Retire the sockets that went away.
        var stale: [SocketKey] = []
        for (key, head) in sockets {
            var e: SocketEntry? = head
            while let c = e { if c.generation != gen { stale.append(key); break }; e = c.next }
        }
        for key in stale {
            var kept: [SocketEntry] = []
            var e = sockets[key]
            while let c = e {
                e = c.next
                if c.generation == gen { kept.append(c) } else { retire(c, &changedTexts, &changedIPs) }
            }
            sockets[key] = link(kept)
        }
        // 3. File the new sockets.
        for i in fresh {
            let s = all[i]
            let entry = SocketEntry(s, generation: gen)
            let key = SocketKey(s)
            entry.next = sockets[key]
            sockets[key] = entry
            register(entry, &changedTexts, &changedIPs)
            entries[i] = entry
        }
        // 4. Listeners; then derive again what a listener or address change can affect.
        for case let e? in entries where e.role == .listener { listenerSockets.append(e.record) }
        let newListeners = ListenerIndex(listenerSockets)
        let changedKeys = listeners.changedKeys(comparedWith: newListeners)
        listeners = newListeners
        if !changedKeys.isEmpty || !changedTexts.isEmpty || !changedIPs.isEmpty {
            let ports = Set(changedKeys.map { PortKey(proto: $0.proto, port: $0.port) })
            for case let e? in entries where e.isDerived {
                let s = e.record
                let affected = changedKeys.contains(.init(netns: s.netns, proto: s.proto, port: s.localPort))
                    || ports.contains(PortKey(proto: s.proto, port: s.remotePort))
                    || changedTexts.contains(s.remoteAddress)
                    || e.localIP.map(changedIPs.contains) ?? false || e.remoteIP.map(changedIPs.contains) ?? false
                if affected { underive(e) }
            }
        }
        // 5. Derive what is new, and fold this pass's counters into the connections.
        for i in all.indices {
            guard let e = entries[i], e.role == .connected else { continue }
            if !e.isDerived { derive(e) }
            guard let conn = e.connection else { continue }
            e.info = all[i].tcpInfo
            if let info = e.info { conn.accumulate(info, inbound: e.inbound, generation: gen) }
        }
        // 6. Forget what has no references left.
        forgetUnreferenced()
    }

    /// Drops the connections and endpoints this pass left without members or references (a connection that
    /// was live at the start of the pass is listed in ``closed``).
    func forgetUnreferenced() {
        for conn in touchedConnections where !conn.isLive && connections[conn.id] === conn {
            connections[conn.id] = nil
            if conn.liveAtStart { closed.append(conn) }
        }
        for endpoint in dirtyEndpoints where endpoint.references == 0 && endpoints[endpoint.id] === endpoint {
            endpoints[endpoint.id] = nil
        }
    }

    private struct PortKey: Hashable {
        var proto: TransportProtocol
        var port: UInt16
    }

    func link(_ list: [SocketEntry]) -> SocketEntry? {
        for i in list.indices { list[i].next = i + 1 < list.count ? list[i + 1] : nil }
        return list.first
    }

    // MARK: Snapshot-wide inputs

    func register(_ e: SocketEntry, _ texts: inout Set<String>, _ ips: inout Set<IPAddress>) {
        count(e, by: 1, &texts, &ips)
    }

    func retire(_ e: SocketEntry, _ texts: inout Set<String>, _ ips: inout Set<IPAddress>) {
        if e.isDerived { underive(e) }
        count(e, by: -1, &texts, &ips)
    }

    private func count(_ e: SocketEntry, by delta: Int, _ texts: inout Set<String>, _ ips: inout Set<IPAddress>) {
        let s = e.record
        if s.localAddress != "0.0.0.0" && s.localAddress != "::" {
            let n = (namespacesByAddress[s.localAddress]?[s.netns] ?? 0) + delta
            namespacesByAddress[s.localAddress, default: [:]][s.netns] = n > 0 ? n : nil
            if namespacesByAddress[s.localAddress]?.isEmpty == true { namespacesByAddress[s.localAddress] = nil }
            if n == 0 || (n == 1 && delta > 0) { texts.insert(s.localAddress) }
        }
        if s.netns != context.hostNetns, let ip = e.localIP, !ip.isNamespaceLocal {
            let n = (internalSocketIPs[ip] ?? 0) + delta
            internalSocketIPs[ip] = n > 0 ? n : nil
            if n == 0 || (n == 1 && delta > 0) { ips.insert(ip) }
        }
    }

    /// ``AddressScoper/scope(of:netns:)`` over the counted inputs.
    func scope(of address: String, _ ip: IPAddress?, netns: UInt64) -> String {
        guard let ip else { return hostID }
        if ip.isNamespaceLocal { return "\(hostID)/\(netns)" }
        if context.internalAddresses.contains(ip) || internalSocketIPs[ip] != nil { return hostID }
        for network in context.internalNetworks where network.contains(ip) { return hostID }
        return ""
    }

    private func namespaces(of address: String) -> [UInt64] {
        var all = context.addressNamespaces[address] ?? []
        if let counted = namespacesByAddress[address] { all.formUnion(counted.keys) }
        return all.sorted()
    }

    /// For an outbound socket whose peer is on this host, the process listening on the peer address: looked up
    /// in the socket's own namespace for namespace-local peers, otherwise in every namespace that has the peer
    /// address. Needed when the server side has no socket of its own (UDP) or is not owned.
    func serverOfOutbound(_ s: SocketRecord, _ remoteIP: IPAddress?) -> String? {
        guard let pid = remoteListener(s, remoteIP)?.pid else { return nil }
        return NodeID.process(hostID: hostID, pid: pid)
    }

    /// The listener on this host that the peer address of `s` belongs to, if any (same namespace for
    /// namespace-local peers such as loopback, else every namespace that has the peer address).
    func remoteListener(_ s: SocketRecord, _ remoteIP: IPAddress?) -> ListenerIndex.Listener? {
        guard let ip = remoteIP else { return nil }
        for netns in ip.isNamespaceLocal ? [s.netns] : namespaces(of: s.remoteAddress) {
            if let listener = listeners.match(netns: netns, proto: s.proto, address: s.remoteAddress,
                                              port: s.remotePort), listener.pid != nil {
                return listener
            }
        }
        return nil
    }

    /// Whether `s`, whose local address matches `listener`, was accepted by it (is the server side).
    ///
    /// Linux hands a connecting socket an ephemeral port that may equal another process's listening port
    /// (the 4-tuples differ), so a local-port match alone is not proof. When the socket's owner is not the
    /// listener's and its peer is itself a listener on this host, the socket is the client side.
    func isAccepted(_ s: SocketRecord, by listener: ListenerIndex.Listener, remoteIP: IPAddress?) -> Bool {
        guard let pid = s.pid, let listenerPID = listener.pid, pid != listenerPID else { return true }
        return remoteListener(s, remoteIP) == nil
    }
}
