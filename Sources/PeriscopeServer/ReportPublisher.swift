import Dispatch
import Logging
import PeriscopeEventLoop
import PeriscopeProtocol
import PeriscopeSystem
import PeriscopeTopology

/// The publisher role (`--publish HOST:PORT`): sends this host's report to an aggregator over mutual TLS.
///
/// On every connection the full report goes first; then, whenever the revision changes — at most once per
/// ``MultiHostConfiguration/minimumSendGapMillis`` — a revisioned delta from the last revision sent (``ReportDelta``:
/// changed nodes whole, removed ids), and a small heartbeat when a refresh interval passes without one, so the
/// aggregator can tell silence from an idle host. Reports are encoded and
/// compressed on a queue. Backpressure: while more than ``MultiHostConfiguration/publisherOutputLimit``
/// bytes wait for the aggregator, nothing more is queued; intermediate revisions are skipped and the newest
/// is sent once the output drains as one delta from the last revision sent (coalescing, never an unbounded queue).
/// When the aggregator asks (`report/resend`: a gap, it lacks the base of our deltas) the full report is sent again. Lost connections are retried with
/// doubling backoff.
///
/// - Important: loop thread only, except the encode queue it owns.
final class ReportPublisher {
    private let core: ServerCore
    private unowned let topology: TopologyService
    private let settings: MultiHostConfiguration
    private let tls: TLSContext
    private let host: String
    private let port: UInt16
    private var connection: Connection?
    private var decoder = FrameDecoder(maxMessageSize: ReportPublisher.maxIncomingFrame, maxHeaderSize: 1024, mode: .headers)
    private var sentRevision: Int64 = -1
    /// The report as the aggregator will hold it once it has read everything sent (`nil`: a full report is next).
    private var sentReport: Report?
    /// Bumped by every `report/resend`: a delta encoded before it must not become the base of the next one.
    private var resyncs: UInt64 = 0
    private var fullReportsSent: UInt64 = 0
    private var deltasSent: UInt64 = 0
    private var encoding = false
    private var lastSend = 0.0
    private var backoff: Int
    private lazy var reconnectTimer = LoopTimer(loop: core.loop) { [unowned self] in self.connect() }
    private lazy var sendTimer = LoopTimer(loop: core.loop) { [unowned self] in self.trySend() }
    private var heartbeatTimer: LoopTimer?
    private let encodeQueue = DispatchQueue(label: "periscope.publish")
    private let logger = Logger(label: "periscope.publisher")
    private var connects: UInt64 = 0
    private var reportsSent: UInt64 = 0
    private var heartbeatsSent: UInt64 = 0
    private var skipped: UInt64 = 0
    private var acked: Int64 = -1
    private var lastError: String?
    private var traffic = ByteRate()
    /// This connection's compression stream (a new one per connection: the aggregator's inflater starts fresh).
    private var deflater: ZlibStream?
    /// Monotonic ms of the last bytes from the aggregator (acks answer every report and heartbeat).
    private var lastHeard = 0.0
    /// Whether a report went out on this connection (until then, silence from the aggregator is expected).
    private var sentOnConnection = false
    /// Silence after which the aggregator is given up on: 5 refresh intervals, at least 3 s.
    private var silenceLimitMillis: Double { max(3000, 5 * Double(core.configuration.refreshMillis)) }

    /// Largest frame taken from the aggregator (acks are small; forwarded `pipe/write` data is up to 1 MiB + base64).
    static let maxIncomingFrame = 4 << 20

    // MARK: hooks of the forwarding service (``ForwardedCalls``)

    /// Messages from the aggregator besides acks, resends and refusals (`forward/*`, `report/demand`).
    var onAggregatorMessage: ((String, JSONValue?) -> Void)?
    /// The link to the aggregator ended.
    var onLinkLost: (() -> Void)?
    /// The aggregator's address, `host:port`.
    var aggregatorAddress: String { "\(host):\(port)" }
    /// Bytes waiting unsent towards the aggregator (0 without a link).
    var linkOutputBuffered: Int { connection?.outputBufferedCount ?? 0 }
    /// Bytes the aggregator's side has taken on the current link.
    var linkBytesDrained: UInt64 { connection?.bytesDrained ?? 0 }

