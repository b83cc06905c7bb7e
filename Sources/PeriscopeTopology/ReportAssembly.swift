/// Builds the nodes of one snapshot (without history): the stateless half of ``ReportBuilder``.
struct ReportAssembly {
    let hostID: String
    let snapshot: HostSnapshot
    let scoper: AddressScoper
    let listeners: ListenerIndex
    /// Namespaces each non-namespace-local address belongs to, for finding the server of a local connection.
    let addressNamespaces: [String: [UInt64]]
    var report = Report()
    /// Nodes under construction, mutated in place (cheaper than merging a fresh node per socket).
    private var endpoints: [String: Node] = [:]
    private var connections: [String: Node] = [:]
    private var processes: [String: Node] = [:]
    /// Parsed addresses and scopes: a snapshot repeats the same few addresses thousands of times.
    private var ipCache: [String: IPAddress?] = [:]
    private var scopeCache: [ScopeKey: String] = [:]

    private struct ScopeKey: Hashable {
        var address: String
        var netns: UInt64
    }

    init(hostID: String, snapshot: HostSnapshot) {
        self.hostID = hostID
        self.snapshot = snapshot
        scoper = AddressScoper(hostID: hostID, snapshot: snapshot)
        listeners = ListenerIndex(snapshot.sockets)
        var namespaces: [String: Set<UInt64>] = [:]
        for ifaddr in snapshot.host.addresses { namespaces[ifaddr.address, default: []].insert(ifaddr.netns) }
        for socket in snapshot.sockets where socket.localAddress != "0.0.0.0" && socket.localAddress != "::" {
            namespaces[socket.localAddress, default: []].insert(socket.netns)
        }
        addressNamespaces = namespaces.mapValues { $0.sorted() }
    }

    var t: Double { snapshot.timestamp }

    mutating func build() {
        addHost()
        for process in snapshot.processes { addProcess(process) }
        endpoints.reserveCapacity(snapshot.sockets.count)
        connections.reserveCapacity(snapshot.sockets.count)
        for socket in snapshot.sockets {
            if ListenerIndex.isListener(socket) {
                addListener(socket)
            } else if isConnected(socket) {
                addConnection(socket)
            }
        }
        report[.process] = Topology(kind: .process, nodes: processes)
        report[.endpoint] = Topology(kind: .endpoint, nodes: endpoints)
        report[.connection] = Topology(kind: .connection, nodes: connections)
    }

    private mutating func ip(_ text: String) -> IPAddress? {
        if let cached = ipCache[text] { return cached }
        let parsed = IPAddress(text)
        ipCache[text] = parsed
        return parsed
    }

    private mutating func endpoint(_ address: String, _ port: UInt16, _ proto: TransportProtocol,
                                   netns: UInt64) -> EndpointID {
        let key = ScopeKey(address: address, netns: netns)
        let scope: String
        if let cached = scopeCache[key] {
            scope = cached
        } else {
            scope = scoper.scope(of: address, netns: netns)
            scopeCache[key] = scope
        }
        return EndpointID(scope: scope, address: address, port: port, proto: proto)
    }

    /// A socket with a peer whose connection is not over (`time-wait` and `close` are closed connections).
    private mutating func isConnected(_ socket: SocketRecord) -> Bool {
        guard socket.remotePort != 0, socket.state != "listen", socket.state != "unconnected",
              socket.state != "time-wait", socket.state != "close" else { return false }
        return !(ip(socket.remoteAddress)?.isUnspecified ?? false)
    }

    private mutating func addHost() {
        let h = snapshot.host
        var node = Node(id: NodeID.host(hostID), topology: .host)
        node.set(NodeKey.hostname, h.hostname, at: t)
        node.set(NodeKey.os, h.os, at: t)
        node.set(NodeKey.kernel, h.kernel, at: t)
        node.set(NodeKey.uptime, String(h.uptimeSeconds), at: t)
        node.set(NodeKey.cpuCount, String(h.cpuCount), at: t)
        node.set(NodeKey.memoryTotal, String(h.memoryTotalBytes), at: t)
        node.set(NodeKey.memoryAvailable, String(h.memoryAvailableBytes), at: t)
        node.set(NodeKey.load1, String(h.load1), at: t)
        node.set(NodeKey.load5, String(h.load5), at: t)
        node.set(NodeKey.load15, String(h.load15), at: t)
        node.sets[NodeKey.localNetworks] = Set(h.addresses.map { "\($0.address)/\($0.prefixLength)" })
        node.record(MetricKey.cpu, h.cpuPercent, at: t)
        let used = h.memoryTotalBytes >= h.memoryAvailableBytes ? h.memoryTotalBytes - h.memoryAvailableBytes : 0
        node.record(MetricKey.memory, Double(used), at: t)
        node.record(MetricKey.load, h.load1, at: t)
        report.add(node)
    }

