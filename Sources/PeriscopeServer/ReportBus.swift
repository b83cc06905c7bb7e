import CPeriscopeNATS
import Dispatch
import Glibc
import Logging
import PeriscopeEventLoop
import PeriscopeProtocol
import PeriscopeSystem
import PeriscopeTopology
import Synchronization

/// The report bus (`--bus URLS`, issue 15): publishes this host's report to a NATS JetStream stream, and with
/// `--aggregate` consumes every host's reports from it into a ``RemoteHostTable`` (the aggregator's merge path),
/// so any number of aggregators serve the same map and a new one catches up from the stream alone.
///
/// Publishing: to `<prefix>.<host id>` whenever this host's own report changes (``TopologyService/localRevision``)
/// (at most one per ``MultiHostConfiguration/minimumSendGapMillis``) and at least once per refresh interval, which
/// is also the liveness signal: a full report (``ReportWire`` encoding: the report JSON, zlib-compressed), then
/// revisioned deltas from the last revision published (``ReportDelta``, as on the direct link; an unchanged report
/// is an empty delta), and a full report again every ``fullEvery`` messages (the stream's per-host retention, so
/// the newest full report is always in it), when half the stream's max age passed since the last, and after a
/// reconnect or a publish JetStream did not acknowledge. Publishes are asynchronous; while
/// ``BusConfiguration/maxPendingPublishes`` wait for JetStream's acknowledgement, or the connection is down,
/// reports are skipped (the next delta spans them).
///
/// Consuming: an ephemeral consumer, replicated like the stream, that starts with every message the stream holds,
/// then follows it; after a reconnect, or when nothing arrived for five refresh intervals (10 s at least) although
/// this daemon publishes, it is made again from the next sequence. Messages are inflated, parsed and checked off
/// the loop (``BusChannel``: a full report supersedes what of its host waits undecoded) and applied through the
/// ``RemoteHostTable``; a delta that does not follow the revision held (a gap) leaves the host waiting for its next
/// full report. While the bus is down, hosts do not age: the map stays as it was and status says so.
///
/// Blocking client calls (connect, stream, subscribe) run on ``setupQueue``, and the client figures that take its
/// connection lock on ``statsQueue`` (the loop reads only lock-free counters and the last figures read): the loop
/// never waits for the client's threads, whatever the servers do. The socket is served by the loop (the client's
/// libevent adapter). - Important: loop thread only, except where stated.
final class ReportBus {
    private let core: ServerCore
    private unowned let topology: TopologyService
    private let settings: BusConfiguration
    private let multiHost: MultiHostConfiguration
    private let table: RemoteHostTable?
    private let logger = Logger(label: "periscope.bus")
    private let setupQueue = DispatchQueue(label: "periscope.bus.setup")
    private let encodeQueue = DispatchQueue(label: "periscope.bus.encode")
    private let statsQueue = DispatchQueue(label: "periscope.bus.stats")
    /// A read of the client's figures is under way on ``statsQueue``.
    private var readingFigures = false
    private let channel: BusChannel
    private let subject: String
    private var connection = "connecting"
    private var streamReady = false
    private var subscribed = false
    private var lastError: String?
    private var lastErrorAt = 0.0
    private var disconnects: UInt64 = 0
    private var downSince: Double?
    private var sentRevision: Int64 = -1
    /// The report last published (the base of the next delta); `nil`: a full report is next.
    private var sentReport: Report?
    /// Messages per full report, and the longest a full report may be the newest, ms (0: no limit): from the
    /// stream's retention, read when it is ready.
    private var fullEvery = 1
    private var fullAgeLimitMillis = 0.0
    private var sinceFull = 0
    private var lastFull = 0.0
    /// JetStream's count of unacknowledged publishes when the last one was encoded: a rise makes the next a full report.
    private var seenPublishErrors: UInt64 = 0
    private var fullReports: UInt64 = 0
    private var deltas: UInt64 = 0
    private var lastSend = 0.0
    private var encoding = false
    private var published: UInt64 = 0
    private var skipped: UInt64 = 0
    private var outRate = ByteRate()
    private var messagesOut = ByteRate()
    private var refused: UInt64 = 0
    private var resubscribes: UInt64 = 0
    private var subscribedAt = 0.0
    private var closed = false
    private lazy var sendTimer = LoopTimer(loop: core.loop) { [unowned self] in self.trySend() }
    private var tickTimer: LoopTimer?
    /// Stream and consumer setup retries with doubling waits (250 ms to 5 s).
    private lazy var retryTimer = LoopTimer(loop: core.loop) { [unowned self] in self.prepare() }
    private var attempts = 0
    /// A stream or consumer setup is under way on the setup queue.
    private var preparing = false
    /// Login refusals since the bus was last connected: the next attempt waits ``BusConfiguration/refusalWaitMillis(after:)``.
    private var refusals = 0
    /// Monotonic ms of the next login attempt after a refusal (nil: none scheduled).
    private var retryAt: Double?
    private lazy var reopenTimer = LoopTimer(loop: core.loop) { [unowned self] in self.reopen() }

