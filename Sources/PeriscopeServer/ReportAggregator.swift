import Glibc
import Dispatch
import Logging
import PeriscopeEventLoop
import PeriscopeProtocol
import PeriscopeSystem
import PeriscopeTopology

/// The aggregator role (`--accept-reports`): accepts publishers over mutual TLS, keeps each host's newest
/// report (full reports on connect and after a gap, revisioned deltas otherwise), and composes them with the local
/// host's report on a ``MergeQueue`` (incrementally, per touched node: ``HostMerger``), so every view, subscription
/// and `node/get` spans every host and the loop never merges.
///
/// Rules: a publisher is the host its certificate names and may only report that host (``ReportWire``'s claim
/// check); a host silent for ``MultiHostConfiguration/staleAfterIntervals`` of its own refresh intervals is
/// marked stale, and removed after ``MultiHostConfiguration/hostExpiryMillis``; a reconnecting host replaces
/// its old report (ids are host-prefixed, so nothing is duplicated). Messages are inflated, parsed and applied
/// on the merge queue in arrival order; a link with ``maxInFlightPerLink`` messages there is not read until one
/// is done (the publisher then coalesces). A delta that does not build on the held revision makes the aggregator
/// ask for a full report (`report/resend`); it never guesses. A bad link is closed alone.
///
/// - Important: loop thread only, except the merge queue it owns.
final class ReportAggregator {
    private let core: ServerCore
    private unowned let topology: TopologyService
    private let settings: MultiHostConfiguration
    private let tls: TLSContext
    private var listener: Listener?
    private var links: [ObjectIdentifier: PublisherLink] = [:]
    private var hosts: [String: RemoteHost] = [:]
    private var timer: LoopTimer?
    /// Where publisher messages are applied and the map is composed, off the loop.
    private let merges: MergeQueue
    private let logger = Logger(label: "periscope.aggregator")
    private var address = ""
    private var refused: UInt64 = 0
    private var handshakeFailures: UInt64 = 0
    private var lastRefusal: String?
    /// Most hosts kept at once (a bound on memory whatever the CA signs).
    static let maxHosts = 4096
    /// Messages of one link on the merge queue at once before the link is no longer read (backpressure).
    static let maxInFlightPerLink = 4

    init(core: ServerCore, topology: TopologyService, settings: MultiHostConfiguration, tls: TLSContext, listen: String) throws {
        self.core = core
        self.topology = topology
        self.settings = settings
        self.tls = tls
        let target = LoopBound(topology, loop: core.loop)
        let loop = core.loop
        merges = MergeQueue { composed in loop.execute { target.value.installComposed(composed) } }
        let (host, port) = try SocketAddress.splitHostPort(listen)
        let (fd, bound) = try SocketAddress.listenTCP(host: host, port: port)
        address = "\(host):\(bound)"
        listener = try Listener(loop: core.loop, fd: fd, address: address, port: bound) { [unowned self] fd, peer in
            self.accept(fd: fd, peer: peer)
        }
        core.endpoints.append("reports:\(address)")
        topology.composer = { [merges] local in merges.submit { $0.setLocal(local) } }
        core.health["aggregator"] = { [unowned self] in self.healthJSON() }
        timer = LoopTimer(loop: core.loop) { [unowned self] in self.checkAges() }
        timer?.scheduleRepeating(everyMillis: 250)
        logger.info("accepting reports on \(address) (mutual TLS)")
    }

    private func accept(fd: Int32, peer: String) {
        guard links.count < settings.maxPublishers, !core.isShuttingDown else {
            refused &+= 1
            close(fd)
            return
        }
        let connection: Connection
        do { connection = try tls.accept(fd: fd, peer: peer) } catch {
            logger.warning("\(error)")
            return
        }
        let link = PublisherLink(connection: connection, maxFrameBytes: settings.maxFrameBytes) { [unowned self] link, method, params, size in
            if method.hasPrefix("forward/") { return self.forwarded(link, method, params) }
            self.handle(link, method, params, size)
        }
        link.onViolation = { [unowned self] link, reason in self.refuse(link, reason) }
        let key = ObjectIdentifier(link)
        links[key] = link
        connection.onClose = { [weak self, weak link] reason in
            guard let self, let link else { return }
            self.closed(link, key: key, reason: reason)
        }
        // A link that has not identified itself in time is dropped (a slow handshake or a silent peer).
        let deadline = LoopTimer(loop: core.loop) { [weak link] in
            guard let link, link.host == nil else { return }
            link.connection.close(reason: "no report within \(self.settings.identifyTimeoutMillis) ms")
        }
        deadline.schedule(afterMillis: settings.identifyTimeoutMillis)
        identifyTimers[key] = deadline
    }

