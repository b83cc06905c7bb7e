import PeriscopeSystem
import Dispatch
import Glibc
import Logging
import PeriscopeCollectors
import PeriscopeEventLoop
import PeriscopeProtocol
import PeriscopeTopology
import PeriscopeViews

/// The host map: keeps the report current off the loop and serves `topology/views`, `topology/get`,
/// `node/get`, `report/get`.
///
/// Collection (when full passes, patches and counters updates run) is paced by ``CollectionScheduler``; a
/// view asked for within ``demandMillis``, a subscription or an aggregator's clients make it collect counters.
///
/// Rendering runs on a render queue and answers through ``PendingRequest`` so a large view never
/// stalls the loop; renders of the same view, options and filter at the same revision are cached.
///
/// - Important: loop thread only, except the queues it owns.
public final class TopologyService {
    /// The current report and its revision, as the loop sees it.
    public private(set) var report: Report?
    public private(set) var revision: Int64 = 0
    public private(set) var names: [String: String] = [:]
    /// Called on the loop after every new report is installed (subscriptions hook in here).
    public var onReport: [(Report, Int64) -> Void] = []
    /// Whether a client holds a subscription (set by the subscription manager): full passes at the refresh rate.
    public var hasSubscribers: () -> Bool = { false }
    /// When this daemon aggregates (see ``ReportAggregator``): takes every new local report to compose it with
    /// other hosts' off the loop; the composition comes back through ``installComposed(_:)``.
    var composer: ((Report) -> Void)?
    /// Time travel (`topology/get {at}`), set by ``HistoryService``.
    weak var history: HistoryService?
    /// The local host's own newest report (what a publisher sends), before any remote merge.
    var localReport: Report? { lastOutput?.report }
    /// Counts this host's own reports (collection passes and event updates): unlike ``revision`` it does not move
    /// when only other hosts' reports change, so a daemon that both aggregates and publishes (the report bus)
    /// does not republish its host for every report it receives.
    private(set) var localRevision: Int64 = 0

    unowned let core: ServerCore
    let hostID: String
    let pipeline: CollectionPipeline
    /// Paces the pipeline's passes and updates on its collection queue.
    let scheduler: CollectionScheduler
    /// Renders take turns per client here (see ``RenderScheduler``).
    private(set) lazy var renders = RenderScheduler(loop: core.loop)
    /// When a client last asked for a view (monotonic ms).
    private var lastAsked = -1e12
    private var lastOutput: CollectionPipeline.Output?
    private var waitingForFirstReport: [() -> Void] = []
    /// Encoded answers at the current revision, by request; shared (not copied) by every reply.
    private var renderCache: [RenderKey: [UInt8]] = [:]
    /// Renders in progress, by revision and request: requests asking the same wait for the same render.
    private var rendersInFlight: [RenderFlight: [PendingRequest]] = [:]
    /// `topology/get`'s incremental renderers by view and options, with when each was last used (monotonic ms):
    /// the next uncached answer redoes only what changed since. Taken out while a render uses one; dropped after
    /// ``demandMillis`` unused (each holds the tables of the last report it rendered).
    private var viewRenderers: [ViewSpec: (renderer: IncrementalRenderer, used: Double)] = [:]
    /// A view asked for this recently keeps full passes at the refresh rate.
    static let demandMillis = 10_000.0