    init(core: ServerCore, topology: TopologyService, settings: BusConfiguration, multiHost: MultiHostConfiguration) throws {
        if let violation = BusConfiguration.subjectViolation(host: topology.hostID) { throw ServerError("--bus: \(violation)") }
        self.core = core
        self.topology = topology
        self.settings = settings
        self.multiHost = multiHost
        subject = "\(settings.subjectPrefix).\(topology.hostID)"
        table = settings.aggregate ? RemoteHostTable(core: core, topology: topology, settings: multiHost, logger: logger) : nil
        channel = BusChannel(loop: core.loop, ownSubject: subject, prefix: settings.subjectPrefix + ".")
        channel.bus = self
        if let table {
            if let log = topology.history?.log, log.status.enabled {
                channel.backfill = BusBackfill(log: log, settings: multiHost)
            }
            channel.mergeBacklog = table.mergeBacklog
            table.waitingHosts = { [channel] in channel.waitingHosts }
        }
        topology.onReport.append { [unowned self] _, _ in self.trySend() }
        core.health["bus"] = { [unowned self] in self.healthJSON() }
        core.endpoints.append("bus:\(settings.urls ?? "")")
        tickTimer = LoopTimer(loop: core.loop) { [unowned self] in self.tick() }
        tickTimer?.scheduleRepeating(everyMillis: core.configuration.refreshMillis)
        connect()
    }

    // MARK: Connection (setup queue)

    private func connect() {
        let options = settings
        let name = "periscoped \(topology.hostID)"
        _ = Unmanaged.passRetained(channel)  // released never: a late client callback may still use it
        let channel = channel
        setupQueue.async {
            let base = UnsafeMutableRawPointer(channel.loop.base)  // a constant; only the client's adapter uses it
            let context = Unmanaged.passUnretained(channel).toOpaque()
            var error = [CChar](repeating: 0, count: 512)
            let bus = withCStrings([options.urls, name, options.credsFile, options.token, options.tlsCA,
                                    options.tlsCertificate, options.tlsKey]) { strings in
                var c = periscope_bus_options(
                    urls: strings[0], name: strings[1], creds_file: strings[2], token: strings[3], tls_ca: strings[4],
                    tls_cert: strings[5], tls_key: strings[6], event_base: base,
                    reconnect_wait_ms: Int32(options.reconnectWaitMillis), max_pending_publishes: Int32(options.maxPendingPublishes))
                return periscope_bus_connect(&c, busEvent, context, &error, error.count)
            }
            guard let bus else {
                channel.onLoop { $0.failed(String(nulTerminated: error)) }
                return
            }
            channel.handle.withLock { $0 = BusHandle(pointer: bus) }
            channel.onLoop { $0.prepare() }
        }
    }

    /// Makes sure the stream exists and (aggregating) subscribes, retrying on the setup queue until it works.
    private func prepare() {
        guard !closed, !preparing, connection != "refused" else { return }
        preparing = true
        let options = settings
        let aggregate = table != nil
        let start = channel.nextSequence
        let channel = channel
        setupQueue.async {
            guard let bus = channel.handle.withLock({ $0 })?.pointer else { return channel.onLoop { $0.preparing = false } }
            let context = Unmanaged.passUnretained(channel).toOpaque()
            var error = [CChar](repeating: 0, count: 512)
            var kept: Int64 = 0, keptMillis: Int64 = 0
            var ok = periscope_bus_ensure_stream(bus, options.stream, options.subjectPrefix + ".>", Int32(options.replicas),
                                                 Int64(options.maxAgeSeconds) * 1000, Int64(options.keepPerHost),
                                                 &kept, &keptMillis, &error, error.count) == 0
            var subscribedNow = false
            if ok, aggregate {
                channel.backfill?.consumerMade(at: SystemClock.realtime())
                ok = periscope_bus_subscribe(bus, options.stream, options.subjectPrefix + ".>", start, Int32(options.replicas),
                                             busMessage, context,
                                             &error, error.count) == 0
                subscribedNow = ok
            }
            let message = ok ? nil : String(nulTerminated: error)
            channel.onLoop { bus in
                bus.preparing = false
                if let message {
                    bus.record(message)
                    bus.logger.warning("bus: \(message); retrying")
                    bus.retryTimer.schedule(afterMillis: min(5000, 250 << min(bus.attempts, 5)))
                    bus.attempts += 1
                    return
                }
                bus.streamReady = true
                bus.readFigures()
                bus.attempts = 0
                bus.fullEvery = BusConfiguration.fullEvery(kept: kept)
                bus.fullAgeLimitMillis = Double(keptMillis) / 2
                if subscribedNow {
                    bus.subscribed = true
                    bus.subscribedAt = monotonicMillis()
                    bus.logger.info("consuming \(options.stream) from \(start > 0 ? "sequence \(start)" : "the last report of every host")")
                }
                bus.trySend()
            }
        }
    }