    /// Sends a report-port notification on the current link; false when there is none.
    @discardableResult
    func sendToAggregator<N: RPCNotification>(_ notification: N) -> Bool {
        guard let connection, connection.isOpen else { return false }
        write(FrameEncoder.frame(notification.message.json, mode: .headers), on: connection)
        return true
    }

    init(core: ServerCore, topology: TopologyService, settings: MultiHostConfiguration, tls: TLSContext, target: String) throws {
        self.core = core
        self.topology = topology
        self.settings = settings
        self.tls = tls
        (host, port) = try SocketAddress.splitHostPort(target)
        backoff = settings.reconnectInitialMillis
        topology.onReport.append { [unowned self] _, _ in self.trySend() }
        core.health["publisher"] = { [unowned self] in self.healthJSON() }
        core.endpoints.append("publish:\(host):\(port)")
        heartbeatTimer = LoopTimer(loop: core.loop) { [unowned self] in self.heartbeat() }
        heartbeatTimer?.scheduleRepeating(everyMillis: core.configuration.refreshMillis)
        connect()
    }

    private func connect() {
        guard connection == nil, !core.isShuttingDown else { return }
        let connection: Connection
        do { connection = try tls.connect(host: host, port: port) } catch {
            lastError = "\(error)"
            scheduleReconnect()
            return
        }
        connects &+= 1
        lastHeard = monotonicMillis()
        deflater = ZlibStream(deflating: true)
        self.connection = connection
        decoder = FrameDecoder(maxMessageSize: Self.maxIncomingFrame, maxHeaderSize: 1024, mode: .headers)
        sentRevision = -1
        sentReport = nil
        sentOnConnection = false
        acked = -1
        connection.lowWaterMark = settings.publisherOutputLimit / 2
        connection.onRead = { [weak self] bytes in self?.received(bytes) }
        connection.onWritable = { [unowned self] in self.trySend() }
        connection.onClose = { [unowned self, unowned connection] reason in
            guard self.connection === connection else { return }
            self.connection = nil
            self.lastError = TLSContext.lastError(of: connection).map { "\(reason) (\($0))" } ?? reason
            self.logger.info("aggregator \(self.host):\(self.port) connection ended: \(self.lastError ?? reason)")
            self.scheduleReconnect()
            self.onLinkLost?()
        }
        trySend()
    }

    private func scheduleReconnect() {
        reconnectTimer.schedule(afterMillis: backoff)
        backoff = min(settings.reconnectMaximumMillis, backoff * 2)
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        lastHeard = monotonicMillis()
        decoder.append(bytes)
        while let connection, connection.isOpen {
            let body: [UInt8]
            do {
                guard let next = try decoder.next() else { return }
                body = next
            } catch {
                connection.close(reason: "aggregator broke the framing: \(error.message)")
                return
            }
            guard let message = try? JSONParser(maxDepth: 8).parse(body), let method = message["method"]?.stringValue else { continue }
            let params = message["params"]
            switch method {
            case ReportAckNotification.method:
                acked = (try? ReportAckNotification(params: params))?.revision ?? acked
                backoff = settings.reconnectInitialMillis  // a working link: the next loss starts over quickly
            case ReportResendNotification.method:
                sentRevision = -1
                sentReport = nil
                resyncs &+= 1
                trySend()
            case ReportRefusedNotification.method:
                let reason = (try? ReportRefusedNotification(params: params))?.reason ?? "no reason"
                lastError = "refused by the aggregator: \(reason)"
                logger.error("\(lastError ?? "")")
            default:
                onAggregatorMessage?(method, params)
            }
        }
    }

