import Dispatch
import Glibc
import Logging
import PeriscopeCollectors
import PeriscopeEventLoop
import PeriscopeProtocol
import PeriscopeTopology
import PeriscopeViews

/// The host map: refreshes the report off the loop (on a timer and early on process exec/exit),
/// keeps the current revision, and serves `topology/views`, `topology/get`, `node/get`, `report/get`.
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

    unowned let core: ServerCore
    let hostID: String
    let pipeline: CollectionPipeline
    private let collectQueue = DispatchQueue(label: "periscope.collect")
    let renderQueue = DispatchQueue(label: "periscope.render")
    /// The kernel's process and socket events, wired to the pipeline; they only pace passes here.
    private let hostMonitor: HostMonitor
    private var patchTimer: LoopTimer?
    private var patchRunning = false
    private var patchWanted = false
    private var lastPatchCost = 0.0
    private var lastPassCost = 0.0
    private var refreshTimer: LoopTimer?
    private var earlyTimer: LoopTimer?
    private var passRunning = false
    private var passWanted = false
    private var lastPassStart = 0.0
    private var lastOutput: CollectionPipeline.Output?
    private var waitingForFirstReport: [() -> Void] = []
    private var renderCache: [String: (value: JSONValue, encoded: [UInt8])] = [:]
    /// Shortest gap between two full passes triggered by process events, milliseconds; the gap also
    /// grows with the cost of a pass (10×), so event bursts on a large host cost at most ~10 % of a core.
    static let minimumGapMillis = 50.0
    /// Shortest gap between two event-driven flow updates; also at least 3× the cost of the last one.
    static let minimumPatchGapMillis = 15.0

    public init(core: ServerCore, retention: Double = 10) {
        self.core = core
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count - 1)
        hostID = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        pipeline = CollectionPipeline(hostID: hostID, retention: retention)
        hostMonitor = HostMonitor(pipeline: pipeline, queue: collectQueue)
        TopologyMethods.register(self)
        core.health["host-map"] = { [unowned self] in self.healthJSON() }
        core.health["process-events"] = { [unowned self] in self.hostMonitor.processEventsHealth.json }
        core.health["socket-events"] = { [unowned self] in self.hostMonitor.socketEventsHealth.json }
        setUpContainers()
    }

    /// Starts the refresh timer, the host's event monitors and the first pass.
    public func start() {
        refreshTimer = LoopTimer(loop: core.loop) { [unowned self] in self.requestPass() }
        refreshTimer?.scheduleRepeating(everyMillis: core.configuration.refreshMillis)
        earlyTimer = LoopTimer(loop: core.loop) { [unowned self] in self.requestPass() }
        patchTimer = LoopTimer(loop: core.loop) { [unowned self] in self.requestPatch() }
        let bound = LoopBound(self, loop: core.loop)
        let loop = core.loop
        hostMonitor.start(onProcessEvent: { loop.execute { bound.value.processEvent() } },
                          onSocketEvent: { loop.execute { bound.value.socketEvent() } })
        startContainerEvents()
        requestPass()
    }

    /// Stops timers and the monitors.
    public func stop() {
        refreshTimer?.cancel()
        earlyTimer?.cancel()
        hostMonitor.stop()
        patchTimer?.cancel()
        pipeline.containers?.stop()
    }

    /// A TCP state change: fold the new flows into the model soon.
    private func socketEvent() {
        guard let patchTimer, !patchTimer.isPending, !patchRunning else {
            if patchRunning { patchWanted = true }
            return
        }
        let gap = max(Self.minimumPatchGapMillis, 3 * lastPatchCost)
        patchTimer.schedule(afterMillis: Int(gap))
    }

    /// Runs an event-driven update on the collection queue (after any full pass in flight).
    private func requestPatch() {
        guard !patchRunning else {
            patchWanted = true
            return
        }
        patchRunning = true
        let pipeline = self.pipeline
        let bound = LoopBound(self, loop: core.loop)
        let loop = core.loop
        collectQueue.async {
            let start = monotonicMillis()
            let output = pipeline.patchPass()
            let cost = monotonicMillis() - start
            loop.execute {
                let service = bound.value
                service.patchRunning = false
                service.lastPatchCost = cost
                if let output { service.install(output, full: false) }
                if service.patchWanted {
                    service.patchWanted = false
                    service.socketEvent()
                }
            }
        }
    }

    /// A process started or ended: refresh soon, at most once per ``minimumGapMillis``.
    private func processEvent() {
        guard let earlyTimer, !earlyTimer.isPending else { return }
        let sinceLast = monotonicMillis() - lastPassStart
        let gap = max(Self.minimumGapMillis, 10 * lastPassCost)
        earlyTimer.schedule(afterMillis: Int(max(10, gap - sinceLast)))
    }

    /// Runs a pass now, or right after the running one.
    func requestPass() {
        guard !passRunning else {
            passWanted = true
            return
        }
        passRunning = true
        lastPassStart = monotonicMillis()
        let pipeline = self.pipeline
        let bound = LoopBound(self, loop: core.loop)
        let loop = core.loop
        collectQueue.async {
            let output = pipeline.pass()
            loop.execute { bound.value.install(output, full: true) }
        }
    }

    private func install(_ output: CollectionPipeline.Output, full: Bool) {
        if full {
            passRunning = false
            lastPassCost = output.collectMillis + output.buildMillis
        }
        let changed = report != output.report || names != output.names
        lastOutput = output
        names = output.names
        if changed || report == nil {
            report = output.report
            revision += 1
            renderCache.removeAll(keepingCapacity: true)
            for handler in onReport { handler(output.report, revision) }
        }
        let waiting = waitingForFirstReport
        waitingForFirstReport.removeAll()
        for work in waiting { work() }
        if full, passWanted {
            passWanted = false
            requestPass()
        }
    }

    /// Runs `work` once a first report exists (at once if it does).
    func whenReady(_ work: @escaping () -> Void) {
        if report != nil { work() } else { waitingForFirstReport.append(work) }
    }

    /// Renders on the render queue and answers `pending` on the loop; caches by `cacheKey` per revision.
    func answer(_ pending: PendingRequest?, cacheKey: String?,
                _ render: @escaping @Sendable (Report, [String: String], Int64) throws(RPCError) -> JSONValue) {
        guard let pending else { return }
        whenReady { [unowned self] in
            guard let report = self.report else { return }
            if let cacheKey, let cached = self.renderCache[cacheKey] {
                pending.succeed(cached.value, encoded: cached.encoded)
                return
            }
            let names = self.names
            let revision = self.revision
            let bound = LoopBound((self, pending), loop: self.core.loop)
            let loop = self.core.loop
            self.renderQueue.async {
                // Rendered and encoded here, so the loop only copies bytes.
                let result: Result<(value: JSONValue, encoded: [UInt8]), RPCError>
                do throws(RPCError) {
                    let value = try render(report, names, revision)
                    result = .success((value, JSONWriter.bytes(value)))
                } catch {
                    result = .failure(error)
                }
                loop.execute {
                    let (service, pending) = bound.value
                    if case .success(let rendered) = result, let cacheKey, service.revision == revision {
                        service.renderCache[cacheKey] = rendered
                    }
                    switch result {
                    case .success(let rendered): pending.succeed(rendered.value, encoded: rendered.encoded)
                    case .failure(let error): pending.fail(error)
                    }
                }
            }
        }
    }

    private func healthJSON() -> JSONValue {
        var health = pipeline.collector.health.source(lastOutput: lastOutput)
        health.figures["revision"] = .int(revision)
        health.figures["refreshMillis"] = JSONValue(core.configuration.refreshMillis)
        return health.json
    }
}