    /// The servers refused the login (a token or credentials they do not accept): the client gave up, so the
    /// next attempt is ours, after a wait that doubles with every refusal (``BusConfiguration/refusalWaitMillis(after:)``),
    /// so that a refused daemon does not hammer the servers; the local map is served meanwhile.
    func refused(_ message: String) {
        guard !closed else { return }
        connection = "refused"
        streamReady = false
        subscribed = false
        if downSince == nil { downSince = monotonicMillis() }
        table?.agingPaused = true
        record(message)
        let wait = BusConfiguration.refusalWaitMillis(after: refusals)
        refusals += 1
        retryAt = monotonicMillis() + Double(wait)
        reopenTimer.schedule(afterMillis: wait)
        logger.warning("bus: \(message); trying again in \(wait / 1000) s")
    }

    /// Logs in again after a refusal (the credentials file is read again), on the setup queue.
    private func reopen() {
        guard !closed, connection == "refused" else { return }
        retryAt = nil
        let channel = channel
        setupQueue.async {
            guard let bus = channel.handle.withLock({ $0 })?.pointer else { return }
            var error = [CChar](repeating: 0, count: 512)
            let result = periscope_bus_reopen(bus, &error, error.count)
            let message = String(nulTerminated: error)
            channel.onLoop { bus in
                guard result == 0 else { return bus.refused(message) }
                if bus.connection == "refused" { bus.connection = "connecting" }  // retrying in the background
                bus.prepare()
            }
        }
    }

    func failed(_ message: String) {
        record(message)
        connection = "closed"
        logger.error("bus: \(message)")
    }

    func event(_ kind: Int32, _ detail: String?) {
        switch kind {
        case 1, 3:
            connection = "connected"
            readFigures()  // the server connected to, for status
            refusals = 0
            if let since = downSince { logger.info("bus connected again after \(Int(monotonicMillis() - since)) ms") }
            downSince = nil
            table?.agingPaused = false
            sentReport = nil  // what was in flight when the connection went may be lost: start again from a full report
            if kind == 3, table != nil, streamReady { resubscribe("reconnected") }
            trySend()
        case 2:
            connection = "reconnecting"
            disconnects &+= 1
            if downSince == nil { downSince = monotonicMillis() }
            table?.agingPaused = true
            record("disconnected from the bus\(detail.map { ": \($0)" } ?? "")")
            logger.warning("bus disconnected\(detail.map { ": \($0)" } ?? "")\(table == nil ? "" : "; serving the last map")")
        case 4:
            connection = "closed"
        case 6:
            refused(detail ?? "refused")
        default:
            if let detail { record(detail) }
        }
    }

    private func resubscribe(_ why: String) {
        resubscribes &+= 1
        subscribed = false
        logger.info("bus consumer made again (\(why)) from sequence \(channel.nextSequence)")
        prepare()
    }

    private func record(_ error: String) {
        lastError = error
        lastErrorAt = SystemClock.realtime()
    }

    // MARK: Publishing

