import PeriscopeFixtures
import PeriscopeProtocol
@testable import PeriscopeServer
import PeriscopeServerTesting
import PeriscopeSystem
import PeriscopeTopology
import Testing

/// `topology/subscribe` against an embedded daemon whose reports the test installs (no socket, no collectors):
/// ordered revisions, coalescing at `minInterval`, structural changes ahead of the interval, holding for a client
/// that does not read, the reset that resynchronises a subscriber, and silence after `topology/unsubscribe`.
@Suite("Subscription pacing, socket-free", .serialized)
struct SubscriptionPacingTests {
    /// A daemon with a host map fed by the test, at report revision 1 (the fixture scenario).
    final class Harness {
        let embedded: EmbeddedDaemon
        let topology: TopologyService
        var builder = ReportBuilder(hostID: "h1")
        var t = 100.0

        init(maxPendingChanges: Int = 20_000) throws {
            embedded = try EmbeddedDaemon {
                $0.injectedReports = true
                $0.maxPendingChanges = maxPendingChanges
            }
            topology = try #require(embedded.topology)
            install(Fixtures.scenario(t: t))
        }

        /// Builds `snapshot` into the next report and installs it; returns the new revision.
        @discardableResult
        func install(_ snapshot: HostSnapshot) -> Int64 {
            topology.install(builder.ingest(snapshot))
            return topology.revision
        }

        /// The next pass of the scenario: only counters and times change (no node or edge comes or goes); each
        /// call changes the curl edge's bytes per second.
        @discardableResult
        func metricsChange() -> Int64 {
            t += 1
            passes += 1
            return install(Fixtures.scenario(t: t, bytes: UInt64(1_000 * passes * passes)))
        }

        private var passes: UInt64 = 1

        /// The oldest revision that every shared view has rendered (0 before any render lands).
        var renderedRevision: Int64 {
            embedded.daemon.subscriptions?.shared.values.map(\.revision).min() ?? 0
        }

        /// Runs the loop until `done` holds (or `millis` pass).
        func run(until done: () -> Bool, millis: Int = 10_000) {
            var waited = 0
            while !done(), waited < millis {
                embedded.run(millis: 5)
                waited += 5
            }
        }
    }

    /// What a client holds: the snapshot with every notification applied (SPEC §15.1).
    struct ClientView {
        var nodes: [String: JSONValue] = [:]
        var edges: [String: JSONValue] = [:]
        var revision: Int64

        init(_ result: JSONValue) {
            revision = result["revision"]?.intValue ?? -1
            for node in result["nodes"]?.arrayValue ?? [] { nodes[node["id"]?.stringValue ?? ""] = node }
            for edge in result["edges"]?.arrayValue ?? [] { edges[edge["id"]?.stringValue ?? ""] = edge }
        }

        mutating func apply(_ params: JSONValue) {
            #expect(params["previousRevision"]?.intValue == revision, "notifications chain")
            let next = params["revision"]?.intValue ?? -1
            #expect(next > revision, "revisions strictly increase")
            revision = next
            if params["reset"] == true {
                nodes = [:]
                edges = [:]
            }
            for id in params["removed"]?["nodes"]?.arrayValue ?? [] { nodes[id.stringValue ?? ""] = nil }
            for id in params["removed"]?["edges"]?.arrayValue ?? [] { edges[id.stringValue ?? ""] = nil }
            for group in ["added", "updated"] {
                for node in params[group]?["nodes"]?.arrayValue ?? [] { nodes[node["id"]?.stringValue ?? ""] = node }
                for edge in params[group]?["edges"]?.arrayValue ?? [] { edges[edge["id"]?.stringValue ?? ""] = edge }
            }
        }

        /// Whether this is exactly `topology/get`'s answer (`result`).
        func equals(_ result: JSONValue?) -> Bool {
            ClientView(result ?? .null).nodes == nodes && ClientView(result ?? .null).edges == edges
        }
    }