    private var identifyTimers: [ObjectIdentifier: LoopTimer] = [:]

    // MARK: hooks of the forwarding services (``ControlForwarder``, ``DemandRelay``)

    /// `forward/*` messages of an identified link.
    var onForwardMessage: ((PublisherLink, String, JSONValue) -> Void)?
    /// A link identified its host (called once per link).
    var onLinkIdentified: ((PublisherLink) -> Void)?
    /// An identified link ended (its host is the link's).
    var onLinkClosed: ((PublisherLink) -> Void)?

    /// The open, identified link of `host`, if any.
    func link(for host: String) -> PublisherLink? {
        links.values.first { $0.host == host && $0.connection.isOpen }
    }

    /// Whether `host` publishes here (connected, stale or not expired yet).
    func isKnown(_ host: String) -> Bool { hosts[host] != nil }

    /// Every open, identified link.
    var identifiedLinks: [PublisherLink] { links.values.filter { $0.host != nil && $0.connection.isOpen } }

    private func forwarded(_ link: PublisherLink, _ method: String, _ params: JSONValue) {
        guard link.host != nil else { return refuse(link, "\(method) before the link named its host") }
        onForwardMessage?(link, method, params)
    }

    private func closed(_ link: PublisherLink, key: ObjectIdentifier, reason: String) {
        links[key] = nil
        identifyTimers[key]?.cancel()
        identifyTimers[key] = nil
        if !link.receivedAny {
            handshakeFailures &+= 1
            let detail = TLSContext.lastError(of: link.connection).map { " (\($0))" } ?? ""
            logger.info("publisher \(link.connection.peer) went away before sending anything: \(reason)\(detail)")
        }
        if link.host != nil { onLinkClosed?(link) }
        guard let host = link.host, var state = hosts[host] else { return }
        // Another link may already speak for the host (a publisher that reconnected first).
        if !links.values.contains(where: { $0.host == host }) {
            state.connected = false
            hosts[host] = state
        }
        logger.info("publisher \(host) disconnected: \(reason)")
    }

    private func refuse(_ link: PublisherLink, _ reason: String) {
        refused &+= 1
        lastRefusal = "\(link.connection.peer): \(reason)"
        logger.warning("refusing publisher \(link.connection.peer): \(reason)")
        link.refuse(reason)
    }

    private func handle(_ link: PublisherLink, _ method: String, _ params: JSONValue, _ size: Int) {
        guard let host = params["host"]?.stringValue, !host.isEmpty, host.utf8.count <= 253,
              let revision = params["revision"]?.intValue else {
            refuse(link, "\(method) without host and revision")
            return
        }
        if let known = link.host {
            guard known == host else { return refuse(link, "this connection speaks for \(known), not \(host)") }
        } else {
            guard TLSContext.peer(link.connection, isNamed: host) else {
                let name = TLSContext.peerCommonName(of: link.connection) ?? "?"
                return refuse(link, "certificate of \(name) does not name host \(host)")
            }
            guard host != topology.hostID else { return refuse(link, "\(host) is the aggregator's own host") }
            for other in links.values where other !== link && other.host == host {
                other.connection.close(reason: "replaced by a new connection of \(host)")
            }
            link.host = host
            identifyTimers.removeValue(forKey: ObjectIdentifier(link))?.cancel()
            logger.info("publisher \(host) connected from \(link.connection.peer)")
            onLinkIdentified?(link)
        }
        let message: MergeMessage
        switch method {
        case ReportPublishNotification.method, ReportDeltaNotification.method:
            guard params["encoding"]?.stringValue == ReportPublishNotification.zlibStream else {
                return refuse(link, "\(method) needs encoding zlib-stream")
            }
            guard let data = params["data"]?.stringValue else { return refuse(link, "\(method) without data") }
            if method == ReportPublishNotification.method {
                message = .full(revision: revision, data: data)
            } else {
                guard let base = params["base"]?.intValue else { return refuse(link, "report/delta without base") }
                message = .delta(base: base, revision: revision, data: data)
            }
        case ReportHeartbeatNotification.method:
            message = .heartbeat(revision: revision)
        default:
            return refuse(link, "unknown method \(method)")
        }
        let refresh = min(max(Int(params["refreshMs"]?.intValue ?? 1000), 50), 60_000)
        // A known host is heard from now; a new one is counted once its first message was accepted (handled).
        var wasStale = false
        if var state = hosts[host] {
            heard(&state, refresh: refresh, message, size: size)
            wasStale = state.stale
            state.stale = false
            hosts[host] = state
        }
        enqueue(link, host: host, message, size: size, refresh: refresh, wasStale: wasStale)
    }