    /// Publishes the newest local report (a delta from the last one published, or a full report when one is due)
    /// if it is new or a refresh interval old, the gap allows, and the bus has room.
    private func trySend() {
        guard !closed, streamReady, !encoding, connection == "connected", let report = topology.localReport else { return }
        let revision = topology.localRevision  // not `revision`: that moves with every remote report too
        let refresh = core.configuration.refreshMillis
        let now = monotonicMillis()
        let since = now - lastSend
        guard revision != sentRevision || since >= Double(refresh) * 0.9 else { return }
        let wait = Double(multiHost.minimumSendGapMillis) - since
        if wait > 0 {
            if !sendTimer.isPending { sendTimer.schedule(afterMillis: Int(wait.rounded(.up))) }
            return
        }
        var stats = periscope_bus_stats()
        if let bus = channel.handle.withLock({ $0 })?.pointer { periscope_bus_get_counters(bus, &stats) }
        if stats.publish_errors != seenPublishErrors {  // a message may be missing: deltas after it would not apply
            seenPublishErrors = stats.publish_errors
            sentReport = nil
        }
        let fullDue = sinceFull + 1 >= fullEvery || (fullAgeLimitMillis > 0 && now - lastFull >= fullAgeLimitMillis)
        let base = fullDue ? nil : sentReport
        let baseRevision = base == nil ? -1 : sentRevision
        encoding = true
        lastSend = now
        let subject = subject
        let channel = channel
        encodeQueue.async {
            guard let bus = channel.handle.withLock({ $0 })?.pointer else { return channel.onLoop { $0.encoding = false } }
            let data = base.map { ReportWire.deflate(ReportDelta(from: $0, to: report).wireJSON) } ?? ReportWire.compress(report)
            var error = [CChar](repeating: 0, count: 256)
            let result = data.withUnsafeBufferPointer { buffer in
                periscope_bus_publish(bus, subject, buffer.baseAddress, Int32(buffer.count), revision, baseRevision,
                                      Int64(refresh), &error, error.count)
            }
            let message = result < 0 ? String(nulTerminated: error) : nil
            channel.onLoop { bus in
                bus.encoding = false
                switch result {
                case 0:
                    bus.sentRevision = revision
                    bus.sentReport = report
                    bus.published &+= 1
                    if base == nil {
                        bus.fullReports &+= 1
                        bus.sinceFull = 0
                        bus.lastFull = monotonicMillis()
                    } else {
                        bus.deltas &+= 1
                        bus.sinceFull += 1
                    }
                    let now = monotonicMillis()
                    bus.outRate.count(data.count, now: now)
                    bus.messagesOut.count(1, now: now)
                case 1: bus.skipped &+= 1
                default:
                    bus.sentReport = nil
                    bus.record(message ?? "publish failed")
                }
                if result == 0 { bus.trySend() }  // a newer revision may have arrived while this one was encoded
            }
        }
    }

    /// Every refresh interval: publish (the liveness signal), and check that the consumer still delivers.
    private func tick() {
        readFigures()
        trySend()
        guard subscribed, connection == "connected" else { return }
        let silence = monotonicMillis() - max(channel.counters.withLock { $0.lastDelivery }, subscribedAt)
        if silence > max(10_000, 5 * Double(core.configuration.refreshMillis)), published > 0 {
            resubscribe("nothing delivered for \(Int(silence)) ms")
        }
    }

    /// Reads the client's figures (connection state, reconnects, server) on ``statsQueue`` into the channel, for
    /// status; one read at a time, so a client stuck reconnecting holds up only the figures.
    private func readFigures() {
        guard !readingFigures, !closed else { return }
        readingFigures = true
        let channel = channel
        statsQueue.async {
            if let bus = channel.handle.withLock({ $0 })?.pointer {
                var stats = periscope_bus_stats()
                periscope_bus_get_stats(bus, &stats)
                let server = withUnsafeBytes(of: stats.server) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
                channel.link.withLock { $0 = BusLinkFigures(reconnects: stats.reconnects, server: server) }
            }
            channel.onLoop { $0.readingFigures = false }
        }
    }

    // MARK: Consuming (decoded on the delivery thread, installed here)

    /// Decoded messages of one host (or a refusal), in stream order.
    func delivered(_ deliveries: [BusDelivery]) {
        for delivery in deliveries {
            let age = max(0, SystemClock.realtime() - delivery.storedSeconds) * 1000
            switch delivery.content {
            case .refused(let host, let reason):
                refused &+= 1
                record("refused a report of \(host): \(reason)")
                logger.warning("bus: refused a report of \(host): \(reason)")
            case .report(let host, let report):
                table?.install(report, host: host, revision: delivery.revision, refresh: delivery.refreshMillis,
                               size: delivery.size, ageMillis: age)
            case .delta(let host, let base, let delta):
                table?.apply(delta, host: host, base: base, revision: delivery.revision, refresh: delivery.refreshMillis,
                             size: delivery.size, ageMillis: age)
            }
        }
    }

