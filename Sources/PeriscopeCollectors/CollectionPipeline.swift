import PeriscopeSystem
import Synchronization
import PeriscopeTopology

/// One refresh of the host map, done off the event loop: kernel collection, flows seen since, then the
/// report build. Also holds what the passes share: the collector, the flow tracker, the reverse resolver
/// and (when enabled) container discovery.
///
/// - Important: not thread-safe; confined to one serial queue (the daemon's collection queue), never
///   called concurrently. ``collector`` and ``containers`` are safe from any thread.
public final class CollectionPipeline: @unchecked Sendable {
    /// What one pass produced, handed to the loop.
    public struct Output: Sendable {
        public var report: Report
        /// Reverse-DNS names of remote peers, by address.
        public var names: [String: String]
        public var processCount: Int
        public var socketCount: Int
        /// Time spent asking the kernel (0 for an event-driven update), milliseconds.
        public var collectMillis: Double
        /// Time spent building the report, milliseconds.
        public var buildMillis: Double
        /// An event-driven update saw a process in a network namespace the last full pass did not scan (only
        /// a full pass lists that namespace's sockets and addresses), or a process that owns sockets exited:
        /// a full pass should follow soon.
        public var needsFullPass = false
        /// When the first closed connection kept in the report expires (realtime seconds): an update after
        /// it takes that connection out, so one should run then even if nothing else happens.
        public var retainedUntil: Double?
    }

    /// The kernel collector. Any thread (see ``HostCollector``).
    public let collector: HostCollector
    /// Container discovery, when enabled; set before the first pass.
    public var containers: ContainerCollector?
    /// The L7 programs (issue 14), when enabled; set before the first pass. Each full pass closes an L7 window.
    public var l7: L7Tracer?
    /// Process events waiting for the next ``patchPass()``. Any thread (the connector notes here).
    public let processChanges = ProcessChanges()
    private let resolver = ReverseResolver()
    private let flows: FlowTracker
    private var builder: ReportBuilder
    private var lastSnapshot: HostSnapshot?
    private var lastNames: [String: String] = [:]
    /// Network namespaces the last full pass had processes in.
    private var scannedNamespaces: Set<UInt64> = []
    /// Names the sockets of ``lastSnapshot`` (which change only with a full pass) for the flow tracker's index.
    private var baseVersion = 0
    /// Whether the last full pass has a socket outside ``scannedNamespaces``.
    private var baseHasUnscannedSocket = false
    /// The flows the builder has on top of the sockets of ``lastSnapshot``: a patch hands it only the sockets
    /// that differ from these. `nil` when not known (then the whole snapshot is ingested).
    private var shownFlows: FlowTracker.Overlay?
    private var passes = 0
    /// Connected TCP sockets of ``lastSnapshot`` by namespace and inode (where a counters-only update finds them).
    private var baseIndex: [SocketID: Int] = [:]
    /// Owners of sockets of ``lastSnapshot``.
    private var baseOwners: Set<Int32> = []

    private struct SocketID: Hashable {
        var netns: UInt64
        var inode: UInt64
    }

    /// A pipeline for the host `hostID`; closed connections stay in reports for `retention` seconds.
    public init(hostID: String, retention: Double) {
        collector = HostCollector()
        flows = FlowTracker(lookup: collector)
        flows.parentOf = { [processChanges] in processChanges.parent(of: $0) }
        builder = ReportBuilder(hostID: hostID, retention: retention)
    }

    /// Socket-state events waiting for the next pass or patch, which folds them into the flows first.
    private let pendingEvents = Mutex<[SocketStateEvent]>([])

    /// Folds socket-state events into the flows the next ``patchPass()`` (or ``pass()``) adds.
    public func record(_ events: [SocketStateEvent]) {
        foldPendingEvents()
        flows.record(events)
    }

    /// Events kept at most before ``enqueue(_:)`` asks for them to be folded at once (a connection flood while
    /// nobody looks would otherwise pile up until the next patch, a second later).
    public static let pendingEventsLimit = 4096

