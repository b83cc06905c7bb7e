import PeriscopeTopology

/// The aggregator's merged model, kept incrementally on its merge queue: each host's report (full reports replace
/// it, deltas patch it) and the composition of all of them with the local host's report.
///
/// A change to one host's report recomputes only the nodes it touched: each such node is re-merged from the
/// hosts that hold it (most ids belong to one host; shared endpoints to a few), so a 1 % change on one of 50
/// hosts costs a few dozen node merges, not a merge of every host. ``composed`` is what the views see; while the
/// loop holds the last delivered one, the next change copies only the node-table shards it touches (see
/// ``NodeTable``), not the merged map.
///
/// Gaps: a delta applies only to a held report at exactly its base revision. Otherwise the host is marked as
/// awaiting a full report and the caller asks the publisher for one (`report/resend`); deltas that arrive before
/// that full report are ignored (they build on what is not held), so the model never silently diverges.
///
/// - Important: not thread-safe; confined to the aggregator's serial merge queue.
final class HostMerger: @unchecked Sendable {
    /// One remote host's report as held.
    private struct Held {
        var report: Report
        var revision: Int64
        /// Realtime seconds when the host was marked stale, or `nil` while it speaks.
        var staleSince: Double?
        /// A gap was detected and a full report asked for: deltas are ignored until it comes.
        var awaitingFull = false
    }

    /// What became of one message from a publisher.
    enum Outcome: Equatable {
        /// Applied (or a heartbeat at the held revision): acknowledge `revision`.
        case ack(Int64)
        /// A gap: ask for a full report; `held` is the revision held (−1 for none).
        case resend(held: Int64)
        /// A delta after a gap, before the full report: dropped, nothing to answer.
        case ignored
    }

    private var hosts: [String: Held] = [:]
    private var local = Report()
    private var hasLocal = false
    /// How many holders (hosts and the local report) have each node, by kind.
    private var holders: [TopologyKind: [String: Int]] = [:]
    /// The merge of the local report and every host's (stale hosts' nodes marked).
    private(set) var composed = Report()
    /// Whether ``composed`` changed since ``takeChanges()``.
    private(set) var changed = false
    /// Node merges done (recomputed ids), for `daemon/status`.
    private(set) var recomputed: UInt64 = 0

    /// Kinds whose nodes a stale host's nodes are marked in (endpoints and connections are shared, left alone).
    private static let markedWhenStale: Set<TopologyKind> = [.process, .host, .container]

    /// A full report of `host`: replaces what was held.
    func full(_ host: String, revision: Int64, report: Report) -> Outcome {
        let old = hosts[host]?.report ?? Report()
        let staleSince = hosts[host]?.staleSince
        let delta = ReportDelta(from: old, to: report)
        count(delta, before: old)
        hosts[host] = Held(report: report, revision: revision, staleSince: staleSince)
        recompute(delta.touched, from: host)
        return .ack(revision)
    }

    /// A delta of `host` from `base` to `revision`.
    func delta(_ host: String, base: Int64, revision: Int64, _ delta: ReportDelta) -> Outcome {
        guard var held = hosts.removeValue(forKey: host) else { return .resend(held: -1) }
        defer { hosts[host] = held }
        if held.awaitingFull { return .ignored }
        guard held.revision == base else {
            held.awaitingFull = true
            return .resend(held: held.revision)
        }
        count(delta, before: held.report)
        delta.apply(to: &held.report)
        held.revision = revision
        hosts[host] = held
        recompute(delta.touched, from: host)
        return .ack(revision)
    }

    /// A heartbeat of `host` at `revision`: a gap unless that is the revision held.
    func heartbeat(_ host: String, revision: Int64) -> Outcome {
        guard var held = hosts[host] else { return .resend(held: -1) }
        if held.awaitingFull { return .ignored }
        guard held.revision == revision else {
            held.awaitingFull = true
            hosts[host] = held
            return .resend(held: held.revision)
        }
        return .ack(revision)
    }