    /// Sends the newest local report if it is new to the aggregator, the output has room, and the gap allows.
    private func trySend() {
        guard let connection, connection.isOpen, !encoding, let report = topology.localReport else { return }
        let revision = topology.revision
        guard revision != sentRevision else { return }
        guard connection.outputBufferedCount <= settings.publisherOutputLimit else {
            skipped &+= 1  // resumes from onWritable with whatever is newest then
            return
        }
        let wait = Double(settings.minimumSendGapMillis) - (monotonicMillis() - lastSend)
        if wait > 0 {
            if !sendTimer.isPending { sendTimer.schedule(afterMillis: Int(wait.rounded(.up))) }
            return
        }
        guard let deflater else { return connection.close(reason: "zlib could not allocate a stream") }
        encoding = true
        lastSend = monotonicMillis()
        let (host, refresh, base, baseRevision, resyncs) = (topology.hostID, Int64(core.configuration.refreshMillis),
                                                             sentReport, sentRevision, self.resyncs)
        let bound = LoopBound(self, loop: core.loop)
        let loop = core.loop
        encodeQueue.async {
            // The diff and the compression run here; the loop only queues the frame.
            let frame: [UInt8]?
            if let base {
                let json = ReportDelta(from: base, to: report).wireJSON
                frame = deflater.process(json, limit: ReportWire.maxInflatedBytes).map {
                    ReportDeltaNotification(host: host, base: baseRevision, revision: revision, refreshMs: refresh,
                                            data: Base64.encode($0)).message.json
                }.map { FrameEncoder.frame($0, mode: .headers) }
            } else {
                frame = ReportWire.compress(report, on: deflater).map {
                    ReportPublishNotification(host: host, revision: revision, refreshMs: refresh, data: Base64.encode($0)).message.json
                }.map { FrameEncoder.frame($0, mode: .headers) }
            }
            loop.execute {
                let publisher = bound.value
                publisher.encoding = false
                // Only on the connection whose stream compressed it: another connection's inflater never saw it.
                guard let connection = publisher.connection, connection.isOpen, publisher.deflater === deflater else { return }
                guard let frame else { return connection.close(reason: "the compression stream broke") }
                publisher.write(frame, on: connection)  // even after a resend: the aggregator's inflater needs it
                if base == nil { publisher.fullReportsSent &+= 1 } else { publisher.deltasSent &+= 1 }
                if !publisher.sentOnConnection {  // the aggregator's silence counts from our first report
                    publisher.sentOnConnection = true
                    publisher.lastHeard = max(publisher.lastHeard, monotonicMillis())
                }
                publisher.reportsSent &+= 1
                if publisher.resyncs == resyncs {
                    publisher.sentRevision = revision
                    publisher.sentReport = report
                }
                publisher.trySend()  // a newer revision (or a resend) may have arrived meanwhile
            }
        }
    }

    /// A refresh interval without a report: tell the aggregator we are alive and at which revision. An
    /// aggregator that has acknowledged nothing for ``silenceLimitMillis`` is given up on (a dead link that TCP
    /// would take minutes to notice): the connection is closed and made again.
    private func heartbeat() {
        if let connection, connection.isOpen, sentOnConnection, monotonicMillis() - lastHeard > silenceLimitMillis {
            connection.close(reason: "the aggregator acknowledged nothing for \(Int(silenceLimitMillis)) ms")
            return
        }
        guard let connection, connection.isOpen, !encoding, sentRevision >= 0,
              monotonicMillis() - lastSend >= Double(core.configuration.refreshMillis) * 0.9,
              connection.outputBufferedCount <= settings.publisherOutputLimit else { return }
        lastSend = monotonicMillis()
        let message = ReportHeartbeatNotification(host: topology.hostID, revision: sentRevision,
                                                  refreshMs: Int64(core.configuration.refreshMillis))
        write(FrameEncoder.frame(message.message.json, mode: .headers), on: connection)
        heartbeatsSent &+= 1
    }

    private func write(_ frame: [UInt8], on connection: Connection) {
        connection.write(ArraySlice(frame))
        traffic.count(frame.count, now: monotonicMillis())
    }

    private func healthJSON() -> JSONValue {
        let connected = connection?.isOpen == true && acked >= 0
        var health: [String: JSONValue] = [
            "state": .string(connected ? "ok" : "degraded"), "aggregator": .string("\(host):\(port)"),
            "summary": .string(connected ? "publishing to \(host):\(port)" : "not connected to \(host):\(port)"),
            "connected": .bool(connected), "connects": .int(Int64(connects)),
            "reportsSent": .int(Int64(reportsSent)), "fullReportsSent": .int(Int64(fullReportsSent)),
            "deltasSent": .int(Int64(deltasSent)), "resendsAsked": .int(Int64(resyncs)), "heartbeatsSent": .int(Int64(heartbeatsSent)),
            "skippedWhileBusy": .int(Int64(skipped)), "bytesSent": .int(Int64(traffic.total)),
            "bytesPerSecond": .double(traffic.perSecond(now: monotonicMillis())), "ackedRevision": .int(acked),
            "outputQueued": .int(Int64(connection?.outputBufferedCount ?? 0)),
        ]
        if let lastError { health["lastError"] = .string(lastError) }
        return .object(health)
    }
}
