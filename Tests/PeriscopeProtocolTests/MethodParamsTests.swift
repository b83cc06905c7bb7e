import PeriscopeProtocol
import Testing

/// Typed params decode with the daemon's checks (−32602 naming the member) and encode to what they decode from.
@Suite("Typed method params and results")
struct MethodParamsTests {
    static let bad: [(String, JSONValue?, String)] = [
        (DaemonPingRequest.method, ["delayMs": "soon"], "params.delayMs must be an integer, got a string"),
        (DaemonPingRequest.method, ["delayMs": 70_000], "params.delayMs must be between 0 and 60000, got 70000"),
        (DaemonPingRequest.method, ["delayMs": 1.5], "params.delayMs must be an integer, got a number"),
        (DaemonPingRequest.method, ["dealyMs": 10], "unknown parameter params.dealyMs; expected one of: delayMs, workDoneToken"),
        (DaemonPingRequest.method, ["workDoneToken": [1]], "params.workDoneToken must be a string or an integer, got an array"),
        (DaemonStatusRequest.method, ["verbose": true], "unknown parameter params.verbose; expected one of: "),
        (DaemonStatusRequest.method, "x", "params must be an object with named members"),
        (TopologyGetRequest.method, [:], "params.view is required (a string)"),
        (TopologyGetRequest.method, ["view": "processes", "fliter": "x"], "unknown parameter params.fliter; expected one of: at, filter, options, view"),
        (TopologyGetRequest.method, ["view": "processes", "options": [true]], "params.options: options must be an object, got an array"),
        (TopologyGetRequest.method, ["view": "processes", "options": ["showAll": true]],
         "params.options: unknown option 'showAll'; known options: all, hideUnconnected, hidePseudo, includeClosed, system"),
        (TopologyGetRequest.method, ["view": "processes", "filter": 3], "params.filter must be a string, got a number"),
        (TopologySubscribeRequest.method, ["view": "processes", "minInterval": -1], "params.minInterval must be between 0 and 60000, got -1"),
        (NodeGetRequest.method, ["view": "processes"], "params.id is required (a string)"),
        (TopologyUnsubscribeRequest.method, ["subscription": 1], "params.subscription must be a string, got a number"),
        (ControlInvokeRequest.method, ["node": "x", "control": "stop", "args": "now"], "params.args must be an object, got a string"),
        (PipeWriteRequest.method, [:], "params.data is required (a string)"),
        (PipeResizeRequest.method, ["pipe": "p1", "rows": 0, "cols": 80], "params.rows must be between 1 and 9999, got 0"),
        (PipeResizeRequest.method, ["pipe": "p1", "rows": 24], "params.cols is required (an integer)"),
        (PipeCloseRequest.method, ["pipe": "p1", "force": true], "unknown parameter params.force; expected one of: pipe"),
    ]

    @Test(arguments: bad)
    func refusesBadParamsNamingTheMember(method: String, params: JSONValue?, message: String) throws {
        let type = try #require(MethodRegistry.type(named: method))
        #expect(throws: RPCError.invalidParams(message)) { try SchemaMethodTests.decode(type, params) }
    }

    @Test func absentNullAndEmptyParamsAreNoParams() throws {
        for raw: JSONValue? in [nil, .null, [:], []] {
            #expect(try NoParams(json: raw) == NoParams())
            #expect(try DaemonPingRequest.Params(json: raw) == DaemonPingRequest.Params())
        }
        #expect(NoParams().json == nil, "no params member is sent")
        #expect(DaemonPingRequest.Params().json == nil)
    }

    static let roundTrips: [JSONValue] = [
        ["view": "processes"],
        ["view": "hosts", "options": ["hidePseudo": true, "includeClosed": false], "filter": "name:x"],
    ]

    @Test(arguments: roundTrips)
    func viewQueriesRoundTrip(json: JSONValue) throws {
        #expect(try ViewQuery(json: json).json == json)
        var subscribe = json.objectValue ?? [:]
        subscribe["minInterval"] = 250
        #expect(try TopologySubscribeRequest.Params(json: .object(subscribe)).json == .object(subscribe))
    }

    @Test func optionsAsParsedIgnoreHowTheyWereSpelled() throws {
        let plain = try ViewQuery(json: ["view": "processes"])
        #expect(try ViewQuery(json: ["view": "processes", "options": [:]]) == plain)
        #expect(try ViewQuery(json: ["view": "processes", "options": ["all": nil], "filter": nil]) == plain)
        #expect(try ViewQuery(json: ["view": "processes", "filter": ""]).filterText == plain.filterText)
        #expect(ViewQuery(view: "processes", options: ViewOptions(all: true)).json == ["view": "processes", "options": ["all": true]])
    }