    /// Marks `host`'s process, host and container nodes stale (at realtime `timestamp`), or clears the mark.
    func setStale(_ host: String, _ stale: Bool, at timestamp: Double) {
        guard var held = hosts[host], (held.staleSince != nil) != stale else { return }
        held.staleSince = stale ? timestamp : nil
        hosts[host] = held
        recompute(Self.markedWhenStale.flatMap { kind in held.report[kind].nodes.keys.map { (kind, $0) } }, from: host)
    }

    /// Forgets `host` (expired).
    func remove(_ host: String) {
        guard let held = hosts.removeValue(forKey: host) else { return }
        let delta = ReportDelta(from: held.report, to: Report())
        count(delta, before: held.report)
        recompute(delta.touched, from: nil)
    }

    /// The local host's newest report.
    func setLocal(_ report: Report) {
        let delta = ReportDelta(from: local, to: report)
        if !hasLocal { changed = true }  // the first composition is delivered even when empty
        hasLocal = true
        count(delta, before: local)
        local = report
        recompute(delta.touched, from: nil, local: true)
    }

    /// The held revision and node count of `host`, if held.
    func summary(_ host: String) -> (revision: Int64, nodes: Int)? {
        hosts[host].map { ($0.revision, $0.report.nodeCount) }
    }

    /// The composed report if it changed since the last call (and clears the flag).
    func takeChanges() -> Report? {
        guard changed else { return nil }
        changed = false
        return composed
    }

    /// Counts the holders gained and lost by applying `delta` to `before` (one holder's report).
    private func count(_ delta: ReportDelta, before: Report) {
        for kind in TopologyKind.allCases {
            let had = before[kind].nodes, added = delta.upserts[kind].nodes, gone = delta.removed[kind] ?? []
            guard !added.isEmpty || !gone.isEmpty else { continue }
            var counts = holders[kind] ?? [:]
            holders[kind] = nil  // the only reference to its storage while mutating
            for id in added.keys where had[id] == nil { counts[id, default: 0] += 1 }
            for id in gone where had[id] != nil {
                let left = counts[id, default: 1] - 1
                counts[id] = left > 0 ? left : nil
            }
            holders[kind] = counts
        }
    }

    /// Re-merges each touched node from its holders and stores it in ``composed`` when it differs. A node only
    /// `host` (or the local report) holds — most of them — is that node as is; a shared one is merged from every holder.
    private func recompute(_ touched: [(TopologyKind, String)], from host: String?, local fromLocal: Bool = false) {
        guard !touched.isEmpty else { return }
        var byKind: [TopologyKind: [String]] = [:]
        for (kind, id) in touched { byKind[kind, default: []].append(id) }
        for (kind, ids) in byKind {
            var topology = composed[kind]
            composed[kind] = Topology(kind: kind)  // the only reference to its storage while mutating
            let counts = holders[kind] ?? [:]
            let own = fromLocal ? local[kind].nodes : host.flatMap { hosts[$0]?.report[kind].nodes }
            let staleSince = Self.markedWhenStale.contains(kind) ? host.flatMap { hosts[$0]?.staleSince } : nil
            for id in ids {
                var node: Node?
                let holderCount = counts[id] ?? 0
                if holderCount == 0 {
                    node = nil
                } else if holderCount == 1, let only = own?[id] {
                    node = only
                    if let staleSince { node?.set(NodeKey.stale, "true", at: staleSince) }
                } else {
                    node = merge(kind, id)
                }
                if topology.nodes[id] != node {
                    topology.nodes[id] = node
                    changed = true
                }
            }
            composed[kind] = topology
            recomputed &+= UInt64(ids.count)
        }
    }

    /// The merge of every holder's node `id` of `kind` (`nil` when none holds it).
    private func merge(_ kind: TopologyKind, _ id: String) -> Node? {
        var merged = local[kind].nodes[id]
        let marks = Self.markedWhenStale.contains(kind)
        for held in hosts.values {
            guard var node = held.report[kind].nodes[id] else { continue }
            if marks, let since = held.staleSince { node.set(NodeKey.stale, "true", at: since) }
            if merged == nil { merged = node } else { merged?.merge(node) }
        }
        return merged
    }
}
