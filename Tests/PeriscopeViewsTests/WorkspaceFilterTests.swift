import PeriscopeFixtures
import PeriscopeProtocol
import PeriscopeTopology
@testable import PeriscopeViews
import Testing

/// `under:` and `workspace:` (the editor panels' "this workspace" scope): path matching, peers, and a
/// subscriber's FilteredView staying equal to a fresh render while the view changes.
@Suite("Workspace filter")
struct WorkspaceFilterTests {
    /// Gives every node a working directory: ids with an odd last digit live in /w/app, others in /srv.
    private func withDirectories(_ view: RenderedView) -> RenderedView {
        var out = view
        for (id, var node) in out.nodes {
            let odd = id.last.flatMap { $0.wholeNumberValue }.map { $0 % 2 == 1 } ?? false
            node.metadata["cwd"] = .string(odd ? "/w/app" : "/srv")
            out.nodes[id] = node
        }
        return out
    }

    /// The renderer's rule: matched nodes, plus (with peers) everything one edge away; edges between kept nodes.
    private func expected(_ view: RenderedView, _ filter: FilterExpression) -> RenderedView {
        var out = RenderedView(view: view.view)
        let core = view.nodes.filter { filter.matches($0.value) }
        out.nodes = core
        if filter.includesPeers {
            for edge in view.edges.values {
                if core[edge.source] != nil, let peer = view.nodes[edge.target] { out.nodes[edge.target] = peer }
                if core[edge.target] != nil, let peer = view.nodes[edge.source] { out.nodes[edge.source] = peer }
            }
        }
        out.edges = view.edges.filter { out.nodes[$0.value.source] != nil && out.nodes[$0.value.target] != nil }
        return out
    }

    @Test func pathsMatchByWholeComponents() {
        #expect(FilterExpression.isPath("/w/app", under: "/w"))
        #expect(FilterExpression.isPath("/w", under: "/w/"))
        #expect(FilterExpression.isPath("/w/app/bin/server", under: "/w/app"))
        #expect(!FilterExpression.isPath("/w/application", under: "/w/app"))
        #expect(FilterExpression.isPath("/anything", under: "/"))
    }

    @Test func onlyWorkspaceTermsBringPeers() throws {
        #expect(try FilterExpression.parse("workspace:/w").includesPeers)
        #expect(try !FilterExpression.parse("under:/w").includesPeers)
        #expect(try !FilterExpression.parse("!workspace:/w").includesPeers)
    }

    @Test(arguments: Array(UInt64(1)...80), ["workspace:/w", "under:/w", "workspace:/w !pseudo:true", "workspace:/srv cpu>0"])
    func subscriberStateEqualsAFreshRender(seed: UInt64, filterText: String) throws {
        var rng = SplitMix64(seed: seed &* 977 &+ UInt64(filterText.count))
        let filter = try FilterExpression.parse(filterText)
        func next() -> RenderedView {
            var view = withDirectories(randomView(&rng))
            view.edges = view.edges.filter { view.nodes[$0.value.source] != nil && view.nodes[$0.value.target] != nil }
            return view
        }
        var shared = next()
        var subscriber = FilteredView(filter: filter, shared: shared)
        var client = subscriber.snapshot(of: shared)
        #expect(client == expected(shared, filter))
        var pending = ChangeSet()
        for _ in 0..<10 {
            let after = next()
            let diff = ViewDiff(from: shared, to: after)
            shared = after
            subscriber.absorb(diff, shared: shared, edgesOf: EdgeIndex(shared), into: &pending)
            client = pending.apply(to: client)
            pending = ChangeSet()
            #expect(client == expected(shared, filter))
        }
    }
}
