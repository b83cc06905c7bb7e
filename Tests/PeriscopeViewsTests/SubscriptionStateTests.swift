import PeriscopeFixtures
import PeriscopeProtocol
import PeriscopeTopology
import Testing
@testable import PeriscopeViews

// The pure state behind subscriptions: ChangeSet (a subscriber's coalesced backlog) and FilteredView
// (a subscriber's filter applied to the shared view's diffs). The server's Subscription only adds
// pacing and backpressure on top of these, so the invariants the protocol promises are checked here:
// applying the notifications to the snapshot gives exactly the filtered render at that revision.

private func node(_ id: String, cpu: Double = 0, label: String = "n") -> NodeSummary {
    NodeSummary(id: id, label: label, labelMinor: "", kind: .process, pseudo: false, rank: label,
                metrics: NodeMetrics(cpu: cpu))
}

private func edge(_ s: String, _ t: String, connections: Int = 1) -> EdgeSummary {
    EdgeSummary(source: s, target: t, protocols: ["tcp"], ports: [80], connections: connections)
}

/// What `ViewRenderer` keeps of an unfiltered render for `filter`: matching nodes, edges between them.
private func filtered(_ view: RenderedView, _ filter: FilterExpression?) -> RenderedView {
    guard let filter, !filter.terms.isEmpty else { return view }
    var out = RenderedView(view: view.view)
    out.nodes = view.nodes.filter { filter.matches($0.value) }
    out.edges = view.edges.filter { out.nodes[$0.value.source] != nil && out.nodes[$0.value.target] != nil }
    return out
}

/// `randomView` without edges whose ends are missing: a render never has dangling edges.
private func wellFormedView(_ rng: inout SplitMix64) -> RenderedView {
    var view = randomView(&rng)
    view.edges = view.edges.filter { view.nodes[$0.value.source] != nil && view.nodes[$0.value.target] != nil }
    return view
}

/// The incidence index SharedView keeps (node id → ids of edges touching it), built fresh.

/// A node of the JSON `added`/`updated`/`removed` members, by id.
private func ids(_ changes: ViewChanges, _ member: String, _ kind: String) -> [String] {
    if member == "removed" { return kind == "nodes" ? changes.removed.nodes : changes.removed.edges }
    let group = member == "added" ? changes.added : changes.updated
    return (kind == "nodes" ? group.nodes : group.edges).compactMap { $0["id"]?.stringValue }
}

/// `swift test --filter SubscriptionStateTests` runs both suites.
@Suite enum SubscriptionStateTests {}

extension SubscriptionStateTests {
    @Suite struct ChangeSetCoalescing {
        @Test func addedThenUpdatedIsAddedWithTheNewValue() {
            var c = ChangeSet()
            c.addNode(node("a", cpu: 1))
            c.updateNode(node("a", cpu: 2))
            #expect(c.count == 1)
            #expect(ids(c.changes, "added", "nodes") == ["a"])
            #expect(ids(c.changes, "updated", "nodes").isEmpty)
            #expect(c.apply(to: RenderedView(view: "processes")).nodes["a"]?.metrics.cpu == 2)
        }

        @Test func addedThenRemovedIsNothing() {
            var c = ChangeSet()
            c.addNode(node("a"))
            c.addEdge(edge("a", "b"))
            c.removeEdge("a->b")
            c.removeNode("a")
            #expect(c.isEmpty)
            #expect(c.count == 0)
            #expect(ids(c.changes, "removed", "nodes").isEmpty)
        }

        @Test func updatedThenUpdatedKeepsTheLastValue() {
            var c = ChangeSet()
            c.updateEdge(edge("a", "b", connections: 1))
            c.updateEdge(edge("a", "b", connections: 3))
            #expect(c.count == 1)
            let base = RenderedView(view: "processes", nodes: [:], edges: ["a->b": edge("a", "b", connections: 9)])
            #expect(c.apply(to: base).edges["a->b"]?.connections == 3)
            #expect(ids(c.changes, "updated", "edges") == ["a->b"])
        }

        @Test func updatedThenRemovedIsRemoved() {
            var c = ChangeSet()
            c.updateNode(node("a"))
            c.removeNode("a")
            #expect(ids(c.changes, "removed", "nodes") == ["a"])
            #expect(ids(c.changes, "updated", "nodes").isEmpty)
        }

