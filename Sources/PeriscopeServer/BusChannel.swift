import CPeriscopeNATS
import Dispatch
import PeriscopeEventLoop
import PeriscopeSystem
import PeriscopeTopology
import Synchronization

/// The client handle: the C bus is thread-safe, so the pointer may cross threads.
struct BusHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// A decoded message for the loop: a host's report, or why it was refused.
struct BusDelivery: Sendable {
    enum Content: Sendable {
        case report(host: String, report: Report)
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
    /// Reports superseded by a newer one of the same host before they were decoded.
    var coalesced: UInt64 = 0
    /// Messages the consumer still had to deliver after the last one (JetStream's count).
    var pending: UInt64 = 0
    /// Monotonic ms of the last delivery.
    var lastDelivery = 0.0
    var bytes = ByteRate()
    var messages = ByteRate()
}

/// The part of the bus the client's threads reach through the C callbacks: the client handle, the consumer's
/// position, the reports waiting to be decoded, and the way back to the loop.
///
/// Every stored message is a full report, so only a host's newest matters: the delivery thread leaves each in
/// its host's slot (replacing one not yet decoded) and one decode queue works through the slots. A burst of
/// reports, or a consumer catching up, costs one decode per host, never a backlog.
/// Thread-safe (Mutex-guarded state; the ``ReportBus`` itself only on the loop).
final class BusChannel: @unchecked Sendable {
    let loop: EventLoop
    let ownSubject: String
    let prefix: String
    /// The client, once connected (nil after close).
    let handle = Mutex<BusHandle?>(nil)
    let counters = Mutex(BusCounters())
    private let sequence = Mutex<UInt64>(0)
    private struct Waiting: Sendable {
        var data: [UInt8]
        var revision: Int64
        var refresh: Int64
        var storedNanos: Int64
    }
    /// Each host's newest undecoded report, and the hosts in the order their slots filled (fair: a host that
    /// reports often cannot starve the others).
    private let waiting = Mutex<(slots: [String: Waiting], order: [String], decoding: Bool)>(([:], [], false))
    private let decodeQueue = DispatchQueue(label: "periscope.bus.decode")
    /// Set once on the loop before any callback can run; read only on the loop.
    weak var bus: ReportBus?

    init(loop: EventLoop, ownSubject: String, prefix: String) {
        self.loop = loop
        self.ownSubject = ownSubject
        self.prefix = prefix
    }

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

    /// A message on the delivery thread: skips replays already seen, counts it, and leaves a report in its
    /// host's slot for the decode queue.
    func deliver(subject: String, data: UnsafeBufferPointer<UInt8>, sequence number: UInt64, pending: UInt64,
                 storedNanos: Int64, revision: Int64, refresh: Int64) {
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
        guard subject != ownSubject else { return }  // this host is the local report
        guard subject.hasPrefix(prefix), case let host = String(subject.dropFirst(prefix.count)), !host.isEmpty else {
            let delivery = BusDelivery(content: .refused(host: subject, reason: "subject outside \(prefix)*"), revision: revision,
                                       refreshMillis: 0, size: data.count, storedSeconds: 0)
            return onLoop { $0.delivered(delivery) }
        }
        let entry = Waiting(data: Array(data), revision: revision, refresh: refresh, storedNanos: storedNanos)
        let start = waiting.withLock { state -> Bool in
            if state.slots.updateValue(entry, forKey: host) != nil {
                counters.withLock { $0.coalesced &+= 1 }
            } else {
                state.order.append(host)
            }
            guard !state.decoding else { return false }
            state.decoding = true
            return true
        }
        if start { decodeQueue.async { self.drain() } }
    }

    /// Decodes waiting reports, one host at a time, until no slot is full. Decode queue.
    private func drain() {
        while true {
            let next = waiting.withLock { state -> (String, Waiting)? in
                guard !state.order.isEmpty else {
                    state.decoding = false
                    return nil
                }
                let host = state.order.removeFirst()
                guard let entry = state.slots.removeValue(forKey: host) else {  // never: the order follows the slots
                    state.decoding = false
                    return nil
                }
                return (host, entry)
            }
            guard let (host, entry) = next else { return }
            let content: BusDelivery.Content
            do throws(ReportWireError) {
                let report = try ReportWire.decompress(entry.data)
                if let violation = ReportWire.claimViolation(report, host: host) { throw ReportWireError(violation) }
                content = .report(host: host, report: report)
            } catch {
                content = .refused(host: host, reason: error.description)
            }
            let delivery = BusDelivery(content: content, revision: entry.revision,
                                       refreshMillis: Int(min(max(entry.refresh, 50), 60_000)), size: entry.data.count,
                                       storedSeconds: Double(entry.storedNanos) / 1e9)
            onLoop { $0.delivered(delivery) }
        }
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
let busMessage: periscope_bus_message_cb = { context, subject, data, length, sequence, pending, stored, revision, refresh in
    guard let context, let subject else { return }
    let channel = Unmanaged<BusChannel>.fromOpaque(context).takeUnretainedValue()
    channel.deliver(subject: String(cString: subject), data: UnsafeBufferPointer(start: data, count: Int(max(0, length))),
                    sequence: sequence, pending: pending, storedNanos: stored, revision: revision, refresh: refresh)
}
