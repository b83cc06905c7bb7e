import PeriscopeProtocol
import PeriscopeTopology
import PeriscopeViews

/// What changed in one host's report between two revisions: whole nodes added or changed (``upserts``) and the
/// ids of nodes removed. Applying it replaces nodes rather than merging them: the publisher's report is the
/// truth about its host, so a value that went away must go away at the aggregator too.
///
/// Wire form (`report/delta`'s `data`, SPEC §17.2): `{topologies: {KIND: {nodes: {ID: node}}}, removed: {KIND: [ID]}}`,
/// the upserts in the `report/get` shape. Pure; any thread.
struct ReportDelta: Sendable, Equatable {
    /// Nodes added or changed, whole.
    var upserts = Report()
    /// Ids removed, by kind.
    var removed: [TopologyKind: [String]] = [:]

    /// The delta taking `old` to `new`.
    init(from old: Report, to new: Report) {
        for kind in TopologyKind.allCases {
            // Only the shards `new` no longer shares with `old` are compared (a builder's successive reports share
            // the rest), so the cost follows the change.
            var changed = Topology(kind: kind)
            var gone: [String] = []
            new[kind].nodes.forEachDifference(from: old[kind].nodes) { id, _, node in
                if let node { changed.nodes[id] = node } else { gone.append(id) }
            }
            if !changed.nodes.isEmpty { upserts[kind] = changed }
            if !gone.isEmpty { removed[kind] = gone.sorted() }
        }
    }

    init(upserts: Report, removed: [TopologyKind: [String]]) {
        self.upserts = upserts
        self.removed = removed
    }

    /// Whether nothing changed.
    var isEmpty: Bool { upserts.nodeCount == 0 && removed.values.allSatisfy(\.isEmpty) }

    /// Every (kind, id) the delta touches.
    var touched: [(TopologyKind, String)] {
        var ids: [(TopologyKind, String)] = []
        for kind in TopologyKind.allCases {
            for id in upserts[kind].nodes.keys { ids.append((kind, id)) }
            for id in removed[kind] ?? [] { ids.append((kind, id)) }
        }
        return ids
    }

    /// Applies the delta to `report` (the host's report at the delta's base).
    func apply(to report: inout Report) {
        for kind in TopologyKind.allCases {
            let upserted = upserts[kind].nodes, gone = removed[kind] ?? []
            guard !upserted.isEmpty || !gone.isEmpty else { continue }
            var topology = report[kind]
            report[kind] = Topology(kind: kind)  // the only reference to its storage while mutating
            for id in gone { topology.nodes[id] = nil }
            for (id, node) in upserted { topology.nodes[id] = node }
            report[kind] = topology
        }
    }

    /// The wire JSON (see the type's comment).
    var json: JSONValue {
        [
            "topologies": upserts.json["topologies"] ?? .object([:]),
            "removed": .object(Dictionary(uniqueKeysWithValues: removed.map { ($0.key.rawValue, JSONValue($0.value)) })),
        ]
    }

    /// The wire JSON, serialized (what is compressed for `report/delta` and for a delta on the bus).
    var wireJSON: [UInt8] { JSONWriter.bytes(json) }

    /// Parses the wire JSON (at most 16 levels deep), strictly.
    static func parse(_ json: some Collection<UInt8>) throws(ReportWireError) -> ReportDelta {
        let value: JSONValue
        do { value = try JSONParser(maxDepth: 16).parse(json) } catch {
            throw ReportWireError("delta is not JSON: \(error)")
        }
        let upserts = try ReportWire.report(from: value)
        var removed: [TopologyKind: [String]] = [:]
        for (name, list) in value["removed"]?.objectValue ?? [:] {
            guard let kind = TopologyKind(rawValue: name) else { throw ReportWireError("delta removes from unknown topology \(name)") }
            removed[kind] = try ReportWire.strings(list, "removed \(name)")
        }
        return ReportDelta(upserts: upserts, removed: removed)
    }
}