    /// Keeps socket-state events for the next ``patchPass()``, ``countersPass()`` or ``pass()``, which fold them
    /// into the flows before anything else. Any thread: the tracepoint's reader hands its batches over here
    /// instead of queueing a block per batch on the collection queue, which woke a worker thread for each
    /// (recording is bookkeeping that only the next update reads, and the reader asks for that update).
    /// Returns true when this call took the pending events past ``pendingEventsLimit``: the caller should then
    /// queue ``foldPendingEvents()``.
    public func enqueue(_ events: [SocketStateEvent]) -> Bool {
        pendingEvents.withLock { pending in
            let before = pending.count
            pending.append(contentsOf: events)
            return before < Self.pendingEventsLimit && pending.count >= Self.pendingEventsLimit
        }
    }

    /// Folds the events kept by ``enqueue(_:)`` into the flows. On the pipeline's queue.
    public func foldPendingEvents() {
        let events = pendingEvents.withLock { pending -> [SocketStateEvent] in
            defer { pending = [] }
            return pending
        }
        if !events.isEmpty { flows.record(events) }
    }

    /// A full pass: the kernel's state, plus flows that started during it. `tcpInfo` asks for the TCP
    /// counters and RTT (see ``HostCollector/collect(tcpInfo:)``).
    public func pass(tcpInfo: Bool = true) -> Output {
        foldPendingEvents()
        let start = SystemClock.monotonicMillis()
        let passStart = SystemClock.realtime()
        var snapshot = collector.collect(tcpInfo: tcpInfo)
        if let containers { snapshot.containers = containers.collect(processes: snapshot.processes) }
        let collected = SystemClock.monotonicMillis()
        scannedNamespaces = Set(snapshot.processes.map(\.netns))
        scannedNamespaces.insert(snapshot.hostNetns)
        var base = snapshot
        var shown = FlowTracker.Overlay()
        baseVersion += 1
        if let overlay = flows.overlay(on: snapshot, version: baseVersion, fresh: true) {
            // An owner a flow filled in on a dumped socket (the owner search had not found it yet) stays in
            // the base of later patches and is told to the owner search: the flow is dropped after this pass.
            for (i, pid) in overlay.fills.sorted(by: { $0.key < $1.key }) where base.sockets.indices.contains(i) {
                base.sockets[i].pid = pid
                collector.learnOwner(inode: base.sockets[i].inode, pid: pid)
            }
            if !overlay.fills.isEmpty { flows.ownersFilled(at: overlay.fills.keys, in: base.sockets, version: baseVersion) }
            snapshot = overlay.applied(to: snapshot, now: snapshot.timestamp)
            shown.appended = overlay.appended
        }
        lastSnapshot = base
        shownFlows = shown
        indexBase(base)
        baseHasUnscannedSocket = base.sockets.contains { !scannedNamespaces.contains($0.netns) }
        flows.fullPassDone(passStart: passStart)
        var report = builder.ingest(snapshot)
        if let l7 {
            l7.refresh(now: SystemClock.monotonicMillis() / 1000)
            l7.annotate(&report)
        }
        let built = SystemClock.monotonicMillis()
        lastNames = names(for: snapshot)
        refreshDone()
        var output = Output(report: report, names: lastNames, processCount: snapshot.processes.count,
                            socketCount: snapshot.sockets.count, collectMillis: collected - start, buildMillis: built - collected)
        output.retainedUntil = builder.retainedUntil
        return output
    }

    /// An event-driven update: the last full snapshot with the processes that changed since read again
    /// one pid at a time (see ``ProcessChanges``), patched with the flows seen since, without asking the
    /// kernel for its socket tables. `nil` when there is nothing new.
    public func patchPass() -> Output? {
        guard var last = lastSnapshot else { return nil }
        let start = SystemClock.monotonicMillis()
        let collector = self.collector
        let outcome = processChanges.apply(to: &last) { collector.process(pid: $0, fresh: true) }
        if outcome.changed { lastSnapshot = last }
        return update(last, start: start, processesChanged: outcome.changed, needsFullPass: outcome.needsFullPass,
                      counters: nil)
    }

