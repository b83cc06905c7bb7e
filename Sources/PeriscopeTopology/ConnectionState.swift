/// One connection node's inputs in ``TopologyEngine``: the sockets that make it (one per side this host sees)
/// and the counters of the current pass.
///
/// When every side writes a key at the same timestamp, ``LatestMap`` keeps the greatest value and
/// ``MetricHistory`` the greatest sample, so the node is a function of the set of members, not of their order.
final class ConnectionState {
    /// One socket of the connection. What it says of the connection is read from its ``SocketEntry``, which
    /// ``TopologyEngine/derive(_:)`` fills in before adding it and leaves as is until it takes it out again, so
    /// a member costs one reference (10,000 connections with two members each: ~1 MB less than copies).
    struct Member {
        /// The member's socket in the engine (it leaves the members before the engine lets it go).
        unowned let entry: SocketEntry
        var state: String { entry.record.state }
        /// The client's process, when this is the client side's socket.
        var clientProcess: String? { entry.inbound ? nil : entry.localProcess }
        /// The server's process: the owner of the member's own socket when the member is the accepted (server)
        /// side, else a guess from the peer's listener (see ``serverIsOwner``).
        var serverProcess: String? { entry.serverProcess }
        /// `serverProcess` owns this member's socket (the server side's own socket). A client-side member only
        /// knows the process listening on the peer address, which for a pre-forking server (`nc -ll -e cat`,
        /// nginx's master) is not the process serving the connection.
        var serverIsOwner: Bool { entry.inbound && entry.serverProcess != nil }
        /// The client side's socket is orphaned: no owner and no inode (its process is gone).
        var isOrphanedClient: Bool { !entry.inbound && entry.localProcess == nil && entry.record.inode == 0 }
    }

    /// The member-dependent part of the node's `latest` map.
    struct Shape: Equatable {
        var state: String
        var clientProcess: String?
        var serverProcess: String?
    }

    let id: String
    /// Client and server endpoint ids (the endpoints' own strings, shared).
    let client: String
    let server: String
    /// The same two endpoints, typed: written on the connection node for the views, which shares this box (one
    /// per connection, not one per node written).
    let sidesBox: ConnectionSidesBox
    var sides: ConnectionSides { sidesBox.value }
    var proto: TransportProtocol { sides.proto }
    private(set) var members: [Member] = []
    /// The shape last written to the report, `nil` until the node has been written.
    var written: Shape?
    /// Members came or went since the node was last written.
    var membersChanged = true
    /// The pass that last wrote the node (a connection is written once per pass).
    var writeGeneration = -1
    /// The last client process a member named: a client socket that the kernel's tables later show without an
    /// owner (its short-lived process exited, leaving an orphaned socket) keeps the owner it had.
    private(set) var lastClientProcess: String?

    /// Whether the connection had members when this pass first touched it.
    private(set) var liveAtStart = false
    private var passGeneration = -1
    /// This pass's counters (greatest over the members that have `tcp_info`).
    private(set) var sent = 0.0, received = 0.0, rtt = 0.0
    private var sampleGeneration = -1

    init(id: String, client: String, server: String, sides: ConnectionSides) {
        self.id = id
        self.client = client
        self.server = server
        sidesBox = ConnectionSidesBox(sides)
    }

    var isLive: Bool { !members.isEmpty }

    /// Records, once per pass, whether the connection was live before the pass changed it.
    func begin(_ generation: Int) {
        if passGeneration == generation { return }
        passGeneration = generation
        liveAtStart = !members.isEmpty
    }

    func add(_ member: Member) {
        if let client = member.clientProcess { lastClientProcess = client }
        members.append(member)
        membersChanged = true
    }

    func remove(_ entry: SocketEntry) {
        if let i = members.firstIndex(where: { $0.entry === entry }) { members.remove(at: i) }
        membersChanged = true
    }

    /// The node's member-dependent fields. A server process that owns its socket beats one guessed from a
    /// listener; among equals the greatest wins, so the shape does not depend on the members' order.
    var shape: Shape {
        var shape = Shape(state: members.first?.state ?? "")
        var serverIsOwner = false
        var orphanedClient = false
        for m in members {
            if m.isOrphanedClient { orphanedClient = true }
            if m.state > shape.state { shape.state = m.state }
            if let c = m.clientProcess, shape.clientProcess.map({ c > $0 }) ?? true { shape.clientProcess = c }
            guard let s = m.serverProcess, m.serverIsOwner || !serverIsOwner else { continue }
            if (m.serverIsOwner && !serverIsOwner) || (shape.serverProcess.map { s > $0 } ?? true) {
                shape.serverProcess = s
                serverIsOwner = m.serverIsOwner
            }
        }
        // No member names the client's process and the client side is an orphaned socket: the node says so (an
        // empty `client_process`), so that a view does not borrow the process that owns the same local address
        // and port now (the kernel hands a freed ephemeral port to the next client while the orphan lingers).
        if orphanedClient && shape.clientProcess == nil { shape.clientProcess = "" }
        return shape
    }

    /// Folds one member's `tcp_info` of pass `generation` into the counters, normalised to the client side.
    ///
    /// Each direction prefers the receiving socket's `bytes_received` (payload only) over the sending
    /// socket's `bytes_acked`, which also counts the SYN/FIN sequence numbers; when both ends are on this
    /// host the counts are therefore exact.
    func accumulate(_ info: TCPInfoRecord, inbound: Bool, generation: Int) {
        // Client → server bytes: received by the server socket (exact) or acked to the client socket.
        let sentExact = inbound, sentValue = Double(inbound ? info.bytesReceived : info.bytesSent)
        // Server → client bytes: received by the client socket (exact) or acked to the server socket.
        let receivedExact = !inbound, receivedValue = Double(inbound ? info.bytesSent : info.bytesReceived)
        let t = Double(info.rttMicros) / 1000
        if sampleGeneration != generation {
            sampleGeneration = generation
            sent = sentValue; received = receivedValue; rtt = t
            sentIsExact = sentExact; receivedIsExact = receivedExact
            return
        }
        if sentExact, !sentIsExact { sent = sentValue; sentIsExact = true }
        else if sentExact == sentIsExact { sent = max(sent, sentValue) }
        if receivedExact, !receivedIsExact { received = receivedValue; receivedIsExact = true }
        else if receivedExact == receivedIsExact { received = max(received, receivedValue) }
        rtt = max(rtt, t)
    }

    private var sentIsExact = false
    private var receivedIsExact = false

    /// Whether some member reported `tcp_info` in pass `generation`.
    func hasSamples(_ generation: Int) -> Bool { sampleGeneration == generation }

    /// Folds every member's latest `tcp_info` (``SocketEntry/info``) into the counters of pass `generation`:
    /// what a full pass would fold, for a counters-only update in which some member's counters moved.
    func resample(generation: Int) {
        for member in members {
            if let info = member.entry.info { accumulate(info, inbound: member.entry.inbound, generation: generation) }
        }
    }
}