    /// Closes the connection before the loop's base is freed. Loop thread.
    func close() {
        guard !closed else { return }
        closed = true
        tickTimer?.cancel()
        sendTimer.cancel()
        retryTimer.cancel()
        reopenTimer.cancel()
        // Taken away first: work queued from now on finds no client; then the work in progress ends.
        let handle = channel.handle.withLock { handle -> BusHandle? in
            defer { handle = nil }
            return handle
        }
        setupQueue.sync {}  // no connect or subscribe in progress
        encodeQueue.sync {}
        statsQueue.sync {}
        if let bus = handle?.pointer { periscope_bus_close(bus) }
    }

    private func healthJSON() -> JSONValue {
        var stats = periscope_bus_stats()
        if let bus = channel.handle.withLock({ $0 })?.pointer { periscope_bus_get_counters(bus, &stats) }
        let link = channel.link.withLock { $0 }
        let now = monotonicMillis()
        let up = connection == "connected" && streamReady && (table == nil || subscribed)
        let server = connection == "connected" ? link.server : ""
        var summary = up ? "connected to \(server), stream \(settings.stream)" : "bus \(connection)"
        if let downSince { summary += " for \(Int((now - downSince) / 1000)) s" }
        if let retryAt { summary += ", login refused \(refusals)×, trying again in \(Int(((retryAt - now) / 1000).rounded(.up))) s" }
        if !up, table != nil { summary += "; serving the last map (\(table?.summary ?? ""))" }
        var health: [String: JSONValue] = [
            "state": .string(up ? "ok" : "degraded"), "summary": .string(summary),
            "connection": .string(connection), "servers": .string(settings.urls ?? ""), "server": .string(server),
            "stream": .string(settings.stream), "streamReady": .bool(streamReady), "subject": .string(subject),
            "role": .string(table == nil ? "publisher" : "publisher+aggregator"),
            "disconnects": .int(Int64(disconnects)), "reconnects": .int(Int64(link.reconnects)),
            "published": .int(Int64(published)), "fullReportsPublished": .int(Int64(fullReports)),
            "deltasPublished": .int(Int64(deltas)), "fullEvery": .int(Int64(fullEvery)), "publishSkipped": .int(Int64(skipped)),
            "acknowledged": .int(Int64(stats.acked)), "publishErrors": .int(Int64(stats.publish_errors)),
            "inFlight": .int(Int64(stats.in_flight)),
            "messagesOutPerSecond": .double(messagesOut.perSecond(now: now)), "bytesOutPerSecond": .double(outRate.perSecond(now: now)),
        ]
        if let downSince { health["downMillis"] = .int(Int64(now - downSince)) }
        if refusals > 0 { health["refusals"] = .int(Int64(refusals)) }
        if let retryAt { health["retryInSeconds"] = .double(max(0, (retryAt - now) / 1000)) }
        let counters = channel.counters.withLock { $0 }
        health["messagesInPerSecond"] = .double(counters.messages.perSecond(now: now))
        health["bytesInPerSecond"] = .double(counters.bytes.perSecond(now: now))
        if let table {
            var consumer: [String: JSONValue] = [
                "subscribed": .bool(subscribed), "lastSequence": .int(Int64(channel.nextSequence) - 1),
                "lag": .int(Int64(counters.pending)), "received": .int(Int64(counters.received)),
                "coalesced": .int(Int64(counters.coalesced)), "skippedDeltas": .int(Int64(counters.skippedDeltas)),
                "refused": .int(Int64(refused)),
                "resubscribes": .int(Int64(resubscribes)),
            ]
            consumer["backfill"] = channel.backfill?.json
            health["consumer"] = .object(consumer)
            health["hosts"] = table.hostsJSON()
            health["servingLastMap"] = .bool(!up)
        }
        if let lastError {
            health["lastError"] = .string(lastError)
            health["lastErrorAt"] = .double(lastErrorAt)
        }
        return .object(health)
    }
}

/// Calls `body` with C strings for `values` (NULL for nil), valid during the call.
private func withCStrings<R>(_ values: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let pointers: [UnsafeMutablePointer<CChar>?] = values.map { $0.flatMap { strdup($0) } }
    defer { for pointer in pointers { free(pointer) } }
    return body(pointers.map { $0.map { UnsafePointer($0) } })
}