    private mutating func addProcess(_ p: ProcessRecord) {
        var node = Node(id: NodeID.process(hostID: hostID, pid: p.pid), topology: .process)
        node.set(NodeKey.pid, String(p.pid), at: t)
        node.set(NodeKey.ppid, String(p.ppid), at: t)
        node.set(NodeKey.name, p.name, at: t)
        node.set(NodeKey.command, p.command, at: t)
        if let exe = p.executable { node.set(NodeKey.executable, exe, at: t) }
        if let cwd = p.cwd { node.set(NodeKey.cwd, cwd, at: t) }
        node.set(NodeKey.uid, String(p.uid), at: t)
        if let user = p.user { node.set(NodeKey.user, user, at: t) }
        node.set(NodeKey.threads, String(p.threads), at: t)
        node.set(NodeKey.startTime, String(p.startTime), at: t)
        node.set(NodeKey.state, p.state, at: t)
        node.set(NodeKey.openFDs, String(p.openFDs), at: t)
        node.set(NodeKey.cgroup, p.cgroup, at: t)
        node.set(NodeKey.netns, String(p.netns), at: t)
        node.record(MetricKey.cpu, p.cpuPercent, at: t)
        node.record(MetricKey.memory, Double(p.rssBytes), at: t)
        node.addParent(.host, NodeID.host(hostID))
        processes[node.id] = node
    }

    private mutating func addListener(_ s: SocketRecord) {
        guard let pid = s.pid else { return }
        let id = NodeID.process(hostID: hostID, pid: pid)
        let addr = s.localAddress.contains(":") ? "[\(s.localAddress)]" : s.localAddress
        // Only for processes in the snapshot: a listener whose owner exited mid-scan adds no phantom process.
        processes[id]?.sets[NodeKey.listening, default: []]
            .insert("\(s.proto.rawValue)/\(addr):\(s.localPort)")
    }

    private mutating func addConnection(_ s: SocketRecord) {
        let local = endpoint(s.localAddress, s.localPort, s.proto, netns: s.netns)
        let remote = endpoint(s.remoteAddress, s.remotePort, s.proto, netns: s.netns)
        let inbound = listeners.match(netns: s.netns, proto: s.proto, address: s.localAddress,
                                      port: s.localPort) != nil
        let hostNode = NodeID.host(hostID)
        let localProcess = s.pid.map { NodeID.process(hostID: hostID, pid: $0) }
        let serverProcess = inbound ? localProcess : serverOfOutbound(s)
        let localID = local.id, remoteID = remote.id
        let clientID = inbound ? remoteID : localID, serverID = inbound ? localID : remoteID

        do {
            var node = endpoints.removeValue(forKey: localID) ?? Node(id: localID, topology: .endpoint)
            node.addParent(.host, hostNode)
            if let localProcess { node.addParent(.process, localProcess) }
            if !inbound { node.adjacency.insert(remoteID) }
            endpoints[localID] = node
        }
        do {
            var node = endpoints.removeValue(forKey: remoteID) ?? Node(id: remoteID, topology: .endpoint)
            if inbound {
                node.adjacency.insert(localID)
            } else if let serverProcess {
                node.addParent(.process, serverProcess)
                node.addParent(.host, hostNode)
            }
            endpoints[remoteID] = node
        }

        let connID = ConnectionID.make(client: clientID, server: serverID)
        var conn = connections.removeValue(forKey: connID) ?? Node(id: connID, topology: .connection)
        conn.set(NodeKey.proto, s.proto.rawValue, at: t)
        conn.set(NodeKey.client, clientID, at: t)
        conn.set(NodeKey.server, serverID, at: t)
        conn.set(NodeKey.state, s.state, at: t)
        conn.set(NodeKey.closed, "false", at: t)
        conn.set(NodeKey.lastSeen, String(t), at: t)
        conn.set(NodeKey.host, hostNode, at: t)
        if !inbound, let localProcess { conn.set(NodeKey.clientProcess, localProcess, at: t) }
        if let serverProcess { conn.set(NodeKey.serverProcess, serverProcess, at: t) }
        conn.addParent(.endpoint, clientID)
        conn.addParent(.endpoint, serverID)
        conn.addParent(.host, hostNode)
        if let info = s.tcpInfo {
            let sent = Double(inbound ? info.bytesReceived : info.bytesSent)
            let received = Double(inbound ? info.bytesSent : info.bytesReceived)
            conn.record(MetricKey.clientBytesSent, sent, at: t)
            conn.record(MetricKey.clientBytesReceived, received, at: t)
            conn.record(MetricKey.rtt, Double(info.rttMicros) / 1000, at: t)
        }
        connections[connID] = conn
    }

    /// For an outbound socket whose peer is on this host, the process listening on the peer address:
    /// looked up in the socket's own namespace for namespace-local peers, otherwise in every namespace that
    /// has the peer address. Needed when the server side has no socket of its own (UDP) or is not owned.
    private mutating func serverOfOutbound(_ s: SocketRecord) -> String? {
        guard let ip = ip(s.remoteAddress) else { return nil }
        let namespaces = ip.isNamespaceLocal ? [s.netns] : (addressNamespaces[s.remoteAddress] ?? [])
        for netns in namespaces {
            if let listener = listeners.match(netns: netns, proto: s.proto, address: s.remoteAddress,
                                              port: s.remotePort), let pid = listener.pid {
                return NodeID.process(hostID: hostID, pid: pid)
            }
        }
        return nil
    }
}
