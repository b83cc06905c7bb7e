import Logging
import PeriscopeEventLoop
import PeriscopeProtocol
import PeriscopeSystem
import PeriscopeTopology

/// Every remote host an aggregator holds, and their merge: the path both the report listener
/// (``ReportAggregator``, `--accept-reports`) and the bus (``ReportBus``, `--bus --aggregate`) feed, so views,
/// subscriptions and `node/get` span hosts the same way whichever way reports arrive.
///
/// A host silent for ``MultiHostConfiguration/staleAfterIntervals`` of its own refresh intervals is marked
/// stale, and removed after ``MultiHostConfiguration/hostExpiryMillis``; a host reporting again replaces its
/// old report (ids are host-prefixed, so nothing is duplicated). While ``agingPaused`` (the bus itself is down:
/// silence says nothing about the hosts) nothing turns stale or expires.
///
/// - Important: loop thread only.
final class RemoteHostTable {
    private let core: ServerCore
    private unowned let topology: TopologyService
    private let settings: MultiHostConfiguration
    private let logger: Logger
    private(set) var hosts: [String: RemoteHost] = [:]
    /// The merge of every host's report (stale ones marked), `nil` when there is none.
    private(set) var merged: Report?
    private var timer: LoopTimer?
    /// Most hosts kept at once (a bound on memory whatever the peers send).
    static let maxHosts = 4096

    /// While true, silence does not age hosts; when it turns false every host's silence starts again from now.
    var agingPaused = false {
        didSet {
            guard oldValue, !agingPaused else { return }
            let now = monotonicMillis()
            for host in hosts.keys { hosts[host]?.lastSeen = now }
        }
    }

    init(core: ServerCore, topology: TopologyService, settings: MultiHostConfiguration, logger: Logger) {
        self.core = core
        self.topology = topology
        self.settings = settings
        self.logger = logger
        topology.remoteReport = { [unowned self] in self.merged }
        timer = LoopTimer(loop: core.loop) { [unowned self] in self.checkAges() }
        timer?.scheduleRepeating(everyMillis: 250)
    }

    /// Installs `report` as `host`'s newest (received `ageMillis` after it was sent) and merges soon.
    /// `false` when the table is full and the host is new.
    @discardableResult
    func install(_ report: Report, host: String, revision: Int64, refresh: Int, size: Int, ageMillis: Double = 0) -> Bool {
        let now = monotonicMillis()
        guard hosts[host] != nil || hosts.count < Self.maxHosts else {
            logger.warning("ignoring \(host): already \(Self.maxHosts) hosts")
            return false
        }
        var state = hosts[host] ?? RemoteHost(host: host, report: report, revision: revision, refreshMillis: refresh, now: now)
        state.report = report
        state.revision = revision
        state.refreshMillis = refresh
        state.lastSeen = now - max(0, ageMillis)
        state.connected = true
        state.stale = false
        state.reports &+= 1
        state.traffic.count(size, now: now)
        hosts[host] = state
        rebuild()
        return true
    }

    /// A heartbeat of `host` at `revision`: `false` when the table does not hold that revision (a gap).
    func heartbeat(host: String, revision: Int64, size: Int) -> Bool {
        guard var state = hosts[host], state.revision == revision else { return false }
        let now = monotonicMillis()
        state.lastSeen = now
        state.connected = true
        state.heartbeats &+= 1
        state.traffic.count(size, now: now)
        let wasStale = state.stale
        state.stale = false
        hosts[host] = state
        if wasStale { rebuild() }
        return true
    }

    /// `host` has no link any more (its report stays until it expires).
    func disconnected(_ host: String) {
        hosts[host]?.connected = false
    }

    /// Marks silent hosts stale and drops expired ones.
    private func checkAges() {
        guard !agingPaused else { return }
        let now = monotonicMillis()
        var changed = false
        for (host, state) in hosts {
            let silent = now - state.lastSeen
            if silent > Double(settings.hostExpiryMillis) {
                hosts[host] = nil
                changed = true
                logger.info("host \(host) expired after \(Int(silent)) ms of silence")
            } else if !state.stale, silent > Double(settings.staleAfterIntervals * state.refreshMillis) + 250 {
                hosts[host]?.stale = true
                changed = true
                logger.info("host \(host) is stale (silent for \(Int(silent)) ms)")
            }
        }
        if changed { rebuild() }
    }

    /// Shortest gap between two merges of every host, ms: with many publishers, reports arriving together
    /// cost one merge (and one new revision) instead of one each.
    static let minimumRebuildGapMillis = 50.0
    private var lastRebuild = 0.0
    private lazy var rebuildTimer = LoopTimer(loop: core.loop) { [unowned self] in self.rebuildNow() }

    /// Merges soon: now if the last merge is older than ``minimumRebuildGapMillis``, else once that has passed.
    func rebuild() {
        guard !rebuildTimer.isPending else { return }
        let wait = Self.minimumRebuildGapMillis - (monotonicMillis() - lastRebuild)
        if wait > 0 { rebuildTimer.schedule(afterMillis: Int(wait.rounded(.up))) } else { rebuildNow() }
    }

    /// Recomputes the merge of every remote host and asks the topology to install it.
    private func rebuildNow() {
        lastRebuild = monotonicMillis()
        let timestamp = SystemClock.realtime()
        var report = Report()
        for state in hosts.values { report.merge(state.stale ? state.staleReport(at: timestamp) : state.report) }
        merged = hosts.isEmpty ? nil : report
        topology.remoteReportsChanged()
    }

    /// `daemon/status` figures of every host.
    func hostsJSON() -> JSONValue {
        let now = monotonicMillis()
        return .object(hosts.mapValues { $0.json(now: now) })
    }

    /// "N hosts (M stale)".
    var summary: String { "\(hosts.count) hosts (\(hosts.values.filter(\.stale).count) stale)" }
}
