import PeriscopeFixtures
import PeriscopeProtocol
import PeriscopeTopology
import Testing
@testable import PeriscopeViews

// The incremental renderer a shared view keeps (IncrementalRenderer) against a whole render of the same report,
// over long random sequences of reports built the way the daemon builds them (ReportBuilder: full ingests,
// event-driven ingests without metrics, socket deltas): connections opening and closing, owners found and lost,
// processes coming, going, renamed and moving between containers, counters moving, interfaces changing.

/// A host whose state the steps change: servers listening, client connections (both sockets), remote peers.
private struct RandomHost {
    struct Flow: Hashable { var client: Int32?; var server: Int32?; var clientPort: UInt16; var serverPort: UInt16; var remote: String? }

    var t = 1000.0
    var processes: [Int32: String] = [:]
    var servers: [Int32: UInt16] = [:]
    var flows: [Flow] = []
    var sent: [UInt16: UInt64] = [:]
    var nextPort: UInt16 = 30000
    var containerOf: [Int32: Int] = [:]
    var images = ["localhost/web:1", "localhost/db:2"]
    var extraNetwork = false

    init() {
        for i in 0..<4 { processes[Int32(100 + i)] = "srv\(i)"; servers[Int32(100 + i)] = UInt16(8000 + i) }
        for i in 0..<8 { processes[Int32(200 + i)] = i % 2 == 0 ? "curl" : "wget" }
    }

    mutating func step(_ rng: inout SplitMix64) {
        t += 0.5
        switch rng.int(12) {
        case 0, 1, 2:  // a new connection between a client and a server, or to a remote peer
            let clients = processes.keys.filter { $0 >= 200 }.sorted()
            guard !clients.isEmpty else { return }
            let client = rng.pick(clients)
            nextPort += 1
            if rng.int(4) == 0 {
                let remote = rng.bool() ? "192.168.1.\(20 + rng.int(3))" : "93.184.216.\(30 + rng.int(3))"
                flows.append(Flow(client: client, server: nil, clientPort: nextPort, serverPort: 443, remote: remote))
            } else {
                let server = rng.pick(servers.keys.sorted())
                flows.append(Flow(client: client, server: server, clientPort: nextPort, serverPort: servers[server] ?? 1))
            }
        case 3, 4:  // a connection closes
            if !flows.isEmpty { flows.remove(at: rng.int(flows.count)) }
        case 5:  // an owner is lost, or found again
            guard !flows.isEmpty else { return }
            let i = rng.int(flows.count)
            if flows[i].client == nil {
                flows[i].client = Int32(200 + rng.int(8))
            } else {
                flows[i].client = nil
            }
        case 6:  // counters move
            for flow in flows where rng.bool() { sent[flow.clientPort, default: 0] += UInt64(1 + rng.int(5000)) }
        case 7:  // a client exits, or a new one starts
            let pid = Int32(200 + rng.int(10))
            if processes[pid] != nil, rng.bool() { processes[pid] = nil } else { processes[pid] = rng.bool() ? "curl" : "nc" }
        case 8:  // a process renames itself (processes-by-name regroups it)
            let pid = rng.pick(processes.keys.sorted())
            processes[pid] = rng.pick(["curl", "wget", "nc", "srv0"])
        case 9:  // a process moves into or out of a container; an image changes
            let pid = rng.pick(processes.keys.sorted())
            containerOf[pid] = rng.bool() ? nil : rng.int(2)
            if rng.int(4) == 0 { images[rng.int(2)] = rng.pick(["localhost/web:1", "localhost/web:2", "localhost/db:2"]) }
        case 10:  // an interface comes or goes (local networks change)
            if rng.int(3) == 0 { extraNetwork.toggle() }
        default:
            break
        }
    }