        @Test func removedThenAddedIsUpdated() {
            // The client still has the old node: it must be replaced, not added twice.
            var c = ChangeSet()
            c.removeNode("a")
            c.addNode(node("a", cpu: 5))
            #expect(ids(c.changes, "updated", "nodes") == ["a"])
            #expect(ids(c.changes, "added", "nodes").isEmpty)
            #expect(ids(c.changes, "removed", "nodes").isEmpty)
            let base = RenderedView(view: "processes", nodes: ["a": node("a", cpu: 1)])
            #expect(c.apply(to: base).nodes["a"]?.metrics.cpu == 5)
        }

        @Test func removedThenAddedThenRemovedIsRemoved() {
            var c = ChangeSet()
            c.removeEdge("a->b")
            c.addEdge(edge("a", "b"))
            c.removeEdge("a->b")
            #expect(ids(c.changes, "removed", "edges") == ["a->b"])
            #expect(c.count == 1)
        }

        @Test func countIsTheNumberOfIdsWithAPendingChange() {
            var c = ChangeSet()
            for i in 0..<50 { c.updateNode(node("n\(i)", cpu: Double(i))) }
            for i in 0..<50 { c.updateNode(node("n\(i)", cpu: Double(i + 1))) }  // same ids: no growth
            for i in 0..<10 { c.addEdge(edge("n\(i)", "n\(i + 1)")) }
            #expect(c.count == 60)
        }

        @Test func jsonHasEveryMemberAndSortedIds() {
            var c = ChangeSet()
            c.addNode(node("b")); c.addNode(node("a")); c.removeEdge("z->y"); c.removeEdge("c->d")
            let json = TopologyChangedNotification(subscription: "s1", revision: 2, previousRevision: 1, changes: c.changes).params
            for member in ["added", "updated", "removed"] {
                #expect(json[member]?["nodes"]?.arrayValue != nil)
                #expect(json[member]?["edges"]?.arrayValue != nil)
            }
            #expect(ids(c.changes, "added", "nodes") == ["a", "b"])
            #expect(ids(c.changes, "removed", "edges") == ["c->d", "z->y"])
            #expect(json["removed"]?["edges"] == ["c->d", "z->y"])
        }

        @Test(arguments: Array(UInt64(1)...150)) func applyEqualsViewDiffApply(seed: UInt64) {
            var rng = SplitMix64(seed: seed &* 7919)
            let a = randomView(&rng), b = randomView(&rng)
            let diff = ViewDiff(from: a, to: b)
            var c = ChangeSet()
            c.absorb(diff)
            #expect(c.apply(to: a) == diff.apply(to: a))
            #expect(c.apply(to: a) == b)
        }

        @Test(arguments: Array(UInt64(1)...150)) func coalescedDiffsEqualTheirSequence(seed: UInt64) {
            // Absorbing several successive diffs into one ChangeSet (what minInterval and holding do)
            // gives the same state as applying each diff in turn.
            var rng = SplitMix64(seed: seed &* 104_729)
            let views = (0..<(2 + rng.int(6))).map { _ in randomView(&rng) }
            var c = ChangeSet()
            var stepwise = views[0]
            for (old, new) in zip(views, views.dropFirst()) {
                let diff = ViewDiff(from: old, to: new)
                c.absorb(diff)
                stepwise = diff.apply(to: stepwise)
            }
            #expect(c.apply(to: views[0]) == stepwise)
            #expect(c.apply(to: views[0]) == views.last!)
            // An id no diff touched is never pending.
            let touched = Set(views.flatMap { $0.nodes.keys })
            #expect(Set(c.nodes.keys).isSubset(of: touched))
        }
    }

    @Suite struct FilteredViews {
        static let filters = ["", "l1", "!l1", "pseudo:true", "!pseudo:true", "cpu>0", "cpu>=2 !pseudo:true",
                              "pid:1", "label:l2", "connectionsIn>0"]

        @Test(arguments: Array(UInt64(1)...60), filters)
        func absorbKeepsTheVisibleSetEqualToAFreshFilteredRender(seed: UInt64, filterText: String) throws {
            var rng = SplitMix64(seed: seed &* 31 &+ UInt64(filterText.count))
            let filter = try FilterExpression.parse(filterText)
            var shared = wellFormedView(&rng)
            var fv = FilteredView(filter: filter, shared: shared)
            var client = fv.snapshot(of: shared)
            #expect(client == filtered(shared, filter))
            var pending = ChangeSet()
            var index = EdgeIndex(shared)
            for step in 0..<12 {
                let next = wellFormedView(&rng)
                let diff = ViewDiff(from: shared, to: next)
                index.apply(diff, before: shared)  // kept current from diffs, as the daemon does
                shared = next
                let rebuilt = EdgeIndex(shared)
                #expect(shared.nodes.keys.allSatisfy { index.edges(of: $0) == rebuilt.edges(of: $0) })
                fv.absorb(diff, shared: shared, edgesOf: index, into: &pending)
                let expected = filtered(shared, filter)
                #expect(Set(fv.visibleNodes) == Set(expected.nodes.keys))
                #expect(Set(fv.visibleEdges) == Set(expected.edges.keys))
                #expect(fv.snapshot(of: shared) == expected)
                if step % 3 == 2 || step == 11 {  // flush every third diff: coalesced notifications
                    client = pending.apply(to: client)
                    pending = ChangeSet()
                    #expect(client == expected)
                }
            }
        }

