import PeriscopeCollectors
import PeriscopeTopology

/// TCP connections seen through socket-state events (the `sock:inet_sock_set_state` tracepoint)
/// between two full kernel passes, patched into the last snapshot so they reach the model within
/// milliseconds — including connections that live only a few milliseconds, which a periodic dump
/// would never see.
///
/// A flow starts at a `syn-sent` event carrying the connecting pid (process context). It is included
/// in at least one report; after its close event it is left out, so the report builder marks the
/// connection closed and keeps it for its retention period. The next full pass is authoritative for
/// every flow that started before it.
///
/// - Important: confined to the collection queue.
final class FlowTracker {
    private struct Key: Hashable {
        var localAddress: String
        var localPort: UInt16
        var remoteAddress: String
        var remotePort: UInt16
    }

    private struct Flow {
        var family: AddressFamily
        var pid: Int32
        var opened: Double
        var closed: Double?
        var included = false
    }

    private var flows: [Key: Flow] = [:]
    /// Flows ever added to a report, and those seen only through events (never in a full pass).
    private(set) var flowsPatched: UInt64 = 0
    private static let closingStates: Set<String> = ["fin-wait-1", "fin-wait-2", "close-wait", "last-ack", "time-wait", "close", "closing"]
    private static let maximumFlows = 50_000

    /// Folds events into the flow table.
    func record(_ events: [SocketStateEvent]) {
        for event in events where event.proto == .tcp {
            let key = Key(localAddress: event.localAddress, localPort: event.localPort,
                          remoteAddress: event.remoteAddress, remotePort: event.remotePort)
            if event.newState == "syn-sent" || (event.oldState == "syn-sent" && event.newState == "established") {
                guard let pid = event.pid, event.localPort != 0, flows[key] == nil, flows.count < Self.maximumFlows else { continue }
                flows[key] = Flow(family: event.family, pid: pid, opened: event.timestamp)
            } else if Self.closingStates.contains(event.newState), flows[key] != nil, flows[key]?.closed == nil {
                flows[key]?.closed = event.timestamp
            }
        }
    }

    /// Whether a patch would change anything.
    var hasWork: Bool { flows.values.contains { !$0.included || $0.closed != nil } }

    /// `snapshot` with the tracked flows it lacks added as sockets (client side with the connecting
    /// pid; server side with the owner of the matching local listener), or `nil` if nothing changes.
    func patch(_ snapshot: HostSnapshot, now: Double) -> HostSnapshot? {
        guard hasWork else { return nil }
        var present = Set<Key>(minimumCapacity: snapshot.sockets.count)
        var listeners: [UInt16: [SocketRecord]] = [:]
        for socket in snapshot.sockets where socket.proto == .tcp {
            if socket.state == "listen" {
                listeners[socket.localPort, default: []].append(socket)
            } else {
                present.insert(Key(localAddress: socket.localAddress, localPort: socket.localPort,
                                   remoteAddress: socket.remoteAddress, remotePort: socket.remotePort))
            }
        }
        var processes: [Int32: ProcessRecord] = [:]
        for process in snapshot.processes { processes[process.pid] = process }
        var patched = snapshot
        patched.timestamp = now
        var changed = false
        for flow in flows.values where processes[flow.pid] == nil && !flow.included {
            if let quick = QuickProcessLookup.record(pid: flow.pid) {
                processes[flow.pid] = quick
                patched.processes.append(quick)
            }
        }
        for (key, flow) in flows {
            if flow.closed != nil, flow.included {
                flows[key] = nil  // seen once; leaving it out lets the builder mark it closed
                changed = true
                continue
            }
            guard !present.contains(key), let process = processes[flow.pid] else { continue }
            flows[key]?.included = true
            flowsPatched &+= 1
            changed = true
            let inode = Self.syntheticInode(key)
            patched.sockets.append(SocketRecord(
                proto: .tcp, family: flow.family, state: "established", localAddress: key.localAddress,
                localPort: key.localPort, remoteAddress: key.remoteAddress, remotePort: key.remotePort,
                inode: inode, uid: process.uid, netns: process.netns, pid: flow.pid))
            if let listener = Self.listener(for: key, among: listeners[key.remotePort] ?? [], netns: process.netns) {
                patched.sockets.append(SocketRecord(
                    proto: .tcp, family: flow.family, state: "established", localAddress: key.remoteAddress,
                    localPort: key.remotePort, remoteAddress: key.localAddress, remotePort: key.localPort,
                    inode: inode ^ 1, uid: listener.uid, netns: listener.netns, pid: listener.pid))
            }
        }
        return changed ? patched : nil
    }

    /// A full pass that started at `passStart` saw the kernel's truth for every older flow.
    func fullPassDone(passStart: Double) {
        flows = flows.filter { $0.value.opened >= passStart }
    }

    private static func listener(for key: Key, among candidates: [SocketRecord], netns: UInt64) -> SocketRecord? {
        let matching = candidates.filter {
            $0.localAddress == key.remoteAddress || $0.localAddress == "0.0.0.0" || $0.localAddress == "::"
        }
        return matching.first { $0.netns == netns } ?? matching.first
    }

    /// Inodes the kernel never hands out (top bits set), stable per flow.
    private static func syntheticInode(_ key: Key) -> UInt64 {
        var hasher = Hasher()
        hasher.combine(key)
        return ((UInt64(bitPattern: Int64(hasher.finalize())) >> 2) | (UInt64(3) << 62)) & ~UInt64(1)
    }
}
