import Dispatch
import PeriscopeCollectors
import PeriscopeEventLoop
import PeriscopeSystem

/// When the host map is collected, and how: the pacing of ``CollectionPipeline``'s full passes, event-driven
/// patches and counters-only updates on one serial collection queue, driven by the kernel's events
/// (``HostMonitor``), a refresh timer and whether someone looks.
///
/// - Process and socket events become patches (only the changed pids and flows), at most one per
///   ``minimumPatchGapMillis`` while someone looks (``idlePatchGapMillis`` otherwise), and at least 3× the cost of
///   the last one apart.
/// - Every refresh interval: a full pass when events were lost or cannot be had, or the last one is
///   `reconcileMillis` old; otherwise, while someone looks, a counters-only update.
/// - Early full passes when a socket starts listening, a process enters a namespace not scanned yet, or
///   counters find sockets that came or went: at most once per ``minimumGapMillis`` (``idleGapMillis`` while
///   nobody looks) and 10 passes' time (20 for the counters' case).
/// - An update when the first closed connection kept in the map expires.
/// - The event sources' readers batch steadily coming events with a 10 ms hold-off while someone looks, 100 ms
///   otherwise (``HostMonitor/setInDemand(_:)``), told at each tick, event and pass.
///
/// Every result goes to ``onOutput`` on the loop, in the order the queue produced them.
///
/// - Important: loop thread only, except the collection queue it owns.
final class CollectionScheduler {
    /// Shortest gap between two full passes triggered by events, milliseconds; the gap also grows with the cost
    /// of a pass (10×), so event bursts on a large host cost at most ~10 % of a core.
    static let minimumGapMillis = 50.0
    /// Shortest gap between two event-driven updates while someone looks; also at least 3× the cost of
    /// the last one.
    static let minimumPatchGapMillis = 15.0
    /// Shortest gap between two event-driven updates while nobody looks (a build's process churn then
    /// costs a few patches a second).
    static let idlePatchGapMillis = 1000.0
    /// Shortest gap between two early full passes while nobody looks.
    static let idleGapMillis = 1000.0

    let pipeline: CollectionPipeline
    /// The kernel's process and socket events, wired to the pipeline; they only pace the work here.
    let monitor: HostMonitor
    /// CPU and counts of every kind of update, for status.
    private(set) var costs = CollectionCosts()
    /// Whether someone looks at `now` (monotonic ms): counters at the refresh rate, short patch gaps.
    var inDemand: (Double) -> Bool = { _ in false }
    /// A pass or update's result (`full`: a full pass), on the loop.
    var onOutput: (CollectionPipeline.Output, _ full: Bool) -> Void = { _, _ in }

    private let loop: EventLoop
    private let refreshMillis: Int
    private let reconcileMillis: Int
    private let queue = DispatchQueue(label: "periscope.collect")
    private var refreshTimer: LoopTimer?
    private var earlyTimer: LoopTimer?
    private var patchTimer: LoopTimer?
    /// Fires when the first closed connection kept in the map expires: an update takes it out then.
    private var retentionTimer: LoopTimer?
    private var patchRunning = false
    /// When the scheduled patch is due (monotonic ms), while ``patchTimer`` is pending.
    private var patchDue = 0.0
    private var patchWanted = false
    private var passRunning = false
    private var passWanted = false
    private var countersRunning = false
    private var lastPatchCost = 0.0
    private var lastPassCost = 0.0
    /// Whether the last full pass read TCP counters: counters-only updates build on it.
    private var lastPassHadCounters = false
    private var lastPassStart = -1e12
    private var lastLost: UInt64 = 0

    init(loop: EventLoop, pipeline: CollectionPipeline, refreshMillis: Int, reconcileMillis: Int) {
        self.loop = loop
        self.pipeline = pipeline
        self.refreshMillis = refreshMillis
        self.reconcileMillis = reconcileMillis
        monitor = HostMonitor(pipeline: pipeline, queue: queue)
    }

    /// Whether it runs (``start()`` was called and not ``stop()``).
    var isStarted: Bool { refreshTimer != nil }

    /// Starts the refresh timer, the host's event monitors and the first pass.
    func start() {
        refreshTimer = LoopTimer(loop: loop) { [unowned self] in self.refreshTick() }
        refreshTimer?.scheduleRepeating(everyMillis: refreshMillis)
        earlyTimer = LoopTimer(loop: loop) { [unowned self] in self.requestPass() }
        patchTimer = LoopTimer(loop: loop) { [unowned self] in self.requestPatch() }
        retentionTimer = LoopTimer(loop: loop) { [unowned self] in self.changeEvent() }
        let bound = LoopBound(self, loop: loop)
        let loop = self.loop
        monitor.start(onProcessEvent: { loop.execute { bound.value.changeEvent() } },
                      onSocketEvent: { listening in
                          loop.execute { listening ? bound.value.listenEvent() : bound.value.changeEvent() }
                      })
        requestPass()
    }

    /// Stops the timers and the monitors.
    func stop() {
        refreshTimer?.cancel()
        refreshTimer = nil
        earlyTimer?.cancel()
        monitor.stop()
        patchTimer?.cancel()
        retentionTimer?.cancel()
    }

