import Glibc
import PeriscopeProtocol
import Testing

/// The method types (``MethodRegistry``) and `protocol/schema.json` describe the same methods with the same params.
@Suite("Method types against protocol/schema.json")
struct SchemaMethodTests {
    static let schema: JSONValue = {
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]) }
        path += "/protocol/schema.json"
        guard let file = fopen(path, "r") else { return .null }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            bytes += buffer[0..<count]
        }
        return (try? JSONParser().parse(bytes)) ?? .null
    }()

    /// The schema a `{"$ref": "#/$defs/NAME"}` points to (or the schema itself when it is not a reference).
    static func resolve(_ schema: JSONValue?) -> JSONValue? {
        guard let ref = schema?["$ref"]?.stringValue, ref.hasPrefix("#/$defs/") else { return schema }
        return Self.schema["$defs"]?[String(ref.dropFirst("#/$defs/".count))]
    }

    static func entry(_ method: String) -> JSONValue? { schema["methods"]?[method] }

    @Test func schemaLoads() {
        #expect(Self.schema["methods"]?.objectValue?.isEmpty == false, "protocol/schema.json not found or not parsed")
    }

    @Test func everyMethodTypeIsInTheSchemaAndEverySchemaMethodHasAType() throws {
        let typed = MethodRegistry.all.map { $0.method }
        #expect(Set(typed).count == typed.count, "a method is registered twice")
        let documented = Set(try #require(Self.schema["methods"]?.objectValue).keys)
        #expect(Set(typed).subtracting(documented).isEmpty, "method types without a schema entry")
        #expect(documented.subtracting(typed).isEmpty, "schema methods without a method type")
        for name in documented { #expect(MethodRegistry.type(named: name) != nil, "\(name)") }
    }

    @Test(arguments: MethodRegistry.all.map { $0.method })
    func paramsMatchTheSchema(method: String) throws {
        let type = try #require(MethodRegistry.type(named: method))
        let params = try #require(Self.resolve(Self.entry(method)?["params"]), "no params schema for \(method)")
        let required = params["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(Set(type.requiredParamNames) == Set(required), "\(method): required params")
        let properties = params["properties"]?.objectValue.map { Array($0.keys) } ?? []
        #expect(Set(type.paramNames) == Set(properties), "\(method): param members")
        if params["additionalProperties"] == .bool(false) || params["maxProperties"] == .int(0) {
            // A closed object in the schema: the decoder refuses a member the schema does not list.
            #expect(throws: RPCError.self) { try Self.decode(type, ["not-a-member": 1]) }
        }
    }

    @Test(arguments: MethodRegistry.all.map { $0.method })
    func nullResultsAreNullInTheSchema(method: String) throws {
        let type = try #require(MethodRegistry.type(named: method))
        let result = try #require(Self.entry(method)?["result"])
        #expect((result == ["type": "null"]) == Self.answersNull(type), "\(method): null result")
    }

    @Test func notificationsMatchTheSchema() throws {
        let documented = try #require(Self.schema["notifications"]?.objectValue)
        let typed = NotificationRegistry.all.map { $0.method }
        #expect(Set(typed).count == typed.count, "a notification is registered twice")
        #expect(Set(documented.keys) == Set(typed))
        #expect(Set(documented.keys) == Set(NotificationName.clientToServer + NotificationName.serverToClient))
        for name in NotificationName.clientToServer { #expect(documented[name]?["direction"] == "client-to-server", "\(name)") }
        for name in NotificationName.serverToClient { #expect(documented[name]?["direction"] == "server-to-client", "\(name)") }
    }

    @Test(arguments: NotificationRegistry.all.map { $0.method })
    func notificationParamsMatchTheSchema(name: String) throws {
        let type = try #require(NotificationRegistry.type(named: name))
        let entry = try #require(Self.schema["notifications"]?[name])
        #expect(entry["direction"] == .string(type.direction.rawValue), "\(name): direction")
        let params = try #require(Self.resolve(entry["params"]), "no params schema for \(name)")
        let required = params["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(Set(type.requiredMembers) == Set(required), "\(name): required members")
        let properties = params["properties"]?.objectValue.map { Array($0.keys) } ?? []
        #expect(Set(type.memberNames) == Set(properties), "\(name): members")
    }

    @Test func reportPortMessagesMatchTheSchema() throws {
        let message = try #require(Self.schema["$defs"]?["ReportPortMessage"])
        let methods = try #require(message["properties"]?["method"]?["enum"]?.arrayValue).compactMap(\.stringValue)
        #expect(Set(methods) == Set(NotificationRegistry.reportPort.map { $0.method }))
        // One params schema for all of them: its members are the union of theirs.
        let properties = Set(message["properties"]?["params"]?["properties"]?.objectValue?.keys ?? [:].keys)
        #expect(properties == Set(NotificationRegistry.reportPort.flatMap { $0.memberNames }))
        for type in NotificationRegistry.reportPort {
            #expect([.publisherToAggregator, .aggregatorToPublisher].contains(type.direction), "\(type.method)")
            #expect(NotificationRegistry.type(named: type.method) != nil)
        }
    }

    /// One value of every notification type, in each of its shapes.
    static let notificationSamples: [any RPCNotification] = [
        InitializedNotification(),
        ExitNotification(),
        CancelRequestNotification(id: .number(7)),
        CancelRequestNotification(id: .string("a")),
        ProgressNotification(token: "t1", value: .begin("ping", cancellable: true)),
        ProgressNotification(token: 4, value: .init(kind: .report, message: "half", percentage: 50)),
        ProgressNotification(token: "t1", value: .end("cancelled")),
        TopologyChangedNotification(subscription: "s1", revision: 9, previousRevision: 7, changes: ViewChanges(
            added: .init(nodes: [["id": "a"]], edges: [["id": "a->b"]]), updated: .init(nodes: [["id": "b"]]),
            removed: .init(nodes: ["c"], edges: ["c->b"]))),
        TopologyChangedNotification(subscription: "s2", revision: 3, previousRevision: 1,
                                    changes: ViewChanges(added: .init(nodes: [["id": "a"]])), reset: true),
        NodeChangedNotification(subscription: "s3", revision: 4, change: .details(["id": "h1;1"])),
        NodeChangedNotification(subscription: "s3", revision: 5, change: .removed),
        PipeDataNotification(pipe: "p1", data: "aGk="),
        PipeDataNotification.end(pipe: "p1", exitCode: 3, error: "engine gone"),
        ReportPublishNotification(host: "h1", revision: 4, refreshMs: 1000, data: "eJw="),
        ReportDeltaNotification(host: "h1", base: 4, revision: 5, refreshMs: 1000, data: "eJw="),
        ReportHeartbeatNotification(host: "h1", revision: 4, refreshMs: 1000),
        ReportAckNotification(revision: 4),
        ReportResendNotification(revision: -1),
        ReportRefusedNotification(reason: "certificate of x does not name host h1"),
        ReportDemandNotification(tcpInfo: true),
        ForwardRequestNotification(call: 3, client: 7, who: "session 7 (unix, pid 9, uid 0)", method: "control/invoke",
                                   params: ["node": "h1;42", "control": "signal", "args": ["signal": "TERM"]]),
        ForwardResponseNotification(call: 3, outcome: .success(["node": "h1;42", "control": "signal", "ok": true])),
        ForwardResponseNotification(call: 4, outcome: .failure(RPCError(code: -32010, message: "not enabled",
                                                                        data: ["control": "signal"]))),
        ForwardNotifyNotification(client: 7, method: "pipe/data", params: ["pipe": "p2", "data": "aGk="]),
        ForwardReleaseNotification(client: 7),
        ForwardBacklogNotification(client: 7, bytes: 2 << 20),
    ]

    @Test func everyNotificationShapeRoundTripsAndStaysInsideTheSchema() throws {
        var seen: Set<String> = []
        for sample in Self.notificationSamples {
            let type = Swift.type(of: sample)
            seen.insert(type.method)
            let params = sample.params
            let members = Set(params.objectValue?.keys ?? [:].keys)
            #expect(members.isSubset(of: Set(type.memberNames)), "\(type.method): \(members)")
            #expect(Set(type.requiredMembers).isSubset(of: members), "\(type.method): \(members)")
            #expect(try Self.roundTrips(sample), "\(type.method) decodes to what was sent")
            #expect(sample.message.json["method"] == .string(type.method))
        }
        #expect(seen == Set((NotificationRegistry.all + NotificationRegistry.reportPort).map { $0.method }),
                "a sample of every notification")
        // Received params are checked: a missing member or a wrong shape is refused, naming it.
        #expect(throws: RPCError.self) { try TopologyChangedNotification(params: ["subscription": "s1", "revision": 1]) }
        #expect(throws: RPCError.self) { try NodeChangedNotification(params: ["subscription": "s", "revision": 1]) }
        #expect(throws: RPCError.self) { try CancelRequestNotification(params: ["id": 1.5]) }
        #expect(try CancelRequestNotification(params: ["id": 1, "extra": true]).id == .number(1))
        #expect(try NodeChangedNotification(params: ["subscription": "s", "revision": 1, "removed": true, "later": 1]).change == .removed,
                "members a later minor version adds are ignored")
    }

    static func roundTrips<N: RPCNotification>(_ sample: N) throws -> Bool {
        try N(params: sample.params) == sample
    }

    @Test func lifecycleMethodsAreTheSessionsOwn() {
        #expect(MethodRegistry.lifecycleNames == ["initialize", "auth", "shutdown"])
        #expect(Set(MethodRegistry.served.map { $0.method }).isDisjoint(with: MethodRegistry.lifecycleNames))
    }

    static func decode<M: RPCMethod>(_ type: M.Type, _ json: JSONValue?) throws(RPCError) {
        _ = try M.Params(json: json)
    }

    static func answersNull<M: RPCMethod>(_ type: M.Type) -> Bool { M.Result.self == NullResult.self }
}