    private func heard(_ state: inout RemoteHost, refresh: Int, _ message: MergeMessage, size: Int) {
        let now = monotonicMillis()
        state.refreshMillis = refresh
        state.lastSeen = now
        state.connected = true
        state.traffic.count(size, now: now)
        if case .heartbeat = message { state.heartbeats &+= 1 }
    }

    /// Hands a message to the merge queue (in arrival order); a link with ``maxInFlightPerLink`` messages there
    /// is not read until one is done, so a slow aggregator slows its publishers through TCP.
    private func enqueue(_ link: PublisherLink, host: String, _ message: MergeMessage, size: Int, refresh: Int, wasStale: Bool) {
        link.inFlight += 1
        if link.inFlight >= Self.maxInFlightPerLink { link.connection.setReading(false) }
        let inflater = link.inflater
        let bound = LoopBound((self, link), loop: core.loop)
        let loop = core.loop
        merges.submit { merger in
            if wasStale { merger.setStale(host, false, at: 0) }
            let result = message.apply(host: host, merger: merger, inflater: inflater)
            if case .failure = result { inflater?.fail() }  // nothing after a refused message is applied
            let summary = merger.summary(host)
            loop.execute {
                let (aggregator, link) = bound.value
                aggregator.handled(link, host: host, message, result, summary: summary, size: size, refresh: refresh)
            }
        }
    }

    /// A message was handled on the merge queue: answer the publisher and count.
    private func handled(_ link: PublisherLink, host: String, _ message: MergeMessage,
                         _ result: Result<HostMerger.Outcome, ReportWireError>,
                         summary: (revision: Int64, nodes: Int)?, size: Int, refresh: Int) {
        link.inFlight -= 1
        guard link.connection.isOpen else { return }
        if link.inFlight < Self.maxInFlightPerLink { link.connection.setReading(true) }
        if hosts[host] == nil, case .success(.ack) = result {
            guard hosts.count < Self.maxHosts else {
                merges.submit { $0.remove(host) }
                return refuse(link, "already \(Self.maxHosts) hosts")
            }
            var state = RemoteHost(host: host, refreshMillis: refresh, now: monotonicMillis())
            heard(&state, refresh: refresh, message, size: size)
            hosts[host] = state
        }
        if var state = hosts[host] {
            state.revision = summary?.revision ?? -1
            state.nodes = summary?.nodes ?? 0
            switch (message, result) {
            case (.full, .success(.ack)):
                state.fullReports &+= 1
                state.fullBytes &+= UInt64(size)
            case (.delta, .success(.ack)):
                state.deltas &+= 1
                state.deltaBytes &+= UInt64(size)
            case (_, .success(.resend)): state.resends &+= 1
            case (_, .success(.ignored)): state.ignored &+= 1
            default: break
            }
            hosts[host] = state
        }
        switch result {
        case .failure(let error): refuse(link, "bad report: \(error)")
        case .success(.ack(let revision)): link.notify(ReportAckNotification(revision: revision))
        case .success(.resend(let held)):
            logger.info("publisher \(host): gap at revision \(held), asking for a full report")
            link.notify(ReportResendNotification(revision: held))
        case .success(.ignored): break
        }
    }

    /// Marks silent hosts stale and drops expired ones. A host whose messages wait on our merge queue is not
    /// silent: we stopped reading it (backpressure).
    private func checkAges() {
        let busy = Set(links.values.compactMap { $0.inFlight > 0 ? $0.host : nil })
        merges.age(&hosts, settings: settings, busy: busy, logger: logger)
    }

    private func healthJSON() -> JSONValue {
        let now = monotonicMillis()
        let stale = hosts.values.filter(\.stale).count
        var health: [String: JSONValue] = [
            "state": .string("ok"), "address": .string(address),
            "summary": .string("\(hosts.count) hosts (\(stale) stale), \(links.count) connections"),
            "connections": .int(Int64(links.count)), "refused": .int(Int64(refused)),
            "handshakeFailures": .int(Int64(handshakeFailures)),
            "mergeBacklog": .int(Int64(merges.waiting)), "mergeMillis": .double(merges.busyMillis.rounded()),
            "hosts": .object(hosts.mapValues { $0.json(now: now) }),
            "links": .array(links.values.map { link in
                ["host": .string(link.host ?? "?"), "bytesIn": .int(Int64(link.connection.bytesIn)),
                 "tlsPending": .int(Int64(TLSContext.pendingBytes(of: link.connection))),
                 "inFlight": .int(Int64(link.inFlight))]
            }),
        ]
        if let lastRefusal { health["lastError"] = .string(lastRefusal) }
        return .object(health)
    }
}