    @Test func otherParamsRoundTrip() throws {
        let node = NodeRef(view: "processes", id: "h;1")
        #expect(try NodeRef(json: node.json) == node)
        let control = ControlInvokeRequest.Params(node: "container:abc", control: "logs", args: ["tail": 5])
        #expect(try ControlInvokeRequest.Params(json: control.json) == control)
        let resize = PipeResizeRequest.Params(pipe: "p2", rows: 24, cols: 80)
        #expect(try PipeResizeRequest.Params(json: resize.json) == resize)
        let write = PipeWriteRequest.Params(pipe: "p2", data: "aGk=")
        #expect(try PipeWriteRequest.Params(json: write.json) == write)
        let ping = DaemonPingRequest.Params(delayMs: 5, workDoneToken: 7)
        #expect(try DaemonPingRequest.Params(json: ping.json) == ping)
        let hello = InitializeRequest.Params(clientName: "t", token: "s")
        #expect(hello.json == ["clientInfo": ["name": "t"], "capabilities": [:], "token": "s"])
        #expect(InitializeRequest.Params(json: hello.json) == hello)
        #expect(InitializeRequest.Params(json: ["clientInfo": "x", "token": 5, "rootUri": nil]) == InitializeRequest.Params())
    }

    @Test func controlArgsKeepTheirMessages() {
        #expect(throws: RPCError.invalidParams("unknown parameter params.args.lines for 'logs'; expected: follow, tail")) {
            try ControlArgs.Logs(args: ["lines": 5])
        }
        #expect(throws: RPCError.invalidParams("params.args.tail must be an integer between -1 and 1000000")) {
            try ControlArgs.Logs(args: ["tail": "all"])
        }
        #expect(throws: RPCError.invalidParams("params.args: give both rows and cols, or neither")) {
            try ControlArgs.Exec(args: ["rows": 24])
        }
        #expect(throws: RPCError.invalidParams("params.args.command must not be empty")) { try ControlArgs.Exec(args: ["command": []]) }
        #expect(throws: RPCError.invalidParams("params.args.signal: TERM or KILL, got 'HUP'")) { try ControlArgs.Signal(args: ["signal": "hup"]) }
        #expect((try? ControlArgs.Signal(args: [:]))?.name == "TERM")
        #expect((try? ControlArgs.Signal(args: ["signal": "sigkill"]))?.isKill == true)
        #expect((try? ControlArgs.Logs(args: [:])) == ControlArgs.Logs())
        #expect((try? ControlArgs.Exec(args: ControlArgs.Exec(rows: 2, cols: 3).args)) == ControlArgs.Exec(rows: 2, cols: 3))
    }

    @Test func resultsRoundTrip() throws {
        let hello = InitializeResult(serverName: "periscoped", serverVersion: "0", protocolVersion: "1.0", methods: ["daemon/ping"],
                                     framing: ["ndjson"], batches: true, cancellation: true, progress: false)
        #expect(try InitializeResult(json: hello.json) == hello)
        #expect(try DaemonPingRequest.Result(json: ["pong": true]).json == ["pong": true])
        #expect(throws: MalformedResult.self) { try DaemonPingRequest.Result(json: ["pong": false]) }
        #expect(try NullResult(json: .null) == .null)
        #expect(throws: MalformedResult.self) { try NullResult(json: [:]) }
        let done: JSONValue = ["node": "h;9", "control": "signal", "ok": true, "signal": "TERM"]
        #expect(try ControlInvokeResult(json: done) == .done(node: "h;9", control: "signal", signal: "TERM"))
        #expect(try ControlInvokeResult(json: done).json == done)
        #expect(try ControlInvokeResult(json: ["pipe": "p3"]) == .pipe("p3"))
        let snapshot: JSONValue = ["subscription": "s1", "view": "hosts", "revision": 4, "nodes": [["id": "h"]], "edges": []]
        #expect(try TopologySubscribeResult(json: snapshot).json == snapshot)
        #expect(try TopologySubscribeResult(json: snapshot).nodes == [["id": "h"]])
        #expect(try TopologySubscribeResult(json: snapshot).snapshot == ["view": "hosts", "nodes": [["id": "h"]], "edges": []])
        #expect(throws: MalformedResult("result.subscription is missing (a string)")) { try TopologySubscribeResult(json: ["view": "hosts"]) }
        var broken = hello.json.objectValue ?? [:]
        broken["capabilities"] = ["methods": ["a", 1]]
        #expect(throws: MalformedResult("result.capabilities.methods must be an array of strings, got an array")) {
            try InitializeResult(json: .object(broken))
        }
        let node: JSONValue = ["subscription": "s2", "revision": 1, "node": ["view": "hosts"]]
        #expect(try NodeSubscribeRequest.Result(json: node).json == node)
    }
}
