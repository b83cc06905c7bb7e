import Glibc
import Dispatch
import Logging
import PeriscopeEventLoop
import PeriscopeProtocol
import PeriscopeSystem
import PeriscopeTopology

/// The aggregator role (`--accept-reports`): accepts publishers over mutual TLS, keeps each host's newest
/// report, and hands their merge to the ``TopologyService``, which merges it with the local host's report, so
/// every view, subscription and `node/get` spans every host.
///
/// Rules: a publisher is the host its certificate names and may only report that host (``ReportWire``'s claim
/// check); staleness, expiry and the merge are the ``RemoteHostTable``'s. Reports are inflated and parsed on a
/// queue; per link only the newest waits (coalescing). A bad link is closed alone.
///
/// - Important: loop thread only, except the decode queue it owns.
final class ReportAggregator {
    private let core: ServerCore
    private unowned let topology: TopologyService
    private let settings: MultiHostConfiguration
    private let tls: TLSContext
    private var listener: Listener?
    private var links: [ObjectIdentifier: PublisherLink] = [:]
    private let table: RemoteHostTable
    private let decodeQueue = DispatchQueue(label: "periscope.aggregate")
    private let logger = Logger(label: "periscope.aggregator")
    private var address = ""
    private var refused: UInt64 = 0
    private var handshakeFailures: UInt64 = 0
    private var lastRefusal: String?
    init(core: ServerCore, topology: TopologyService, settings: MultiHostConfiguration, tls: TLSContext, listen: String) throws {
        self.core = core
        self.topology = topology
        self.settings = settings
        self.tls = tls
        table = RemoteHostTable(core: core, topology: topology, settings: settings, logger: logger)
        let (host, port) = try SocketAddress.splitHostPort(listen)
        let (fd, bound) = try SocketAddress.listenTCP(host: host, port: port)
        address = "\(host):\(bound)"
        listener = try Listener(loop: core.loop, fd: fd, address: address, port: bound) { [unowned self] fd, peer in
            self.accept(fd: fd, peer: peer)
        }
        core.endpoints.append("reports:\(address)")
        core.health["aggregator"] = { [unowned self] in self.healthJSON() }
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

    private func closed(_ link: PublisherLink, key: ObjectIdentifier, reason: String) {
        links[key] = nil
        identifyTimers[key]?.cancel()
        identifyTimers[key] = nil
        if !link.receivedAny {
            handshakeFailures &+= 1
            let detail = TLSContext.lastError(of: link.connection).map { " (\($0))" } ?? ""
            logger.info("publisher \(link.connection.peer) went away before sending anything: \(reason)\(detail)")
        }
        guard let host = link.host else { return }
        // Another link may already speak for the host (a publisher that reconnected first).
        if !links.values.contains(where: { $0.host == host }) { table.disconnected(host) }
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
        }
        let refresh = Int(params["refreshMs"]?.intValue ?? 1000)
        switch method {
        case ReportPublishNotification.method:
            guard params["encoding"]?.stringValue == ReportPublishNotification.zlibStream else {
                return refuse(link, "report/publish needs encoding zlib-stream")
            }
            guard let text = params["data"]?.stringValue, let data = Base64.decode(text) else {
                return refuse(link, "report/publish without base64 data")
            }
            // Inflated here, in order (each frame builds on the ones before); parsed on the decode queue.
            guard let json = link.inflater?.process(data, limit: ReportWire.maxInflatedBytes) else {
                return refuse(link, "bad report: not a zlib stream, or larger than \(ReportWire.maxInflatedBytes) bytes")
            }
            link.waitingReport = (revision, json, size)
            decodeNext(link, host: host, refresh: min(max(refresh, 50), 60_000))
        case ReportHeartbeatNotification.method:
            guard table.heartbeat(host: host, revision: revision, size: size) else {
                // A gap: we do not hold the revision the publisher is at. Ask for the full report.
                link.notify(ReportResendNotification(revision: table.hosts[host]?.revision ?? -1))
                return
            }
            link.notify(ReportAckNotification(revision: revision))  // lets the publisher tell a dead link from a quiet one
        default:
            refuse(link, "unknown method \(method)")
        }
    }

    /// Inflates and checks the link's newest report on the decode queue, then installs it on the loop.
    private func decodeNext(_ link: PublisherLink, host: String, refresh: Int) {
        guard !link.decoding, let (revision, json, size) = link.waitingReport else { return }
        link.waitingReport = nil
        link.decoding = true
        let bound = LoopBound((self, link), loop: core.loop)
        let loop = core.loop
        decodeQueue.async {
            let result: Result<Report, ReportWireError>
            do throws(ReportWireError) {
                let report = try ReportWire.parse(json)
                if let violation = ReportWire.claimViolation(report, host: host) { throw ReportWireError(violation) }
                result = .success(report)
            } catch { result = .failure(error) }
            loop.execute {
                let (aggregator, link) = bound.value
                link.decoding = false
                guard link.connection.isOpen else { return }
                switch result {
                case .failure(let error): aggregator.refuse(link, "bad report: \(error)")
                case .success(let report):
                    aggregator.table.install(report, host: host, revision: revision, refresh: refresh, size: size)
                    link.notify(ReportAckNotification(revision: revision))
                    aggregator.decodeNext(link, host: host, refresh: refresh)
                }
            }
        }
    }

    private func healthJSON() -> JSONValue {
        var health: [String: JSONValue] = [
            "state": .string("ok"), "address": .string(address),
            "summary": .string("\(table.summary), \(links.count) connections"),
            "connections": .int(Int64(links.count)), "refused": .int(Int64(refused)),
            "handshakeFailures": .int(Int64(handshakeFailures)),
            "hosts": table.hostsJSON(),
            "links": .array(links.values.map { link in
                ["host": .string(link.host ?? "?"), "bytesIn": .int(Int64(link.connection.bytesIn)),
                 "tlsPending": .int(Int64(TLSContext.pendingBytes(of: link.connection))),
                 "decoding": .bool(link.decoding), "waiting": .bool(link.waitingReport != nil)]
            }),
        ]
        if let lastRefusal { health["lastError"] = .string(lastRefusal) }
        return .object(health)
    }
}
