extension TopologyEngine {
    /// Works out a connected socket's endpoints, direction, owners and connection, and counts its
    /// contributions: the local endpoint gets the host and the owner as parents and, on the client side,
    /// adjacency to the remote endpoint; the remote endpoint gets adjacency to the local one on the server
    /// side, or the server process (found through its listener) and the host as parents.
    func derive(_ e: SocketEntry) {
        let s = e.record
        let localID = EndpointID(scope: scope(of: s.localAddress, e.localIP, netns: s.netns),
                                 address: s.localAddress, port: s.localPort, proto: s.proto)
        let remoteID = EndpointID(scope: scope(of: s.remoteAddress, e.remoteIP, netns: s.netns),
                                  address: s.remoteAddress, port: s.remotePort, proto: s.proto)
        let local = endpoint(localID.id)
        let remote = endpoint(remoteID.id)
        let inbound = listeners.match(netns: s.netns, proto: s.proto, address: s.localAddress, port: s.localPort)
            .map { isAccepted(s, by: $0, remoteIP: e.remoteIP) } ?? false
        let client = inbound ? remote.id : local.id, server = inbound ? local.id : remote.id
        let id = ConnectionID.make(client: client, server: server)
        // A client socket without an owner keeps the one an earlier socket of the connection had (a flow's
        // pid, or the parent of a client that exited before it could be read).
        let localProcess = s.pid.map { NodeID.process(hostID: hostID, pid: $0) }
            ?? (inbound ? nil : connections[id]?.lastClientProcess)
        let serverProcess = inbound ? localProcess : serverOfOutbound(s, e.remoteIP)
        let hostNode = NodeID.host(hostID)

        reference(local, 1)
        reference(remote, 1)
        contribute(local, .hostParent, hostNode)
        if let localProcess { contribute(local, .processParent, localProcess) }
        if inbound {
            contribute(remote, .adjacency, local.id)
        } else {
            contribute(local, .adjacency, remote.id)
            if let serverProcess {
                contribute(remote, .processParent, serverProcess)
                contribute(remote, .hostParent, hostNode)
            }
        }

        let conn: ConnectionState
        if let existing = connections[id] {
            conn = existing
        } else {
            let sides = inbound ? ConnectionSides(client: remoteID, server: localID)
                : ConnectionSides(client: localID, server: remoteID)
            conn = ConnectionState(id: id, client: client, server: server, sides: sides)
            connections[id] = conn
        }
        e.local = local
        e.remote = remote
        e.connection = conn
        e.inbound = inbound
        e.localProcess = localProcess
        e.serverProcess = serverProcess
        conn.begin(generation)
        touchedConnections.append(conn)
        conn.add(.init(entry: e))  // reads what `e` now says
    }

    /// Withdraws everything ``derive(_:)`` counted for `e`.
    func underive(_ e: SocketEntry) {
        guard let local = e.local, let remote = e.remote, let conn = e.connection else { return }
        let hostNode = NodeID.host(hostID)
        withdraw(local, .hostParent, hostNode)
        if let localProcess = e.localProcess { withdraw(local, .processParent, localProcess) }
        if e.inbound {
            withdraw(remote, .adjacency, local.id)
        } else {
            withdraw(local, .adjacency, remote.id)
            if let serverProcess = e.serverProcess {
                withdraw(remote, .processParent, serverProcess)
                withdraw(remote, .hostParent, hostNode)
            }
        }
        reference(local, -1)
        reference(remote, -1)
        conn.begin(generation)
        touchedConnections.append(conn)
        conn.remove(e)
        e.local = nil
        e.remote = nil
        e.connection = nil
    }

    /// Lists `endpoint` among the endpoints whose node must be written again this pass.
    func markDirty(_ endpoint: EndpointState) {
        if endpoint.dirtyGeneration == generation { return }
        endpoint.dirtyGeneration = generation
        dirtyEndpoints.append(endpoint)
    }

    private func endpoint(_ id: String) -> EndpointState {
        if let existing = endpoints[id] { return existing }
        let created = EndpointState(id: id)
        endpoints[id] = created
        return created
    }

    private func reference(_ endpoint: EndpointState, _ delta: Int) {
        endpoint.references += delta
        if endpoint.references == 0 || (delta > 0 && endpoint.references == 1) { markDirty(endpoint) }
    }

    private func contribute(_ endpoint: EndpointState, _ kind: EndpointState.Kind, _ value: String) {
        if endpoint.add(kind, value) { markDirty(endpoint) }
    }

    private func withdraw(_ endpoint: EndpointState, _ kind: EndpointState.Kind, _ value: String) {
        if endpoint.remove(kind, value) { markDirty(endpoint) }
    }
}