    /// The refresh timer: a full pass when events were lost or cannot be had, or when the last one is
    /// `reconcileMillis` old; otherwise, while someone looks, a counters-only update (the first one after a
    /// full pass that read counters: a full pass).
    private func refreshTick() {
        let now = monotonicMillis()
        let lost = monitor.eventsLost
        defer { lastLost = lost }
        let demand = inDemand(now)
        monitor.setInDemand(demand)
        if lost != lastLost || !monitor.isComplete || pipeline.processChanges.takeOverflow()
            || now - lastPassStart >= Double(reconcileMillis) - 1 || (demand && !lastPassHadCounters) {
            requestPass()
        } else if demand {
            requestCounters()
        }
    }

    /// Runs a counters-only update on the collection queue (``CollectionPipeline/countersPass()``), unless a full
    /// pass or another one is in flight. Sockets that came or went since the last full pass ask for one.
    private func requestCounters() {
        guard !countersRunning, !passRunning else { return }
        countersRunning = true
        let pipeline = self.pipeline
        let bound = LoopBound(self, loop: loop)
        let loop = self.loop
        queue.async {
            let (output, cpu) = CollectionCosts.measure { pipeline.countersPass() }
            loop.execute {
                let scheduler = bound.value
                scheduler.countersRunning = false
                scheduler.costs.addCounters(cpuNanos: cpu)
                guard let output else { return }
                scheduler.deliver(output, full: false)
                // Sockets came or went without an event: a full pass soon, but on a host with socket churn and
                // a costly pass at most every 20 passes' time, so counters updates keep most of the load.
                if output.needsFullPass {
                    scheduler.listenEvent(minimumGap: max(Double(scheduler.refreshMillis), 20 * scheduler.lastPassCost))
                }
            }
        }
    }

    /// A process or TCP state change: fold it into the model soon.
    /// A patch already scheduled with the idle gap is brought forward when someone has started looking since.
    func changeEvent() {
        guard let patchTimer, !patchRunning else {
            if patchRunning { patchWanted = true }
            return
        }
        let now = monotonicMillis()
        let demand = inDemand(now)
        monitor.setInDemand(demand)
        let gap = max(demand ? Self.minimumPatchGapMillis : Self.idlePatchGapMillis, 3 * lastPatchCost)
        if patchTimer.isPending, patchDue <= now + gap { return }
        patchDue = now + gap
        patchTimer.schedule(afterMillis: Int(gap))
    }

    /// Runs an event-driven update on the collection queue (after any full pass in flight).
    private func requestPatch() {
        guard !patchRunning else {
            patchWanted = true
            return
        }
        patchRunning = true
        monitor.patchStarting()
        let pipeline = self.pipeline
        let bound = LoopBound(self, loop: loop)
        let loop = self.loop
        queue.async {
            let start = monotonicMillis()
            let (output, cpu) = CollectionCosts.measure { pipeline.patchPass() }
            let cost = monotonicMillis() - start
            loop.execute {
                let scheduler = bound.value
                scheduler.patchRunning = false
                scheduler.lastPatchCost = cost
                scheduler.costs.addPatch(cpuNanos: cpu)
                if let output {
                    scheduler.deliver(output, full: false)
                    if output.needsFullPass { scheduler.listenEvent() }
                }
                if scheduler.patchWanted {
                    scheduler.patchWanted = false
                    scheduler.changeEvent()
                }
            }
        }
    }

    /// A socket started listening, or a process entered a namespace not scanned yet: only a full pass lists
    /// those, soon: at most once per ``minimumGapMillis`` (or `minimumGap`) and 10 passes' time.
    private func listenEvent(minimumGap: Double = 0) {
        changeEvent()
        guard let earlyTimer, !earlyTimer.isPending else { return }
        let now = monotonicMillis()
        let sinceLast = now - lastPassStart
        let gap = max(inDemand(now) ? Self.minimumGapMillis : Self.idleGapMillis, 10 * lastPassCost, minimumGap)
        earlyTimer.schedule(afterMillis: Int(max(10, gap - sinceLast)))
    }

    /// Runs a full pass now, or right after the running one.
    func requestPass() {
        guard !passRunning else {
            passWanted = true
            return
        }
        passRunning = true
        monitor.patchStarting()
        lastPassStart = monotonicMillis()
        let tcpInfo = inDemand(lastPassStart)
        monitor.setInDemand(tcpInfo)
        lastPassHadCounters = tcpInfo
        let pipeline = self.pipeline
        let bound = LoopBound(self, loop: loop)
        let loop = self.loop
        queue.async {
            let (output, cpu) = CollectionCosts.measure { pipeline.pass(tcpInfo: tcpInfo) }
            loop.execute {
                bound.value.costs.addPass(cpuNanos: cpu, counters: tcpInfo)
                bound.value.deliver(output, full: true)
            }
        }
    }

    private func deliver(_ output: CollectionPipeline.Output, full: Bool) {
        if full {
            passRunning = false
            lastPassCost = output.collectMillis + output.buildMillis
        }
        // Closed connections leave the map when their retention ends, not at the next pass (which may be a
        // reconcile interval away); updates coalesce (``changeEvent()``), so a burst of closes costs a few.
        if let until = output.retainedUntil {
            retentionTimer?.schedule(afterMillis: Int(max(10, (until - SystemClock.realtime()) * 1000 + 5).rounded(.up)))
        } else {
            retentionTimer?.cancel()
        }
        onOutput(output, full)
        if full, passWanted {
            passWanted = false
            requestPass()
        }
    }
}
