import CPeriscopeNATS
import Dispatch
import Glibc
import PeriscopeEventLoop
import PeriscopeSystem
import PeriscopeTopology
import Synchronization

/// The client handle: the C bus is thread-safe, so the pointer may cross threads.
struct BusHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// What of the client's own figures status shows, read off the loop (reading them takes the client's connection
/// lock, which its threads hold while they reconnect). Plain value.
struct BusLinkFigures: Sendable {
    var reconnects: UInt64 = 0
    /// The server connected to when last read ("" when none).
    var server = ""
}

/// A decoded message for the loop: a host's full report, a delta from revision `base`, or why it was refused.
struct BusDelivery: Sendable {
    enum Content: Sendable {
        case report(host: String, report: Report)
        case delta(host: String, base: Int64, delta: ReportDelta)
        case refused(host: String, reason: String)
    }
    var content: Content
    var revision: Int64
    var refreshMillis: Int
    var size: Int
    var storedSeconds: Double
}

/// Consumer figures, counted on the delivery thread. Plain value.
struct BusCounters: Sendable {
    var received: UInt64 = 0
    /// Messages superseded by a newer full report of the same host before they were decoded.
    var coalesced: UInt64 = 0
    /// Deltas not decoded because no full report of their host came before them (a consumer starting mid-stream,
    /// or a host's backlog past ``BusChannel/maxWaitingPerHost``): their host waits for its next full report.
    var skippedDeltas: UInt64 = 0
    /// Messages the consumer still had to deliver after the last one (JetStream's count).
    var pending: UInt64 = 0
    /// Monotonic ms of the last delivery.
    var lastDelivery = 0.0
    var bytes = ByteRate()
    var messages = ByteRate()
}

/// The part of the bus the client's threads reach through the C callbacks: the client handle, the consumer's
/// position, the messages waiting to be decoded, and the way back to the loop.
///
/// Per host, what waits is its newest full report (if one came since the last decode) and the deltas after it:
/// a full report supersedes everything of its host still undecoded, so a burst, or a consumer catching up from
/// the stream (per host its newest full report and the deltas after it), costs one full decode per host. A delta
/// of a host no full report came for yet is not decoded at all. One decode queue works through the hosts in the
/// order their slots filled (fair: a host that reports often cannot starve the others).
/// Thread-safe (Mutex-guarded state; the ``ReportBus`` itself only on the loop).
final class BusChannel: @unchecked Sendable {
    let loop: EventLoop
    let ownSubject: String
    let prefix: String
    /// The client, once connected (nil after close).
    let handle = Mutex<BusHandle?>(nil)
    let counters = Mutex(BusCounters())
    /// Refreshed every refresh interval on the bus's stats queue (see ``ReportBus``).
    let link = Mutex(BusLinkFigures())
    private let sequence = Mutex<UInt64>(0)
    /// A stored message as delivered, still compressed.
    struct Waiting: Sendable {
        var data: [UInt8]
        var revision: Int64
        /// The delta's base revision; -1 for a full report.
        var base: Int64
        var refresh: Int64
        var storedNanos: Int64
    }
    private struct Slots: Sendable {
        var slots: [String: [Waiting]] = [:]
        var order: [String] = []
        var decoding = false
        /// Hosts a full report was received for (deltas of the others cannot apply).
        var haveFull: Set<String> = []
    }
    private let waiting = Mutex(Slots())
    private let decodeQueue = DispatchQueue(label: "periscope.bus.decode")
    /// Most messages of one host waiting undecoded; past it the host's deltas are dropped until its next full report.
    static let maxWaitingPerHost = 1024
    /// Set once on the loop before any callback can run; read only on the loop.
    weak var bus: ReportBus?
    /// The merge queue's backlog (set once before any callback can run): decoding waits while it is past
    /// ``maxMergeBacklog``, so that messages wait undecoded — where a newer full report supersedes them — instead
    /// of decoded on the merge queue, unbounded.
    nonisolated(unsafe) var mergeBacklog: (@Sendable () -> Int)?
    static let maxMergeBacklog = 8
    /// The history backfill, while the aggregator records the past the stream holds (set once before any
    /// callback can run; see ``BusBackfill``).
    nonisolated(unsafe) var backfill: BusBackfill?

    init(loop: EventLoop, ownSubject: String, prefix: String) {
        self.loop = loop
        self.ownSubject = ownSubject
        self.prefix = prefix
    }

    /// Hosts with messages waiting undecoded: heard from, so not silent whatever their last decoded message says.
    var waitingHosts: Set<String> { waiting.withLock { Set($0.slots.keys) } }

    /// The stream sequence to resume from: one past the last delivered (0: never delivered, start fresh).
    var nextSequence: UInt64 { sequence.withLock { $0 == 0 ? 0 : $0 + 1 } }

    /// Runs `work` with the bus on the loop (dropped when the bus is gone).
    func onLoop(_ work: @escaping (ReportBus) -> Void) {
        let bound = LoopBound(self, loop: loop)
        let box = LoopBound(work, loop: loop)
        loop.execute {
            guard let bus = bound.value.bus else { return }
            box.value(bus)
        }
    }