    /// A counters-only update between full passes, for when someone looks: the host's figures, every process
    /// and the `tcp_info` of connected TCP sockets read again (``HostCollector/sampleCounters(namespaces:)``),
    /// and only the connections whose counters moved written again (plus the flows seen since, as
    /// ``patchPass()``). No socket addresses, no owner search, no rebuild: the work follows what moved, and a
    /// full pass stays the slow reconciliation. `nil` before the first full pass.
    public func countersPass() -> Output? {
        guard var last = lastSnapshot else { return nil }
        lastSnapshot = nil  // `last` alone holds the sockets: their counters are written in place, not into a copy
        let start = SystemClock.monotonicMillis()
        var sample = collector.sampleCounters(namespaces: scannedNamespaces)
        sample.host.addresses = last.host.addresses
        last.host = sample.host
        // An owner of sockets that is gone stays as last read until the full pass it asks for (which closes its
        // connections and keeps it, exited, with them), as an exit event leaves it (see ``ProcessChanges``).
        let alive = Set(sample.processes.lazy.map(\.pid))
        let ownersGone = baseOwners.subtracting(alive)
        last.processes = ownersGone.isEmpty ? sample.processes
            : (sample.processes + last.processes.filter { ownersGone.contains($0.pid) }).sorted { $0.pid < $1.pid }
        if let containers { last.containers = containers.collect(processes: last.processes) }
        var changed: [Int] = []
        var unknown = 0, matched = 0
        for socket in sample.sockets {
            guard let i = baseIndex[SocketID(netns: socket.netns, inode: socket.inode)] else {
                unknown += 1
                continue
            }
            matched += 1
            if last.sockets[i].tcpInfo != socket.info {
                last.sockets[i].tcpInfo = socket.info
                changed.append(i)
            }
        }
        lastSnapshot = last
        // Sockets came (a server's accepted ones have no event with an owner) or went: a full pass lists them.
        let socketsChanged = unknown > 0 || matched < baseIndex.count || sample.namespacesMissing > 0
        var output = update(last, start: start, processesChanged: true, needsFullPass: !ownersGone.isEmpty || socketsChanged,
                            counters: changed)
        if let l7, var report = output?.report {
            l7.refresh(now: SystemClock.monotonicMillis() / 1000)
            l7.annotate(&report)
            output?.report = report
        }
        refreshDone()
        return output
    }

    /// The report for `last` (the full snapshot as patched since) with the flows seen since on top; `counters`
    /// are indices of `last.sockets` whose `tcp_info` moved (a counters-only update, which also samples the
    /// processes), `nil` for an event-driven patch.
    private func update(_ last: HostSnapshot, start: Double, processesChanged: Bool, needsFullPass: Bool,
                        counters: [Int]?) -> Output? {
        let now = SystemClock.realtime()
        foldPendingEvents()
        let flowPatch = flows.overlay(on: last, version: baseVersion)
        let expiring = builder.retainedUntil.map { $0 < now } ?? false
        guard flowPatch != nil || processesChanged || expiring else {
            guard needsFullPass else { return nil }
            // Nothing to show yet, but a full pass must come: an unchanged report asks for it.
            var output = Output(report: builder.current, names: lastNames, processCount: last.processes.count,
                                socketCount: last.sockets.count, collectMillis: 0, buildMillis: 0)
            output.needsFullPass = true
            output.retainedUntil = builder.retainedUntil
            return output
        }
        let metrics = counters != nil
        // The sockets whose counters moved, as the builder holds them (with the owners the flows filled in).
        let fills = flowPatch?.fills ?? shownFlows?.fills ?? [:]
        let moved = counters.map { indices in
            indices.map { i in
                var socket = last.sockets[i]
                if let pid = fills[i] { socket.pid = pid }
                return socket
            }
        }
        var patched = last
        patched.timestamp = now
        var report: Report
        if let flowPatch {
            // Only the flow sockets that differ from what the builder has are handed to it.
            patched.processes.append(contentsOf: flowPatch.processes)
            let delta = shownFlows.map { Self.delta(from: $0, to: flowPatch, base: last.sockets) }
            if let delta, let updated = builder.ingest(patched, removing: delta.removed, adding: delta.added,
                                                       counters: moved, metrics: metrics) {
                report = updated
            } else {
                report = builder.ingest(flowPatch.applied(to: last, now: now), metrics: metrics)
            }
            shownFlows = flowPatch
        } else if moved != nil || expiring {
            // Counters moved, or closed connections kept past their retention leave the report.
            if let updated = builder.ingest(patched, removing: [], adding: [], counters: moved, metrics: metrics) {
                report = updated
            } else {
                // No incremental state to patch: the whole snapshot with the flows already shown.
                var whole = patched
                for (i, pid) in fills where whole.sockets.indices.contains(i) { whole.sockets[i].pid = pid }
                whole.sockets += shownFlows?.appended ?? []
                report = builder.ingest(whole, metrics: metrics)
            }
        } else {
            // Only processes changed (no socket came or went): the sockets' part of the report stays as it is.
            report = builder.updateProcesses(patched)
        }
        if counters == nil { l7?.annotate(&report) }
        let built = SystemClock.monotonicMillis()
        let appended = flowPatch?.appended ?? []
        var output = Output(report: report, names: lastNames, processCount: patched.processes.count,
                            socketCount: last.sockets.count + appended.count, collectMillis: 0, buildMillis: built - start)
        output.retainedUntil = builder.retainedUntil
        output.needsFullPass = needsFullPass || patched.processes.contains { $0.netns != 0 && !scannedNamespaces.contains($0.netns) }
            || baseHasUnscannedSocket || appended.contains { !scannedNamespaces.contains($0.netns) }
        return output
    }

