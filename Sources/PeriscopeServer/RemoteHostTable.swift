import Logging
import PeriscopeEventLoop
import PeriscopeProtocol
import PeriscopeSystem
import PeriscopeTopology

/// The remote hosts of a bus aggregator (`--bus --aggregate`, ``ReportBus``): every host's newest report goes to
/// a ``MergeQueue`` whose ``HostMerger`` composes it with the local report off the loop, the path
/// ``ReportAggregator`` uses for `--accept-reports`, so views, subscriptions and `node/get` span hosts the same way
/// whichever way reports arrive. The bus carries full reports; the merger diffs each against the host's previous
/// one and re-merges only the nodes that changed.
///
/// A host silent for ``MultiHostConfiguration/staleAfterIntervals`` of its own refresh intervals is marked
/// stale, and removed after ``MultiHostConfiguration/hostExpiryMillis``; a host reporting again replaces its
/// old report (ids are host-prefixed, so nothing is duplicated). While ``agingPaused`` (the bus itself is down:
/// silence says nothing about the hosts) nothing turns stale or expires.
///
/// - Important: loop thread only, except the merge queue it owns.
final class RemoteHostTable {
    private let settings: MultiHostConfiguration
    private let logger: Logger
    private(set) var hosts: [String: RemoteHost] = [:]
    private let merges: MergeQueue
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
        self.settings = settings
        self.logger = logger
        let target = LoopBound(topology, loop: core.loop)
        let loop = core.loop
        merges = MergeQueue { composed in loop.execute { target.value.installComposed(composed) } }
        topology.composer = { [merges] local in merges.submit { $0.setLocal(local) } }
        timer = LoopTimer(loop: core.loop) { [unowned self] in self.checkAges() }
        timer?.scheduleRepeating(everyMillis: 250)
    }

    /// Installs `report` as `host`'s newest (received `ageMillis` after it was sent); merged on the queue.
    /// `false` when the table is full and the host is new.
    @discardableResult
    func install(_ report: Report, host: String, revision: Int64, refresh: Int, size: Int, ageMillis: Double = 0) -> Bool {
        let now = monotonicMillis()
        guard hosts[host] != nil || hosts.count < Self.maxHosts else {
            logger.warning("ignoring \(host): already \(Self.maxHosts) hosts")
            return false
        }
        var state = hosts[host] ?? RemoteHost(host: host, refreshMillis: refresh, now: now)
        let wasStale = state.stale
        state.revision = revision
        state.refreshMillis = refresh
        state.lastSeen = now - max(0, ageMillis)
        state.connected = true
        state.stale = false
        state.fullReports &+= 1
        state.fullBytes &+= UInt64(size)
        state.nodes = report.nodeCount
        state.traffic.count(size, now: now)
        hosts[host] = state
        merges.submit { merger in
            if wasStale { merger.setStale(host, false, at: 0) }
            _ = merger.full(host, revision: revision, report: report)
        }
        return true
    }

    /// Marks silent hosts stale and drops expired ones.
    private func checkAges() {
        guard !agingPaused else { return }
        merges.age(&hosts, settings: settings, logger: logger)
    }

    /// `daemon/status` figures of every host.
    func hostsJSON() -> JSONValue {
        let now = monotonicMillis()
        return .object(hosts.mapValues { $0.json(now: now) })
    }

    /// "N hosts (M stale)".
    var summary: String { "\(hosts.count) hosts (\(hosts.values.filter(\.stale).count) stale)" }
}