    public init(core: ServerCore, retention: Double = 10) {
        self.core = core
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count - 1)
        hostID = String(nulTerminated: buffer)
        pipeline = CollectionPipeline(hostID: hostID, retention: retention)
        scheduler = CollectionScheduler(loop: core.loop, pipeline: pipeline, refreshMillis: core.configuration.refreshMillis,
                                        reconcileMillis: core.configuration.reconcileMillis)
        // Weak: a pass in flight keeps the scheduler (not this service) until its result reaches the loop.
        scheduler.inDemand = { [weak self] now in self?.inDemand(now) ?? false }
        scheduler.onOutput = { [weak self] output, _ in self?.install(output) }
        TopologyMethods.register(self)
        core.health["host-map"] = { [unowned self] in self.healthJSON() }
        core.health["process-events"] = { [unowned self] in self.scheduler.monitor.processEventsHealth.json }
        core.health["socket-events"] = { [unowned self] in self.scheduler.monitor.socketEventsHealth.json }
        setUpContainers()
        setUpL7()
    }

    /// Starts the refresh timer, the host's event monitors, the container events and the first pass.
    public func start() {
        scheduler.start()
        startContainerEvents()
    }

    /// Stops timers and the monitors.
    public func stop() {
        scheduler.stop()
        pipeline.containers?.stop()
    }

    /// Whether someone looks: a subscription, a view asked for within ``demandMillis``, or (publisher) the
    /// aggregator's clients (``remoteDemand``).
    private func inDemand(_ now: Double) -> Bool {
        remoteDemand || hasSubscribers() || now - lastAsked < Self.demandMillis
    }

    /// Whether this daemon's own clients look now (what an aggregator tells its publishers, ``DemandRelay``).
    var isLocallyInDemand: Bool { hasSubscribers() || monotonicMillis() - lastAsked < Self.demandMillis }

    /// Set by a publisher when its aggregator's clients look (`report/demand`, SPEC §17.2): collects with TCP
    /// counters at the refresh rate as for a client of its own. Turning it on starts a pass with counters now.
    var remoteDemand = false {
        didSet {
            guard remoteDemand, !oldValue, scheduler.isStarted else { return }
            scheduler.requestPass()
        }
    }

    /// Runs a full pass now, or right after the running one (a control changed something, a container started).
    func requestPass() { scheduler.requestPass() }

    /// A pass's or update's report, from the scheduler.
    private func install(_ output: CollectionPipeline.Output) {
        lastOutput = output
        localRevision += 1
        installReport(output.report, names: output.names)
    }

    /// Installs `report` as the next revision when it differs from the current one, as a collection pass would:
    /// subscribers get the change. For a daemon whose reports come from elsewhere than this host's collectors
    /// (``ServerConfiguration/injectedReports``: tests). Loop thread.
    public func install(_ report: Report, names: [String: String] = [:]) {
        installReport(report, names: names)
    }

    /// The local report of a pass (or an injected one): merged with other hosts', published if it changed; then
    /// the work that waited for a first report runs.
    private func installReport(_ local: Report, names newNames: [String: String]) {
        if let composer {
            let namesChanged = names != newNames
            names = newNames
            composer(local)  // the composition arrives through installComposed
            if namesChanged, let report { publish(report) }
            return
        }
        let changed = report != local || names != newNames
        names = newNames
        if changed || report == nil {
            publish(local)
        }
        runWaiting()
    }

    /// The local report composed with other hosts' (aggregator, from its merge queue): the next revision.
    func installComposed(_ composed: Report) {
        let replaced = report
        publish(composed)
        runWaiting()
        // The merge queue changed the new report's storage, so the old one may be this reference's alone: a
        // 100,000-node report is freed on a queue, not on the loop.
        if let replaced { Self.releaseQueue.async { withExtendedLifetime(replaced) {} } }
    }

    /// Where large replaced reports are freed.
    private static let releaseQueue = DispatchQueue(label: "periscope.release", qos: .utility)

    /// Runs the work that waited for a first report.
    private func runWaiting() {
        let waiting = waitingForFirstReport
        waitingForFirstReport.removeAll()
        for work in waiting { work() }
    }

    /// Installs `composed` as the next revision and tells every `onReport` handler.
    private func publish(_ composed: Report) {
        report = composed
        revision += 1
        renderCache.removeAll(keepingCapacity: true)
        let now = monotonicMillis()
        viewRenderers = viewRenderers.filter { now - $0.value.used < Self.demandMillis }
        for handler in onReport { handler(composed, revision) }
    }

    /// Runs `work` once a first report exists (at once if it does).
    func whenReady(_ work: @escaping () -> Void) {
        if report != nil { work() } else { waitingForFirstReport.append(work) }
    }

    /// `topology/get` of `request` at the current revision (see ``answer(_:cacheKey:slot:_:)``), rendered by the
    /// view's incremental renderer when one is free.
    func answerView(_ context: MethodContext, _ request: ViewRequest) {
        let slot = RendererSlot(spec: request.spec)
        answer(context, cacheKey: request.renderKey, slot: slot) { report, names, revision in
            var renderer = slot.renderer ?? IncrementalRenderer(spec: request.spec)
            slot.renderer = nil  // its tables uniquely referenced while it updates them
            let view = renderer.render(report, names: names, filter: request.filter)
            slot.renderer = renderer
            return view.json(revision: revision)
        }
    }

    /// Renders on the render queue in `context`'s turn and answers on the loop. Answers are cached by
    /// `cacheKey` per revision, and requests for the same key at the same revision share one render. A `slot`
    /// is given the view's incremental renderer for the render, and hands it back after.
    func answer(_ context: MethodContext, cacheKey: RenderKey?, slot: RendererSlot? = nil,
                _ render: @escaping @Sendable (Report, [String: String], Int64) throws(RPCError) -> JSONValue) {
        guard let pending = context.pending else { return }
        let lane = context.session.id
        let now = monotonicMillis()
        if !inDemand(now), scheduler.isStarted { scheduler.requestPass() }  // counters resume from now on
        lastAsked = now
        whenReady { [weak self] in
            guard let self, let report = self.report, !pending.isFinished else { return }
            let revision = self.revision
            if let cacheKey, let cached = self.renderCache[cacheKey] {
                pending.succeed(encoded: cached)
                return
            }
            let flightKey = cacheKey.map { RenderFlight.shared($0, revision: revision) } ?? .once(ObjectIdentifier(pending))
            if self.rendersInFlight[flightKey] != nil {
                self.rendersInFlight[flightKey, default: []].append(pending)
                return
            }
            self.rendersInFlight[flightKey] = [pending]
            if let slot { slot.renderer = self.viewRenderers.removeValue(forKey: slot.spec)?.renderer }
            let names = self.names
            let bound = LoopBound(self, loop: self.core.loop)
            let loop = self.core.loop
            let isCancelled = { [weak self] () -> Bool in
                guard let self else { return true }
                guard let waiters = self.rendersInFlight[flightKey], waiters.contains(where: { !$0.isFinished }) else {
                    self.rendersInFlight[flightKey] = nil
                    return true
                }
                return false
            }
            self.renders.submit(RenderScheduler.Job(lane: lane, key: nil, isCancelled: isCancelled) {
                // Rendered and encoded here, so the loop only queues shared bytes.
                let result: Result<[UInt8], RPCError>
                do throws(RPCError) {
                    result = .success(JSONWriter.bytes(try render(report, names, revision)))
                } catch {
                    result = .failure(error)
                }
                loop.execute { bound.value.rendered(flightKey, cacheKey: cacheKey, revision: revision, slot: slot, result) }
            })
        }
    }

    /// A render finished: cache it (if still current) and answer everyone who waited for it.
    private func rendered(_ flightKey: RenderFlight, cacheKey: RenderKey?, revision: Int64, slot: RendererSlot?,
                          _ result: Result<[UInt8], RPCError>) {
        if let slot, let renderer = slot.renderer { viewRenderers[slot.spec] = (renderer, monotonicMillis()) }
        let waiters = rendersInFlight.removeValue(forKey: flightKey) ?? []
        if case .success(let encoded) = result, let cacheKey, self.revision == revision {
            renderCache[cacheKey] = encoded
        }
        for pending in waiters {
            switch result {
            case .success(let encoded): pending.succeed(encoded: encoded)
            case .failure(let error): pending.fail(error)
            }
        }
    }

    private func healthJSON() -> JSONValue {
        var health = pipeline.collector.health.source(lastOutput: lastOutput)
        health.figures["revision"] = .int(revision)
        health.figures["refreshMillis"] = JSONValue(core.configuration.refreshMillis)
        health.figures["reconcileMillis"] = JSONValue(core.configuration.reconcileMillis)
        scheduler.costs.add(to: &health)
        health.figures["inDemand"] = .bool(inDemand(monotonicMillis()))
        return health.json
    }
}