    /// Subscribes; returns the subscription result.
    static func subscribe(_ client: EmbeddedClient, _ params: JSONValue, id: Int64 = 1) throws -> JSONValue {
        let reply = try #require(client.call("topology/subscribe", params, id: id, lines: true, timeoutMillis: 10_000))
        return try #require(reply["result"], "subscribe failed: \(reply)")
    }

    /// The next `topology/changed` params within `millis` (other messages are skipped), or nil.
    static func nextChange(_ client: EmbeddedClient, within millis: Int) -> JSONValue? {
        let deadline = SystemClock.monotonicMillis() + Double(millis)
        while true {
            let left = Int(deadline - SystemClock.monotonicMillis())
            if left <= 0 { return nil }
            guard let message = client.next(timeoutMillis: left) else { return nil }
            if message["method"] == .string(NotificationName.topologyChanged) { return message["params"] }
        }
    }

    static func get(_ client: EmbeddedClient, _ params: JSONValue, id: Int64) -> JSONValue? {
        client.call("topology/get", params, id: id, lines: true, timeoutMillis: 10_000)?["result"]
    }

    @Test func notificationsChainRevisionsAndBringTheClientToWhatGetReturns() throws {
        let harness = try Harness()
        let client = harness.embedded.connect()
        let view: JSONValue = ["view": "processes", "minInterval": 0]
        let snapshot = try Self.subscribe(client, view)
        #expect(snapshot["revision"]?.intValue == harness.topology.revision)
        var held = ClientView(snapshot)
        var steps: [Int64] = []
        // Counters, a client exiting (its edge closes), a client coming back, counters again.
        let changes: [() -> Int64] = [
            { harness.metricsChange() },
            { harness.t += 1; return harness.install(Fixtures.scenario(t: harness.t, includeCurl: false)) },
            { harness.t += 1; return harness.install(Fixtures.scenario(t: harness.t)) },
            { harness.metricsChange() },
        ]
        for (n, change) in changes.enumerated() {
            let revision = change()
            let params = try #require(Self.nextChange(client, within: 5_000), "a notification for change \(n)")
            #expect(params["subscription"] == snapshot["subscription"])
            #expect(params["revision"]?.intValue == revision)
            held.apply(params)
            steps.append(held.revision)
            #expect(held.equals(Self.get(client, ["view": "processes"], id: Int64(10 + n))), "state after change \(n)")
        }
        #expect(steps == steps.sorted() && Set(steps).count == steps.count)
    }

    @Test func changesWithinTheIntervalAreCoalescedButStructureIsNotHeldBack() throws {
        let harness = try Harness()
        let client = harness.embedded.connect()
        // Wide enough that a slow sanitizer build still tells "held back" (≥ interval) from "sent at once".
        let interval = 2_000.0
        var lastSent = SystemClock.monotonicMillis()  // the daemon's pacing starts later, when it subscribes
        let snapshot = try Self.subscribe(client, ["view": "processes", "minInterval": .int(Int64(interval))])
        var held = ClientView(snapshot)
        var last: Int64 = 0
        for _ in 1...4 {  // four counter changes within ~120 ms
            last = harness.metricsChange()
            harness.embedded.run(millis: 30)
        }
        var received = 0
        while held.revision < last {
            let params = try #require(Self.nextChange(client, within: 5_000), "notified up to revision \(last)")
            let now = SystemClock.monotonicMillis()
            // Arrival times: delivery jitter (a loop slice) makes a gap look a little shorter than it was sent.
            #expect(now - lastSent >= interval - 50, "updates no closer than minInterval: \(now - lastSent) ms")
            lastSent = now
            received += 1
            held.apply(params)
        }
        #expect(received < 4, "four revisions within the interval were coalesced (\(received) notifications)")
        #expect(held.revision == last)
        #expect(held.equals(Self.get(client, ["view": "processes"], id: 20)))
        // Counters again right away: held for the interval (nothing within 500 ms) ...
        harness.metricsChange()
        #expect(Self.nextChange(client, within: 500) == nil, "updates wait for minInterval")
        // ... but a new client process with its connection is structural: it goes out long before the interval
        // would allow, with the pending update.
        harness.t += 1
        var arrival = Fixtures.scenario(t: harness.t)
        arrival.processes.append(Fixtures.process(900, "newcli"))
        arrival.sockets += [Fixtures.conn("127.0.0.1", 41000, "127.0.0.1", 8080, pid: 900),
                            Fixtures.conn("127.0.0.1", 8080, "127.0.0.1", 41000, pid: 100)]
        let structural = harness.install(arrival)
        let next = try #require(Self.nextChange(client, within: 5_000))
        // Installed ~500 ms after the last notification; held back it would come at ~2000 ms.
        #expect(SystemClock.monotonicMillis() - lastSent < interval - 200, "a structural change is not held back by minInterval")
        #expect(next["revision"]?.intValue == structural)
        #expect(next["added"]?["nodes"]?.arrayValue?.contains { $0["id"] == "h1;900" } == true, "the new client")
        held.apply(next)
        #expect(held.equals(Self.get(client, ["view": "processes"], id: 21)))
    }

