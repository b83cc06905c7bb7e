import PeriscopeTopology

/// One side of a connection, resolved to what views draw: a process, or a pseudo node.
struct Party: Hashable, Sendable {
    /// Process node id, or pseudo node id.
    var nodeID: String
    var kind: NodeKind
    /// The process node id when `kind == .process`.
    var processID: String?
    /// The host the side is on, when known.
    var hostID: String?
    /// The peer address, for `.remote` and `.internet`.
    var address: String?

    static let internetID = "pseudo:internet"
}

/// A connection of the report with both sides resolved.
struct ResolvedConnection: Sendable {
    var id: String
    var proto: String
    /// The client and server endpoints, typed (from the connection node).
    var sides: ConnectionSides
    var client: EndpointID { sides.client }
    var server: EndpointID { sides.server }
    var clientParty: Party
    var serverParty: Party
    var state: String
    var closed: Bool
    var lastSeen: Double?
    var clientBytesSent: Double?
    var clientBytesReceived: Double?
    /// Bytes/s in both directions, when two samples of a counter are known.
    var bytesPerSecond: Double?
    var rttMillis: Double?
    /// What the resolution read besides the connection node.
    var inputs = ResolutionInputs()
}

/// The report entries a connection's resolution read besides its own node: its endpoint nodes and the process ids
/// it looked up (found or not). A change to one of them can change how the connection is drawn.
struct ResolutionInputs: Sendable, Hashable {
    var clientEndpoint: String?
    var serverEndpoint: String?
    var clientProcess: String?
    var serverProcess: String?
}

/// Resolves the connection nodes of a report to pairs of ``Party``.
///
/// A connection's sides come typed from the node (``Node/sides``, written by the topology engine or by the report's
/// decoder): nothing here parses an endpoint id. A connection node without sides (not a connection a producer
/// described) is not drawn.
///
/// A side is the process recorded on the connection (`client_process` / `server_process`) or, failing that,
/// the endpoint's process parent, when that process is in the report. Otherwise it is a pseudo node:
/// `pseudo:unknown;HOST` for sockets known to be on a host (scoped endpoint, or an endpoint with a host
/// parent), `pseudo:remote;ADDRESS` for a peer in a private range or a network of one of the report's hosts,
/// and `pseudo:internet` for everything else.
struct ConnectionResolver {
    let report: Report
    private let endpoints: NodeTable
    private let connectionNodes: NodeTable
    private let processes: NodeTable
    private let localNetworks: [IPNetwork]
    private var localCache: [String: Bool] = [:]

    init(report: Report) {
        self.report = report
        endpoints = report.endpoints.nodes
        connectionNodes = report.connections.nodes
        processes = report.processes.nodes
        var networks: Set<IPNetwork> = []
        for host in report.hosts.nodes.values {
            for cidr in host.sets[NodeKey.localNetworks] ?? [] {
                guard let net = IPNetwork(cidr: cidr), !net.address.isNamespaceLocal, net.prefixLength > 0
                else { continue }
                networks.insert(net)
            }
        }
        localNetworks = networks.sorted { $0.description < $1.description }
    }

    /// The connection `node` with both sides resolved; `nil` when the node has no typed sides.
    mutating func resolve(_ node: Node) -> ResolvedConnection? {
        guard let sides = node.sides else { return nil }
        let fields = ConnectionFields(node.latest)
        // The `client` / `server` texts are the endpoint nodes' ids: used as keys, never parsed.
        let (clientParty, clientPID) = party(sides.client, node: fields.client, recorded: fields.clientProcess)
        let (serverParty, serverPID) = party(sides.server, node: fields.server, recorded: fields.serverProcess)
        var rate: Double?, sentTotal: Double?, receivedTotal: Double?, rtt: Double?
        if !node.metrics.isEmpty {
            var sent: MetricHistory?, received: MetricHistory?
            for (key, history) in node.metrics {
                if ConnectionFields.same(key, MetricKey.clientBytesSent) {
                    sent = history
                } else if ConnectionFields.same(key, MetricKey.clientBytesReceived) {
                    received = history
                } else if ConnectionFields.same(key, MetricKey.rtt) {
                    rtt = history.last?.value
                }
            }
            if let r = sent?.ratePerSecond { rate = r }
            if let r = received?.ratePerSecond { rate = (rate ?? 0) + r }
            sentTotal = sent?.last?.value
            receivedTotal = received?.last?.value
        }
        let closed = fields.closed == "true"
        return ResolvedConnection(
            id: node.id, proto: sides.proto.rawValue, sides: sides, clientParty: clientParty, serverParty: serverParty,
            state: fields.state ?? "unknown", closed: closed,
            lastSeen: closed ? fields.lastSeen.flatMap(Double.init) : nil,
            clientBytesSent: sentTotal, clientBytesReceived: receivedTotal, bytesPerSecond: rate, rttMillis: rtt,
            inputs: ResolutionInputs(clientEndpoint: fields.client, serverEndpoint: fields.server,
                                     clientProcess: clientPID, serverProcess: serverPID))
    }

    /// `endpoint` as a party, and the process id looked up for it; `node` is the id of its endpoint node (for its
    /// process and host parents).
    private mutating func party(_ endpoint: EndpointID, node id: String?, recorded: String?) -> (Party, String?) {
        let endpointNode = id.flatMap { endpoints[$0] }
        let pid = recorded ?? endpointNode?.parent(.process)
        if let pid, let process = processes[pid] {
            return (Party(nodeID: pid, kind: .process, processID: pid, hostID: process.parent(.host)), pid)
        }
        if let host = endpoint.scopeHost ?? endpointNode?.parent(.host) {
            return (Party(nodeID: "pseudo:unknown;\(host)", kind: .unknown, hostID: host), pid)
        }
        if isLocalNetwork(endpoint.address) {
            return (Party(nodeID: "pseudo:remote;\(endpoint.address)", kind: .remote, address: endpoint.address), pid)
        }
        return (Party(nodeID: Party.internetID, kind: .internet, address: endpoint.address), pid)
    }

    private mutating func isLocalNetwork(_ address: String) -> Bool {
        if let cached = localCache[address] { return cached }
        var result = true  // an unparsable address is not evidence of the Internet
        if let ip = IPAddress(address) {
            result = ip.isPrivate || localNetworks.contains { $0.contains(ip) }
        }
        localCache[address] = result
        return result
    }
}

/// The `latest` values of a connection node that a resolution reads, gathered in one pass over the map: cheaper
/// than hashing each key (this runs once per connection per render).
struct ConnectionFields {
    var client: String?
    var server: String?
    var clientProcess: String?
    var serverProcess: String?
    var closed: String?
    var state: String?
    var lastSeen: String?

    init(_ latest: LatestMap) {
        for (key, entry) in latest {
            if Self.same(key, NodeKey.client) {
                client = entry.value
            } else if Self.same(key, NodeKey.server) {
                server = entry.value
            } else if Self.same(key, NodeKey.clientProcess) {
                clientProcess = entry.value
            } else if Self.same(key, NodeKey.serverProcess) {
                serverProcess = entry.value
            } else if Self.same(key, NodeKey.closed) {
                closed = entry.value
            } else if Self.same(key, NodeKey.state) {
                state = entry.value
            } else if Self.same(key, NodeKey.lastSeen) {
                lastSeen = entry.value
            }
        }
    }

    /// String equality that rejects different lengths first (most keys differ in length).
    @inline(__always)
    static func same(_ a: String, _ b: String) -> Bool { a.utf8.count == b.utf8.count && a == b }
}