    var snapshot: HostSnapshot {
        var sockets: [SocketRecord] = []
        for (pid, port) in servers.sorted(by: { $0.key < $1.key }) {
            sockets.append(Fixtures.listen("0.0.0.0", port, pid: pid, inode: UInt64(port) + 100_000))
        }
        for flow in flows {
            let bytes = sent[flow.clientPort]
            if let remote = flow.remote {
                sockets.append(Fixtures.conn("192.168.1.10", flow.clientPort, remote, flow.serverPort, pid: flow.client, sent: bytes))
                continue
            }
            sockets.append(Fixtures.conn("127.0.0.1", flow.clientPort, "127.0.0.1", flow.serverPort, pid: flow.client, sent: bytes))
            var server = Fixtures.conn("127.0.0.1", flow.serverPort, "127.0.0.1", flow.clientPort, pid: flow.server, sent: bytes)
            server.inode = UInt64(flow.clientPort) + 200_000
            sockets.append(server)
        }
        let records = processes.sorted { $0.key < $1.key }.map { Fixtures.process($0.key, $0.value, cpu: Double($0.key % 7)) }
        var addresses = Fixtures.h1Addresses
        if extraNetwork {
            addresses.append(InterfaceAddress(interface: "eth1", address: "93.184.216.1", prefixLength: 24, netns: Fixtures.rootNS))
        }
        var snapshot = HostSnapshot(timestamp: t, host: Fixtures.host(addresses: addresses), processes: records,
                                    sockets: sockets, hostNetns: Fixtures.rootNS)
        snapshot.containers = (0..<2).map { i in
            ContainerRecord(id: "c\(i)", name: "box-\(i)", image: images[i], imageID: "sha256:\(i)", hostname: "box\(i)",
                            pids: containerOf.filter { $0.value == i }.keys.sorted())
        }
        return snapshot
    }
}

/// The next report of `builder` for `snapshot`, as the daemon makes one: a full pass (`mode` 0), an event-driven
/// ingest of the whole snapshot without metrics (1), or a socket delta from `previous` (otherwise; the whole
/// snapshot when the builder cannot take it as a delta).
private func ingest(_ builder: inout ReportBuilder, _ snapshot: HostSnapshot, previous: HostSnapshot?, mode: Int) -> Report {
    switch mode {
    case 0: return builder.ingest(snapshot)
    case 1: return builder.ingest(snapshot, metrics: false)
    default:
        guard let previous else { return builder.ingest(snapshot) }
        var left: [SocketRecord: Int] = [:]
        for s in previous.sockets { left[s, default: 0] += 1 }
        var added: [SocketRecord] = []
        for s in snapshot.sockets {
            if let n = left[s], n > 0 { left[s] = n - 1 } else { added.append(s) }
        }
        let removed = previous.sockets.filter { s in
            guard let n = left[s], n > 0 else { return false }
            left[s] = n - 1
            return true
        }
        return builder.ingest(snapshot, removing: removed, adding: added) ?? builder.ingest(snapshot, metrics: false)
    }
}

private let specs: [(String, ViewOptions)] = [
    (ViewCatalog.processes, ViewOptions()),
    (ViewCatalog.processes, ViewOptions(all: true, includeClosed: false)),
    (ViewCatalog.processesByName, ViewOptions()),
    (ViewCatalog.hosts, ViewOptions()),
    (ViewCatalog.containers, ViewOptions()),
    (ViewCatalog.containersByImage, ViewOptions()),
]

@Suite struct IncrementalRenderTests {
    /// After every report of a long random sequence, the incremental render equals a whole render, for every view;
    /// and most renders were incremental (resolved a few connections), so the comparison tested that path.
    @Test(arguments: [1, 2, 3, 4])
    func incrementalEqualsWholeRender(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        var host = RandomHost()
        var builder = ReportBuilder(hostID: "h1", retention: 3)
        var renderers = try specs.map { try IncrementalRenderer(spec: ViewSpec(view: $0.0, options: $0.1)) }
        var incremental = 0, resolved = 0, connections = 0
        var previous: HostSnapshot?
        for step in 0..<200 {
            host.step(&rng)
            let snapshot = host.snapshot
            let report = ingest(&builder, snapshot, previous: previous, mode: rng.int(6))
            previous = snapshot
            for i in renderers.indices {
                let got = renderers[i].render(report)
                let want = ViewRenderer.render(report: report, spec: renderers[i].spec)
                #expect(got == want, "step \(step), view \(renderers[i].spec.view)")
                if got != want { return }
                if !renderers[i].lastStartedOver {
                    incremental += 1
                    resolved += renderers[i].lastResolved
                    connections += report.connections.count
                }
            }
        }
        #expect(incremental > 200 * specs.count / 3)
        #expect(resolved * 2 < connections, "incremental renders resolved \(resolved) of \(connections) connections")
    }