    @Test func aClientThatDoesNotReadIsHeldThenGetsOneNotification() throws {
        let harness = try Harness()
        // Enough idle processes that the snapshot alone is more than the hold threshold (256 KiB).
        let idle = (10_000..<12_000).map { Fixtures.process(Int32($0), "idle\($0)") }
        var big = Fixtures.scenario(t: harness.t)
        big.processes += idle
        let base = harness.install(big)
        let client = harness.embedded.connect()
        client.sendLine(Message.request(id: .number(1), method: "topology/subscribe",
                                        params: ["view": "processes", "options": ["all": true], "minInterval": 0]).json)
        harness.run(until: { client.stream.outputBufferedCount > 0 })
        let unread = client.stream.outputBufferedCount
        #expect(unread > 256 * 1024, "the snapshot waits unread: \(unread) bytes")
        var latest = base
        for n in 1...3 {
            harness.t += 1
            var next = Fixtures.scenario(t: harness.t, bytes: UInt64(7_000 * n * n))
            next.processes += idle
            latest = harness.install(next)
            harness.embedded.run(millis: 100)
        }
        // Renders take their own time (2,000 processes in a debug build under ASan can take longer than the
        // windows above): wait until the last one has landed, so the held changes are all there to coalesce.
        harness.run(until: { harness.renderedRevision == latest })
        #expect(harness.renderedRevision == latest)
        #expect(client.stream.outputBufferedCount == unread, "nothing is added while the client is behind")
        let snapshot = try #require(client.next(timeoutMillis: 5_000)?["result"])
        #expect(snapshot["revision"]?.intValue == base)
        var held = ClientView(snapshot)
        let params = try #require(Self.nextChange(client, within: 5_000), "the held changes, once the client reads")
        #expect(params["revision"]?.intValue == latest, "coalesced into one")
        held.apply(params)
        #expect(held.equals(Self.get(client, ["view": "processes", "options": ["all": true]], id: 2)))
    }

    @Test func aBacklogTooLargeIsAResetThatResynchronises() throws {
        let harness = try Harness(maxPendingChanges: 100)
        let client = harness.embedded.connect()
        let query: JSONValue = ["view": "processes", "options": ["all": true]]
        let snapshot = try Self.subscribe(client, ["view": "processes", "options": ["all": true], "minInterval": 0])
        var held = ClientView(snapshot)
        // Within the bound: a delta.
        harness.t += 1
        var crowd = Fixtures.scenario(t: harness.t)
        crowd.processes += (10_000..<10_090).map { Fixtures.process(Int32($0), "worker") }
        harness.install(crowd)
        let delta = try #require(Self.nextChange(client, within: 5_000))
        #expect(delta["reset"] == nil && delta["added"]?["nodes"]?.arrayValue?.count == 90)
        held.apply(delta)
        // More changed ids than the bound at once: the daemon drops the backlog for the whole state.
        harness.t += 1
        crowd.timestamp = harness.t
        crowd.processes += (20_000..<20_150).map { Fixtures.process(Int32($0), "worker") }
        let revision = harness.install(crowd)
        let reset = try #require(Self.nextChange(client, within: 5_000), "a reset")
        #expect(reset["reset"] == true)
        #expect(reset["revision"]?.intValue == revision)
        #expect(reset["updated"]?["nodes"]?.arrayValue?.isEmpty == true && reset["removed"]?["nodes"]?.arrayValue?.isEmpty == true)
        held.apply(reset)
        #expect(held.nodes.count > 240)
        #expect(held.equals(Self.get(client, query, id: 2)), "the reset carries the whole state")
        // Then deltas again.
        harness.t += 1
        var fewer = crowd
        fewer.timestamp = harness.t
        fewer.processes.removeLast(5)
        harness.install(fewer)
        let after = try #require(Self.nextChange(client, within: 5_000))
        #expect(after["reset"] == nil)
        #expect(after["removed"]?["nodes"]?.arrayValue?.count == 5)
        held.apply(after)
        #expect(held.equals(Self.get(client, query, id: 3)))
    }