    /// A message on the delivery thread: skips replays already seen, counts it, and leaves it in its host's slot
    /// for the decode queue.
    func deliver(subject: String, data: UnsafeBufferPointer<UInt8>, sequence number: UInt64, pending: UInt64,
                 storedNanos: Int64, revision: Int64, base: Int64, refresh: Int64) {
        let fresh = sequence.withLock { last -> Bool in
            guard number > last else { return false }
            last = number
            return true
        }
        guard fresh else { return }
        let now = monotonicMillis()
        counters.withLock {
            $0.received &+= 1
            $0.pending = pending
            $0.lastDelivery = now
            $0.bytes.count(data.count, now: now)
            $0.messages.count(1, now: now)
        }
        let host = subject.hasPrefix(prefix) ? String(subject.dropFirst(prefix.count)) : ""
        if let backfill, !host.isEmpty {  // this host's own messages too: an earlier run of it published them
            backfill.offer(host: host, pending: pending, storedNanos: storedNanos) {
                Waiting(data: Array(data), revision: revision, base: base, refresh: refresh, storedNanos: storedNanos)
            }
        }
        guard subject != ownSubject else { return }  // this host is the local report
        guard !host.isEmpty else {
            let delivery = BusDelivery(content: .refused(host: subject, reason: "subject outside \(prefix)*"), revision: revision,
                                       refreshMillis: 0, size: data.count, storedSeconds: 0)
            return onLoop { $0.delivered([delivery]) }
        }
        let entry = Waiting(data: Array(data), revision: revision, base: base, refresh: refresh, storedNanos: storedNanos)
        let (start, superseded, skipped) = waiting.withLock { state -> (Bool, Int, Bool) in
            var superseded = 0
            if entry.base < 0 {
                state.haveFull.insert(host)
                superseded = state.slots[host]?.count ?? 0
                state.slots[host] = nil
            } else if !state.haveFull.contains(host) {
                return (false, 0, true)
            } else if (state.slots[host]?.count ?? 0) >= Self.maxWaitingPerHost {
                state.haveFull.remove(host)  // too far behind: the next full report starts it again
                superseded = state.slots.removeValue(forKey: host)?.count ?? 0
                state.order.removeAll { $0 == host }
                return (false, superseded, true)
            }
            if state.slots[host] == nil {
                state.slots[host] = []
                state.order.append(host)
            }
            state.slots[host]?.append(entry)
            guard !state.decoding else { return (false, superseded, false) }
            state.decoding = true
            return (true, superseded, false)
        }
        if superseded > 0 || skipped {
            counters.withLock {
                $0.coalesced &+= UInt64(superseded)
                if skipped { $0.skippedDeltas &+= 1 }
            }
        }
        if start { decodeQueue.async { self.drain() } }
    }

    /// Decodes waiting messages, one host's at a time, until no slot is full. Decode queue.
    private func drain() {
        while true {
            while let backlog = mergeBacklog, backlog() > Self.maxMergeBacklog { usleep(2000) }
            let next = waiting.withLock { state -> (String, [Waiting])? in
                guard !state.order.isEmpty else {
                    state.decoding = false
                    return nil
                }
                let host = state.order.removeFirst()
                return (host, state.slots.removeValue(forKey: host) ?? [])
            }
            guard let (host, entries) = next else { return }
            let deliveries = entries.map { Self.decode($0, host: host) }
            if !deliveries.isEmpty { onLoop { $0.delivered(deliveries) } }
        }
    }

    /// Inflates, parses and checks one message of `host` (section 17.1's claim rules). Decode queue.
    static func decode(_ entry: Waiting, host: String) -> BusDelivery {
        let content: BusDelivery.Content
        do throws(ReportWireError) {
            let json = try ReportWire.inflate(entry.data)
            if entry.base < 0 {
                let report = try ReportWire.parse(json)
                if let violation = ReportWire.claimViolation(report, host: host) { throw ReportWireError(violation) }
                content = .report(host: host, report: report)
            } else {
                let delta = try ReportDelta.parse(json)
                if let violation = ReportWire.claimViolation(delta.upserts, host: host) { throw ReportWireError(violation) }
                content = .delta(host: host, base: entry.base, delta: delta)
            }
        } catch {
            content = .refused(host: host, reason: error.description)
        }
        return BusDelivery(content: content, revision: entry.revision, refreshMillis: Int(min(max(entry.refresh, 50), 60_000)),
                           size: entry.data.count, storedSeconds: Double(entry.storedNanos) / 1e9)
    }
}

/// Connection events from the client's threads, to the loop.
let busEvent: periscope_bus_event_cb = { context, kind, detail in
    guard let context else { return }
    let channel = Unmanaged<BusChannel>.fromOpaque(context).takeUnretainedValue()
    let text = detail.map { String(cString: $0) }
    channel.onLoop { $0.event(kind, text) }
}

/// Stored reports from the subscription's delivery thread.
let busMessage: periscope_bus_message_cb = { context, subject, data, length, sequence, pending, stored, revision, base, refresh in
    guard let context, let subject else { return }
    let channel = Unmanaged<BusChannel>.fromOpaque(context).takeUnretainedValue()
    channel.deliver(subject: String(cString: subject), data: UnsafeBufferPointer(start: data, count: Int(max(0, length))),
                    sequence: sequence, pending: pending, storedNanos: stored, revision: revision, base: base, refresh: refresh)
}