    /// The sockets to take out of and put into a report built on `base` with the flows `old` so that it has
    /// the flows `new` instead.
    static func delta(from old: FlowTracker.Overlay, to new: FlowTracker.Overlay,
                      base: [SocketRecord]) -> (removed: [SocketRecord], added: [SocketRecord]) {
        var removed: [SocketRecord] = [], added: [SocketRecord] = []
        for i in Set(old.fills.keys).union(new.fills.keys).sorted() where base.indices.contains(i) {
            var was = base[i], now = base[i]
            if let pid = old.fills[i] { was.pid = pid }
            if let pid = new.fills[i] { now.pid = pid }
            if was != now { removed.append(was); added.append(now) }
        }
        var remaining: [SocketRecord: Int] = [:]
        for socket in new.appended { remaining[socket, default: 0] += 1 }
        for socket in old.appended {
            if let n = remaining[socket], n > 0 { remaining[socket] = n - 1 } else { removed.append(socket) }
        }
        for socket in new.appended {
            guard let n = remaining[socket], n > 0 else { continue }
            remaining[socket] = n - 1
            added.append(socket)
        }
        return (removed, added)
    }

    /// Counts a full pass or counters update; every tenth hands back to the system what renders and dumps freed.
    private func refreshDone() {
        passes += 1
        if passes % 10 == 0 { MemoryTuning.trim() }
    }

    /// Indexes the sockets of a new full snapshot for counters-only updates.
    private func indexBase(_ base: HostSnapshot) {
        baseIndex.removeAll(keepingCapacity: true)
        baseOwners.removeAll(keepingCapacity: true)
        for (i, socket) in base.sockets.enumerated() {
            if let pid = socket.pid { baseOwners.insert(pid) }
            if socket.proto == .tcp, socket.inode != 0, socket.remotePort != 0, socket.state != "close",
               socket.state != "listen" {
                baseIndex[SocketID(netns: socket.netns, inode: socket.inode)] = i
            }
        }
    }

    /// Reverse-DNS names of remote peers that are already cached; unknown ones are queued for lookup
    /// (the resolver never blocks), so names appear on a later pass.
    private func names(for snapshot: HostSnapshot) -> [String: String] {
        var local: Set<String> = []
        for address in snapshot.host.addresses { local.insert(address.address) }
        var names: [String: String] = [:]
        var asked: Set<String> = []
        for socket in snapshot.sockets where socket.remotePort != 0 {
            let address = socket.remoteAddress
            guard !local.contains(address), !isLoopbackOrUnspecified(address), asked.insert(address).inserted else { continue }
            if let name = resolver.name(for: address) { names[address] = name }
            if asked.count >= 4096 { break }
        }
        return names
    }

    private func isLoopbackOrUnspecified(_ address: String) -> Bool {
        address.hasPrefix("127.") || address == "::1" || address == "0.0.0.0" || address == "::"
    }
}
