import Logging
import PeriscopeEventLoop
import PeriscopeProtocol
import PeriscopeSystem
import PeriscopeTopology

/// The remote hosts of a bus aggregator (`--bus --aggregate`, ``ReportBus``): every host's newest report goes to
/// a ``MergeQueue`` whose ``HostMerger`` composes it with the local report off the loop, the path
/// ``ReportAggregator`` uses for `--accept-reports`, so views, subscriptions and `node/get` span hosts the same way
/// whichever way reports arrive. The bus carries full reports and revisioned deltas between them; the merger
/// re-merges only the nodes each touches. A delta that does not follow the revision held (a gap: a message lost or
/// expired from the stream) is not applied, nor any after it, until the host's next full report: the host says
/// `awaitingFull` meanwhile (there is no one to ask for a resend; publishers send full reports periodically).
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
    private let loop: EventLoop
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
        self.loop = loop
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
        state.awaitingFull = false
        state.traffic.count(size, now: now)
        hosts[host] = state
        merges.submit { merger in
            if wasStale { merger.setStale(host, false, at: 0) }
            _ = merger.full(host, revision: revision, report: report)
        }
        return true
    }

    /// Applies `host`'s delta from `base` to `revision` on the merge queue (a gap leaves the host awaiting its next
    /// full report). A host not held (no full report yet, or expired) is left alone: the delta has nothing to apply to.
    func apply(_ delta: ReportDelta, host: String, base: Int64, revision: Int64, refresh: Int, size: Int, ageMillis: Double = 0) {
        guard var state = hosts[host] else { return }
        let now = monotonicMillis()
        let wasStale = state.stale
        state.refreshMillis = refresh
        state.lastSeen = max(state.lastSeen, now - max(0, ageMillis))
        state.stale = false
        state.deltaBytes &+= UInt64(size)
        state.traffic.count(size, now: now)
        hosts[host] = state
        let table = LoopBound(self, loop: loop)
        let loop = loop
        let fulls = state.fullReports
        merges.submit { merger in
            if wasStale { merger.setStale(host, false, at: 0) }
            let outcome = merger.delta(host, base: base, revision: revision, delta)
            let held = merger.summary(host)
            loop.execute { table.value.applied(host, outcome, held: held, fullsBefore: fulls) }
        }
    }

    /// What became of a delta (loop thread); `fullsBefore`: the host's full reports when it was submitted (one
    /// installed since then ends any gap the delta found).
    private func applied(_ host: String, _ outcome: HostMerger.Outcome, held: (revision: Int64, nodes: Int)?, fullsBefore: UInt64) {
        guard var state = hosts[host] else { return }
        switch outcome {
        case .ack:
            state.deltas &+= 1
        case .resend(let heldRevision):
            state.resends &+= 1
            state.awaitingFull = state.fullReports == fullsBefore
            logger.info("host \(host): a delta does not follow revision \(heldRevision); waiting for its next full report")
        case .ignored:
            state.ignored &+= 1
        }
        if let held, state.fullReports == fullsBefore {  // else the newer full report's figures stand
            state.revision = held.revision
            state.nodes = held.nodes
        }
        hosts[host] = state
    }

    /// Work items waiting on the merge queue (any thread).
    var mergeBacklog: @Sendable () -> Int { { [merges] in merges.waiting } }

    /// Hosts heard from whose messages still wait to be decoded (not silent, whatever their clocks say).
    var waitingHosts: () -> Set<String> = { [] }

    /// Marks silent hosts stale and drops expired ones.
    private func checkAges() {
        guard !agingPaused else { return }
        merges.age(&hosts, settings: settings, busy: waitingHosts(), logger: logger)
    }

    /// `daemon/status` figures of every host.
    func hostsJSON() -> JSONValue {
        let now = monotonicMillis()
        return .object(hosts.mapValues { $0.json(now: now) })
    }

    /// "N hosts (M stale)".
    var summary: String { "\(hosts.count) hosts (\(hosts.values.filter(\.stale).count) stale)" }
}
