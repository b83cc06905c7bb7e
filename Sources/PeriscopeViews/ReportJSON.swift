import PeriscopeProtocol
import PeriscopeTopology

extension Report: JSONRepresentable {
    /// The raw report (`report/get`): `{topologies: {KIND: {nodes: {ID: node}}}}` where a node is
    /// `{id, topology, latest: {key: {timestamp, value}}, sets: {key: [value]}, adjacency: [id],
    /// parents: {KIND: [id]}, metrics: {key: [{timestamp, value}]}}`. Keys inside `latest`, `sets` and
    /// `metrics` are the model's own (``NodeKey``, ``MetricKey``).
    public var json: JSONValue {
        var topologies: [String: JSONValue] = [:]
        for kind in TopologyKind.allCases {
            let topology = self[kind]
            topologies[kind.rawValue] = ["nodes": .object(topology.nodes.mapValues(\.json))]
        }
        return ["topologies": .object(topologies)]
    }
}

extension Node: JSONRepresentable {
    /// See ``Report/json``.
    public var json: JSONValue {
        [
            "id": .string(id), "topology": .string(topology.rawValue),
            "latest": .object(Dictionary(uniqueKeysWithValues: latest.map { key, entry in
                (key, ["timestamp": .double(entry.timestamp), "value": .string(entry.value)] as JSONValue)
            })),
            "sets": .object(sets.mapValues { JSONValue($0.sorted()) }),
            "adjacency": JSONValue(adjacency.sorted()),
            "parents": .object(Dictionary(uniqueKeysWithValues: parents.map { ($0.key.rawValue, JSONValue($0.value.sorted())) })),
            "metrics": .object(metrics.mapValues { h in
                .array(h.samples.map { ["timestamp": .double($0.timestamp), "value": .double($0.value)] })
            }),
        ]
    }
}
