import PeriscopeTopology

/// TCP connections seen through socket-state events (the `sock:inet_sock_set_state` tracepoint)
/// between two full kernel passes, patched into the last snapshot so they reach the model within
/// milliseconds — including connections that live only a few milliseconds, which a periodic dump
/// would never see.
///
/// Only the client side is added (with the connecting pid): the report builder finds the server of an
/// outbound socket through the local listener, with the right namespace rules (a loopback peer is in
/// the client's own namespace).
///
/// A flow starts at a `syn-sent` event carrying the connecting pid (process context). It is included
/// in at least one report; after its close event it is left out, so the report builder marks the
/// connection closed and keeps it for its retention period. The next full pass is authoritative for
/// every flow that started before it.
///
/// A flow is never shown twice: when the snapshot's dump already has its socket with an owner, the flow
/// is only marked confirmed; when the dump has it without an owner yet, the event's pid is filled in on
/// that socket instead of adding a synthetic one.
///
/// - Important: not thread-safe; confined to one thread or serial queue (the daemon's collection queue).
public final class FlowTracker {
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
        /// Added to a report at least once (as a synthetic socket).
        var included = false
        /// Seen by a kernel dump as an established socket with its owner: the dump covers it.
        var confirmed = false
    }

    private var flows: [Key: Flow] = [:]
    private let lookup: any ProcessLookup
    /// The parent of a pid, when known (fork events; see ``ProcessChanges/parent(of:)``): a flow whose process
    /// exited before it could be read is given to its nearest live ancestor instead of no owner.
    public var parentOf: ((Int32) -> Int32?)?
    private static let closingStates: Set<String> = ["fin-wait-1", "fin-wait-2", "close-wait", "last-ack", "time-wait", "close", "closing"]
    private static let maximumFlows = 50_000
    /// A flow whose process could never be read (it exited at once) is dropped after this many seconds.
    private static let unseenFlowLifetime = 30.0

    /// A tracker that reads processes the last pass did not see (and namespaces) through `lookup`.
    public init(lookup: any ProcessLookup) {
        self.lookup = lookup
    }

    /// Folds events into the flow table: a TCP `syn-sent` with a pid opens a flow, a closing state
    /// closes it. Other events are ignored.
    public func record(_ events: [SocketStateEvent]) {
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
    public var hasWork: Bool { flows.values.contains { !$0.included || $0.closed != nil } }

    /// What a patch puts on top of a snapshot: owners filled in on sockets it has without one, client-side
    /// sockets it lacks, and processes read for them. Small: it follows the flows, not the host.
    public struct Overlay: Sendable, Equatable {
        /// Owners (pids) to fill in on sockets of the snapshot that have none, by index in its `sockets`.
        public var fills: [Int: Int32] = [:]
        /// Sockets the snapshot lacks (with synthetic inodes), in the order they are appended.
        public var appended: [SocketRecord] = []
        /// Processes the snapshot lacks, read through the lookup for the flows' pids.
        public var processes: [ProcessRecord] = []

        public init() {}

        /// `snapshot` with this overlay applied, timestamped `now`.
        public func applied(to snapshot: HostSnapshot, now: Double) -> HostSnapshot {
            var patched = snapshot
            patched.timestamp = now
            patched.processes.append(contentsOf: processes)
            for (index, pid) in fills where patched.sockets.indices.contains(index) { patched.sockets[index].pid = pid }
            patched.sockets.append(contentsOf: appended)
            return patched
        }
    }

    /// The sockets of one base snapshot by flow key: those with an owner, and connected ones without (by index).
    private struct Index {
        var version: Int
        var present: Set<Key>
        var ownerless: [Key: Int]
        /// Two ownerless sockets share a key (the last one is kept): the index cannot be updated in place.
        var ambiguous: Bool
    }

    private var index: Index?

    /// `snapshot` with the tracked flows it lacks added as client-side sockets owned by the connecting
    /// pid (a process the snapshot lacks is read through the lookup and added too), closed flows that
    /// were already shown left out, and timestamped `now`; or `nil` if nothing changes. `fresh`: the
    /// snapshot is a new kernel dump, so flows already shown may fill in owners it lacks.
    public func patch(_ snapshot: HostSnapshot, now: Double, fresh: Bool = false) -> HostSnapshot? {
        overlay(on: snapshot, version: nil, fresh: fresh)?.applied(to: snapshot, now: now)
    }

    /// What ``patch(_:now:fresh:)`` would put on top of `snapshot`, or `nil` if nothing changes. `version`
    /// names the snapshot's sockets: the index of them built for one version is kept for the next call with the
    /// same version (the sockets of a snapshot patched between full passes do not change), so a patch costs
    /// the flows, not the 20,000 sockets of a busy host. `nil` builds the index afresh and does not keep it.
    public func overlay(on snapshot: HostSnapshot, version: Int?, fresh: Bool = false) -> Overlay? {
        guard fresh || hasWork else { return nil }
        // No flows, nothing to put on top: the index is built when one comes (at 10,000 sockets it holds ~1.5 MB,
        // which a host with only long-lived connections would keep for nothing).
        guard !flows.isEmpty else {
            if self.index?.version != version { self.index = nil }
            return nil
        }
        let index: Index
        if let version, let cached = self.index, cached.version == version {
            index = cached
        } else {
            index = Self.index(of: snapshot, version: version ?? -1)
            self.index = version == nil ? nil : index
        }
        var processes: [Int32: ProcessRecord] = [:]
        for process in snapshot.processes { processes[process.pid] = process }
        var overlay = Overlay()
        var changed = false
        for (key, flow) in flows where processes[flow.pid] == nil && !flow.included {
            if let quick = lookup.process(pid: flow.pid) {
                processes[flow.pid] = quick
                overlay.processes.append(quick)
            } else if let owner = liveAncestor(of: flow.pid, &processes, &overlay) {
                flows[key]?.pid = owner  // gone already (a short-lived client): its parent started it
            }
        }
        for (key, flow) in flows {
            if flow.closed != nil, flow.included {
                flows[key] = nil  // seen once; leaving it out lets the builder mark it closed
                changed = true
                continue
            }
            if index.present.contains(key) {
                flows[key]?.confirmed = true
                continue
            }
            guard let process = processes[flow.pid] else { continue }
            flows[key]?.included = true
            changed = true
            if let at = index.ownerless[key] {
                // The dump has the socket but not yet its owner: the event tells who connected.
                overlay.fills[at] = flow.pid
                continue
            }
            let inode = Self.syntheticInode(key)
            // The namespace now, not at the last pass: a process started as `ip netns exec …` may have
            // been recorded before it entered its namespace, and a socket in the wrong namespace would be
            // a different connection (kept as a closed duplicate once the real one shows up).
            let netns = lookup.networkNamespace(pid: flow.pid) ?? process.netns
            overlay.appended.append(SocketRecord(
                proto: .tcp, family: flow.family, state: "established", localAddress: key.localAddress,
                localPort: key.localPort, remoteAddress: key.remoteAddress, remotePort: key.remotePort,
                inode: inode, uid: process.uid, netns: netns, pid: flow.pid))
        }
        return changed ? overlay : nil
    }

    private static func index(of snapshot: HostSnapshot, version: Int) -> Index {
        var present = Set<Key>(minimumCapacity: snapshot.sockets.count)
        var ownerless: [Key: Int] = [:]  // connected sockets the dump has without an owner, by index
        var ambiguous = false
        for (index, socket) in snapshot.sockets.enumerated() where socket.proto == .tcp && socket.state != "listen" {
            let key = Key(localAddress: socket.localAddress, localPort: socket.localPort,
                          remoteAddress: socket.remoteAddress, remotePort: socket.remotePort)
            if socket.pid != nil { present.insert(key) } else if ownerless.updateValue(index, forKey: key) != nil { ambiguous = true }
        }
        return Index(version: version, present: present, ownerless: ownerless, ambiguous: ambiguous)
    }

    /// The owners of the sockets at `indices` of the snapshot indexed under `version` were filled in (a full
    /// pass folded its flows' owners into the base of later patches): the index is updated to match rather than
    /// built again over every socket.
    public func ownersFilled(at indices: some Sequence<Int>, in sockets: [SocketRecord], version: Int) {
        guard var cached = index, cached.version == version, !cached.ambiguous else { index = nil; return }
        index = nil
        for i in indices where sockets.indices.contains(i) {
            let socket = sockets[i]
            let key = Key(localAddress: socket.localAddress, localPort: socket.localPort,
                          remoteAddress: socket.remoteAddress, remotePort: socket.remotePort)
            guard socket.pid != nil, cached.ownerless[key] == i else { return }  // not what was indexed: build anew
            cached.ownerless[key] = nil
            cached.present.insert(key)
        }
        index = cached
    }

    /// After a full pass that started at `passStart` (and after its patch): flows older than the pass
    /// that the dump confirmed, or that already reached a report, are the kernel's business from now
    /// on; a flow that has not been shown yet is kept until a report has it, however short it was.
    public func fullPassDone(passStart: Double) {
        flows = flows.filter { _, flow in
            flow.opened >= passStart - Self.unseenFlowLifetime && !(flow.opened < passStart && (flow.confirmed || flow.included))
        }
    }

    /// The nearest ancestor of `pid` (up to 8 generations, through ``parentOf``) that is alive, added to
    /// `processes` and the overlay's processes when the snapshot lacks it.
    private func liveAncestor(of pid: Int32, _ processes: inout [Int32: ProcessRecord], _ overlay: inout Overlay) -> Int32? {
        guard let parentOf else { return nil }
        var current = pid
        for _ in 0..<8 {
            guard let parent = parentOf(current), parent > 1, parent != current else { return nil }
            if processes[parent] != nil { return parent }
            if let read = lookup.process(pid: parent) {
                processes[parent] = read
                overlay.processes.append(read)
                return parent
            }
            current = parent
        }
        return nil
    }

    /// Inodes the kernel never hands out (top bits set), stable per flow.
    private static func syntheticInode(_ key: Key) -> UInt64 {
        var hasher = Hasher()
        hasher.combine(key)
        return ((UInt64(bitPattern: Int64(hasher.finalize())) >> 2) | (UInt64(3) << 62)) & ~UInt64(1)
    }
}
