import PeriscopeProtocol
import PeriscopeTopology
import Testing
@testable import PeriscopeViews

@Suite struct FilterTests {
    func ids(_ filter: String, view: String = "processes") throws -> Set<String> {
        let f = try FilterExpression.parse(filter)
        return Set(try ViewRenderer.render(report: scenarioReport(), view: view, filter: f).nodes.keys)
    }

    @Test func termsSelectNodes() throws {
        #expect(try ids("name:server") == ["h1;100"])
        #expect(try ids("name:SRV") == ["h1;500", "h1;700"])  // substring, any case
        #expect(try ids("name=server") == ["h1;100"])
        #expect(try ids("pid:300") == ["h1;300"])
        #expect(try ids("port:8080") == ["h1;100", "h1;200", "h1;300", "h1;301", "pseudo:internet"])
        #expect(try ids("cpu>50") == ["h1;100"])
        #expect(try ids("cpu>=60%") == ["h1;100"])
        #expect(try ids("memory<900K") == [])
        #expect(try ids("memory<1M kind:process").count == 11)
        #expect(try ids("memory<=1000000 kind:process cpu<2").count == 10)
        #expect(try ids("curl") == ["h1;200"])  // bare word: label
        #expect(try ids("\"--serve\" name:v6") == ["h1;500", "h1;501"])  // bare word: command
        #expect(try ids("!kind:process") == ["pseudo:internet", "pseudo:remote;192.168.1.20"])
        #expect(try ids("pseudo:true !kind:internet") == ["pseudo:remote;192.168.1.20"])
        #expect(try ids("connectionsIn>1") == ["h1;100"])
        #expect(try ids("connections_out:2") == ["h1;600"])
        #expect(try ids("host:h1 user:alice name:client") == ["h1;300", "h1;301"])
        #expect(try ids("command:\"client --serve\"") == ["h1;300", "h1;301"])
        #expect(try ids("pid:301", view: "processes-by-name") == ["group:client"])
        #expect(try ids("   ").count == 13)
    }

    @Test func filteredViewsKeepOnlyEdgesBetweenKeptNodes() throws {
        let view = try ViewRenderer.render(report: scenarioReport(), view: "processes",
                                           filter: FilterExpression.parse("port:8080 !pseudo:true"))
        #expect(Set(view.edges.keys) == ["h1;200->h1;100", "h1;300->h1;100", "h1;301->h1;100"])
    }

    @Test(arguments: [
        ("foo:bar", "unknown filter key 'foo' in 'foo:bar'; known keys: label, kind, id, host, port, pseudo, name, pid, ppid, uid, user, command, cwd, executable, state, threads, cgroup, hostname, os, kernel, address, cpu, memory, connectionsIn, connectionsOut, connections, under, workspace, protocol, errors, latency, requests (quote the term to search for it as text)"),
        ("cpu>abc", "'cpu>abc': 'abc' is not a number"),
        ("name>5", "'name>5': name is not a number, so '>' does not apply"),
        ("name:", "filter term 'name:' has no value after ':'"),
        ("pid:x", "'pid:x': 'x' is not a number"),
        ("!", "'!' must be followed by a term"),
        ("!!a", "'!!a': use a single '!' to negate a term"),
        ("name:\"abc", "unterminated quote in filter 'name:\"abc'"),
        ("a \"\"", "empty quoted term in filter 'a \"\"'"),
    ])
    func errorsExplainTheProblem(text: String, message: String) {
        #expect(throws: ViewError(.invalidFilter, message)) { try FilterExpression.parse(text) }
    }

    @Test func quotedOperatorsAreText() throws {
        let f = try FilterExpression.parse("\"http://x\"")
        #expect(f.terms == [.init(negated: false, predicate: .text("http://x"))])
        let addr = try FilterExpression.parse("10.0.0.1:80")
        #expect(addr.terms == [.init(negated: false, predicate: .text("10.0.0.1:80"))])
        #expect(FilterExpression.parseNumber("2K") == 2048)
        #expect(FilterExpression.parseNumber("1.5G") == 1.5 * 1024 * 1024 * 1024)
    }
}

@Suite struct OptionTests {
    @Test func parsesOptions() throws {
        #expect(try ViewOptions(json: nil) == ViewOptions())
        #expect(try ViewOptions(json: .null) == ViewOptions())
        let o = try ViewOptions(json: ["all": true, "hidePseudo": false, "includeClosed": nil])
        #expect(o == ViewOptions(all: true, hidePseudo: false))
        #expect(o.json == ["all": true, "hidePseudo": false])
    }

    static let bad: [(JSONValue, String)] = [
        (JSONValue.array([]), "options must be an object, got an array"),
        (JSONValue.object(["all": "yes"]), "option 'all' must be a boolean, got a string"),
        (JSONValue.object(["hideUnconected": true]), "unknown option 'hideUnconected'; known options: all, hideUnconnected, hidePseudo, includeClosed, system"),
    ]

    @Test(arguments: bad)
    func rejectsBadOptions(json: JSONValue, message: String) {
        #expect(throws: RPCError.invalidParams("params.options: " + message)) { try ViewOptions(json: json) }
    }

    @Test func rejectsOptionsTheViewDoesNotHave() {
        let message = "options.all is not an option of view 'hosts'; it takes: hideUnconnected, hidePseudo, includeClosed"
        #expect(throws: ViewError(.invalidOption, message)) {
            try ViewRenderer.render(report: Report(), view: "hosts", options: ViewOptions(all: true))
        }
        #expect(throws: ViewError(.invalidOption, message)) { try ViewSpec(view: "hosts", options: ViewOptions(all: true)) }
    }

    @Test func specsCompareByViewAndOptionsAsParsed() throws {
        let plain = try ViewSpec(view: "processes", options: ViewOptions(json: ["all": nil]))
        #expect(plain == (try ViewSpec(view: "processes", options: ViewOptions(json: [:]))))
        #expect(plain == (try ViewSpec(view: "processes")))
        #expect(plain != (try ViewSpec(view: "processes", options: ViewOptions(all: true))))
        #expect(plain != (try ViewSpec(view: "processes-by-name")))
        #expect(Set([plain, try ViewSpec(view: "processes", options: ViewOptions(json: nil))]).count == 1)
    }
}
