/// Per-socket memory between tracepoint samples, keyed by the kernel socket address:
///
/// - **Source port of connect.** `tcp_v4_connect`/`tcp_v6_connect` move the socket to SYN_SENT
///   *before* `inet_hash_connect` picks the ephemeral port, so the (process-context, pid-carrying)
///   `close → syn-sent` record usually has source port 0. Such an event is held until the socket's next
///   transition (syn-sent → established or → close, on loopback microseconds later, otherwise one
///   round trip) and then delivered just before it with that port filled in; after `holdNanos` without
///   one it is delivered with `localPort` 0. Rings are per CPU, so the follow-up (softirq, maybe on
///   another CPU) can be read in an earlier pass than the syn-sent itself: follow-ups of connecting
///   sockets are remembered for `holdNanos` so such a late syn-sent still gets its port.
/// - **Owner.** The pid of a trusted (process-context) transition is remembered and given to the
///   socket's later transitions that have none (e.g. syn-sent → established runs in softirq), until the
///   socket reaches CLOSE, after which the kernel may reuse its address.
///
/// - Important: not thread-safe; owned by the reader thread.
final class SocketStateTracker {
    struct Held {
        var time: UInt64
        var event: SocketStateEvent
    }

    let holdNanos: UInt64
    private let limit: Int
    private var owners: [UInt64: Int32] = [:]
    private var held: [UInt64: Held] = [:]
    /// Recent transitions out of syn-sent whose syn-sent was not seen (yet).
    private var followUps: [UInt64: (time: UInt64, port: UInt16, closed: Bool)] = [:]

    init(holdNanos: UInt64 = 50_000_000, limit: Int = 65_536) {
        self.holdNanos = holdNanos
        self.limit = limit
    }

    /// Feeds one event (time: CLOCK_MONOTONIC ns of the sample) and appends what is ready to `out`.
    /// Events must be fed in time order per socket, as far as the reader has seen them.
    func process(socket: UInt64, time: UInt64, event input: SocketStateEvent, into out: inout [Held]) {
        var event = input
        let connecting = event.newState == "syn-sent" && event.localPort == 0
        var late: (time: UInt64, port: UInt16, closed: Bool)?
        if connecting, let seen = followUps[socket], seen.time >= time {
            followUps[socket] = nil
            late = seen
            event.localPort = seen.port
        }
        if event.pid == nil, let owner = owners[socket] { event.pid = owner }
        if event.newState == "close" || late?.closed == true {
            owners[socket] = nil
        } else if let pid = event.pid {
            if owners.count >= limit { owners.removeAll(keepingCapacity: true) }
            owners[socket] = pid
        }
        if var waiting = held.removeValue(forKey: socket) {
            if waiting.event.localPort == 0 { waiting.event.localPort = event.localPort }
            out.append(waiting)
        } else if event.oldState == "syn-sent" {
            if followUps.count >= limit { followUps.removeAll(keepingCapacity: true) }
            followUps[socket] = (time, event.localPort, event.newState == "close")
        }
        if connecting && late == nil {
            if held.count >= limit { flush(before: UInt64.max, into: &out) }
            held[socket] = Held(time: time, event: event)
            return
        }
        out.append(Held(time: time, event: event))
    }

    /// Releases held events older than `now − holdNanos` (all of them with `before: .max`).
    func flush(before now: UInt64, into out: inout [Held]) {
        let cutoff = now >= holdNanos ? now - holdNanos : 0
        if !followUps.isEmpty {
            followUps = followUps.filter { $0.value.time > cutoff && now != UInt64.max }
        }
        guard !held.isEmpty else { return }
        for (socket, waiting) in held where waiting.time <= cutoff || now == UInt64.max {
            held[socket] = nil
            out.append(waiting)
        }
    }

    /// Milliseconds until the oldest held event is due (for the poll timeout), or nil when none is held.
    func nextDeadline(now: UInt64) -> Int32? {
        guard let oldest = held.values.map(\.time).min() else { return nil }
        let due = oldest &+ holdNanos
        guard due > now else { return 0 }
        return Int32(min((due - now + 999_999) / 1_000_000, 60_000))
    }

    /// Forgets every owner (after lost samples, a socket address may have been freed and reused unseen).
    func forgetOwners() {
        owners.removeAll(keepingCapacity: true)
    }
}
