import PeriscopeFixtures
import PeriscopeTopology

/// Random reports with many overlaps, for property tests (seeded: see ``SplitMix64``).
enum RandomReports {
    static let ids = (0..<8).map { "n\($0)" }
    static let keys = ["a", "b", "c"]
    static let values = ["x", "y", "z", "w"]

    static func report(_ rng: inout SplitMix64) -> Report {
        var report = Report()
        for _ in 0..<rng.int(10) {
            let kind = rng.pick([TopologyKind.endpoint, .process, .host, .connection])
            var node = Node(id: rng.pick(ids), topology: kind)
            for _ in 0..<rng.int(4) {
                node.set(rng.pick(keys), rng.pick(values), at: Double(rng.int(4)))
            }
            for _ in 0..<rng.int(3) { node.sets[rng.pick(keys), default: []].insert(rng.pick(values)) }
            for _ in 0..<rng.int(3) { node.adjacency.insert(rng.pick(ids)) }
            for _ in 0..<rng.int(2) { node.addParent(rng.pick([.host, .process]), rng.pick(ids)) }
            if kind == .connection, rng.int(3) > 0 {  // sides that disagree between reports settle the same way
                node.sides = ConnectionSides(client: EndpointID(scope: "", address: rng.pick(values), port: 1, proto: .tcp),
                                             server: EndpointID(scope: "", address: rng.pick(values), port: 2, proto: .tcp))
            }
            for _ in 0..<rng.int(2) {
                var history = MetricHistory()
                // Timestamps 0..<90 so merges overflow the 60-sample bound; values collide on purpose.
                for _ in 0..<rng.int(50) {
                    history.append(MetricSample(timestamp: Double(rng.int(90)), value: Double(rng.int(5))))
                }
                node.metrics[rng.pick(keys)] = history
            }
            report.add(node)
        }
        return report
    }
}