    /// A filter is applied to the incremental render as to a whole one.
    @Test func filteredIncrementalEqualsWholeRender() throws {
        var rng = SplitMix64(seed: 9)
        var host = RandomHost()
        var builder = ReportBuilder(hostID: "h1")
        let filter = try FilterExpression.parse("name:curl")
        var renderer = try IncrementalRenderer(spec: ViewSpec(view: ViewCatalog.processes))
        for step in 0..<150 {
            host.step(&rng)
            let report = builder.ingest(host.snapshot)
            let got = renderer.render(report, filter: filter)
            #expect(got == ViewRenderer.render(report: report, spec: renderer.spec, filter: filter), "step \(step)")
        }
    }

    /// One connection opening on a host with many: one connection resolved again, and the diff is the new edge's.
    @Test func oneNewConnectionResolvesOne() throws {
        var host = RandomHost()
        for i in 0..<200 {
            host.flows.append(.init(client: Int32(200 + i % 8), server: Int32(100 + i % 4), clientPort: UInt16(20000 + i),
                                    serverPort: UInt16(8000 + i % 4)))
        }
        var builder = ReportBuilder(hostID: "h1")
        var renderer = try IncrementalRenderer(spec: ViewSpec(view: ViewCatalog.processes))
        let first = host.snapshot
        let before = renderer.render(builder.ingest(first))
        host.processes[300] = "new"
        host.flows.append(.init(client: 300, server: 100, clientPort: 29999, serverPort: 8000))
        host.t += 1
        let report = ingest(&builder, host.snapshot, previous: first, mode: 2)
        let after = renderer.render(report)
        #expect(!renderer.lastStartedOver)
        #expect(renderer.lastResolved == 1)
        #expect(after == ViewRenderer.render(report: report, spec: renderer.spec))
        let diff = ViewDiff(from: before, to: after)
        #expect(diff.addedEdges.map(\.id) == ["h1;300->h1;100"])
    }

    /// Full passes over idle connections (counters that did not move) leave their nodes as they were, so the render
    /// stays incremental across full passes: a pass where one connection's counters moved resolves that one only.
    @Test func idleFullPassKeepsConnectionNodesAndRendersIncrementally() throws {
        var host = RandomHost()
        for i in 0..<200 {
            let port = UInt16(20000 + i)
            host.flows.append(.init(client: Int32(200 + i % 8), server: Int32(100 + i % 4), clientPort: port,
                                    serverPort: UInt16(8000 + i % 4)))
            host.sent[port] = 1_000
        }
        var builder = ReportBuilder(hostID: "h1")
        var renderer = try IncrementalRenderer(spec: ViewSpec(view: ViewCatalog.processes))
        var report = builder.ingest(host.snapshot)
        _ = renderer.render(report)
        host.t += 1
        report = builder.ingest(host.snapshot)  // the second sample: counters equal, the rate reads 0
        _ = renderer.render(report)
        let settled = report.connections
        host.t += 1
        report = builder.ingest(host.snapshot)
        #expect(report.connections == settled)  // no sample, no `last_seen`: the same nodes
        _ = renderer.render(report)
        #expect(!renderer.lastStartedOver && renderer.lastResolved == 0)

        host.t += 1
        var busy = host.snapshot  // one connection's server socket received 500 bytes
        for i in busy.sockets.indices where busy.sockets[i].remotePort == 20007 { busy.sockets[i].tcpInfo?.bytesReceived += 500 }
        report = builder.ingest(busy)
        let moved = report.connections.nodes.filter { settled.nodes[$0.key] != $0.value }
        #expect(moved.count == 1)
        let after = renderer.render(report)
        #expect(!renderer.lastStartedOver && renderer.lastResolved == 1)
        #expect(after == ViewRenderer.render(report: report, spec: renderer.spec))

        // Closing an idle connection: retained as closed, last seen open at the pass before.
        host.t += 1
        let closing = try #require(host.flows.first { $0.clientPort == 20010 })
        host.flows.removeAll { $0 == closing }
        report = builder.ingest(host.snapshot)
        let closed = report.connections.nodes.values.filter { $0.latest[NodeKey.closed] == "true" }
        #expect(closed.count == 1 && closed.first?.latest[NodeKey.lastSeen] == String(host.t - 1))
    }
}