        @Test func nodeThatStopsMatchingTakesItsEdgesAway() throws {
            let filter = try FilterExpression.parse("cpu>50")
            let before = RenderedView(view: "processes", nodes: ["a": node("a", cpu: 60), "b": node("b", cpu: 70), "c": node("c", cpu: 1)],
                                      edges: ["a->b": edge("a", "b"), "a->c": edge("a", "c")])
            var fv = FilteredView(filter: filter, shared: before)
            #expect(fv.visibleEdges == ["a->b"])
            var after = before
            after.nodes["b"] = node("b", cpu: 10)  // b stops matching; a->b is unchanged in the shared view
            var changes = ChangeSet()
            fv.absorb(ViewDiff(from: before, to: after), shared: after, edgesOf: EdgeIndex(after), into: &changes)
            #expect(ids(changes.changes, "removed", "nodes") == ["b"])
            #expect(ids(changes.changes, "removed", "edges") == ["a->b"])
            var back = after
            back.nodes["c"] = node("c", cpu: 99)  // c starts matching: a->c appears although the edge did not change
            changes = ChangeSet()
            fv.absorb(ViewDiff(from: after, to: back), shared: back, edgesOf: EdgeIndex(back), into: &changes)
            #expect(ids(changes.changes, "added", "nodes") == ["c"])
            #expect(ids(changes.changes, "added", "edges") == ["a->c"])
        }

        @Test func unfilteredSubscriberTakesTheDiffAsIs() {
            var rng = SplitMix64(seed: 42)
            let a = randomView(&rng), b = randomView(&rng)
            var fv = FilteredView(filter: nil, shared: a)
            var changes = ChangeSet()
            let diff = ViewDiff(from: a, to: b)
            fv.absorb(diff, shared: b, edgesOf: EdgeIndex(b), into: &changes)
            var expected = ChangeSet()
            expected.absorb(diff)
            #expect(changes == expected)
            #expect(fv.visibleNodes == Set(b.nodes.keys))
        }

        /// Real renders: successive snapshots of the fixture host, with processes, connections and CPU
        /// changing; a FilteredView fed the unfiltered diffs must equal ViewRenderer's filtered render.
        @Test(arguments: ["processes", "processes-by-name", "hosts"],
              ["", "name:client", "!pseudo:true", "cpu>50", "port:8080", "server", "kind:process !name:server"])
        func filteredRenderOfRealReports(view: String, filterText: String) throws {
            let filter = try FilterExpression.parse(filterText)
            var rng = SplitMix64(seed: UInt64(view.count * 131 + filterText.count))
            var builder = ReportBuilder(hostID: "h1", retention: 2)
            func snapshot(_ t: Double) -> HostSnapshot {
                var s = Fixtures.scenario(t: t, includeCurl: rng.int(2) == 0, bytes: UInt64(1_000 * (1 + rng.int(4))))
                s.processes = s.processes.map { p in
                    var p = p
                    p.cpuPercent = Double(rng.int(4) * 30)
                    return p
                }
                if rng.int(3) == 0 { s.sockets.removeAll { $0.pid == 600 } }  // app's connections come and go
                return s
            }
            let options = ViewOptions()
            var shared = try ViewRenderer.render(report: builder.ingest(snapshot(100)), view: view, options: options)
            var fv = FilteredView(filter: filter, shared: shared)
            var client = fv.snapshot(of: shared)
            for i in 1...15 {
                let report = builder.ingest(snapshot(100 + Double(i)))
                let next = try ViewRenderer.render(report: report, view: view, options: options)
                var changes = ChangeSet()
                fv.absorb(ViewDiff(from: shared, to: next), shared: next, edgesOf: EdgeIndex(next), into: &changes)
                shared = next
                client = changes.apply(to: client)
                let fresh = try ViewRenderer.render(report: report, view: view, options: options, filter: filter)
                #expect(client == fresh, "step \(i)")
            }
        }
    }
}