    @Test func nodeSubscriptionFollowsTheNodeUntilItGoes() throws {
        let harness = try Harness()
        let client = harness.embedded.connect()
        let reply = try #require(client.call("node/subscribe", ["view": "processes", "id": "h1;200"], lines: true))
        let first = try NodeSubscribeRequest.Result(json: try #require(reply["result"], "\(reply)"))
        #expect(first.node["node"]?["id"] == "h1;200")
        func nextNodeChange(within millis: Double = 5_000) throws -> NodeChangedNotification? {
            let deadline = SystemClock.monotonicMillis() + millis
            while SystemClock.monotonicMillis() < deadline {
                guard let message = client.next(timeoutMillis: 100) else { continue }
                if message["method"] == .string(NodeChangedNotification.method) {
                    return try NodeChangedNotification(params: message["params"])
                }
            }
            return nil
        }
        // curl's connection counters change: new details.
        let revision = harness.metricsChange()
        let changed = try #require(try nextNodeChange())
        #expect(changed.subscription == first.subscription && changed.revision == revision)
        guard case .details(let details) = changed.change else {
            Issue.record("details expected, got \(changed.change)")
            return
        }
        #expect(details != first.node)
        // curl exits; once its closed connection is no longer retained (10 s), the node is gone.
        harness.t += 1
        harness.install(Fixtures.scenario(t: harness.t, includeCurl: false))
        harness.t += 11
        let gone = harness.install(Fixtures.scenario(t: harness.t, includeCurl: false))
        var last = try #require(try nextNodeChange())
        while last.change != .removed, let next = try nextNodeChange() { last = next }
        #expect(last.change == .removed && last.revision == gone)
        harness.metricsChange()
        #expect(try nextNodeChange(within: 500) == nil, "the subscription ended with its node")
    }

    @Test func unsubscribeStopsNotificationsAndFreesTheSharedView() throws {
        let harness = try Harness()
        let client = harness.embedded.connect()
        let snapshot = try Self.subscribe(client, ["view": "processes", "minInterval": 0])
        let id = try #require(snapshot["subscription"])
        harness.metricsChange()
        #expect(Self.nextChange(client, within: 5_000) != nil, "subscribed: notified")
        #expect(client.call("topology/unsubscribe", ["subscription": id], id: 2, lines: true)?["result"] == .null)
        harness.metricsChange()
        harness.t += 1
        harness.install(Fixtures.scenario(t: harness.t, includeCurl: false))
        #expect(Self.nextChange(client, within: 400) == nil, "no notification after unsubscribe")
        let again = client.call("topology/unsubscribe", ["subscription": id], id: 3, lines: true)
        #expect(again?["error"]?["code"]?.intValue == Int64(ErrorCode.notFound))
        let status = client.call("daemon/status", id: 4, lines: true)?["result"]
        let subscriptions = status?["collectors"]?["subscriptions"]
        #expect(subscriptions?["subscriptions"] == 0 && subscriptions?["sharedViews"] == 0, "\(String(describing: subscriptions))")
    }
}
