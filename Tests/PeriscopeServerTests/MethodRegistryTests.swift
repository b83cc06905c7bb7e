import PeriscopeClient
import PeriscopeProtocol
import Testing

/// The daemon serves what ``MethodRegistry`` lists, through the typed client.
@Suite("Typed methods against a real daemon", .serialized)
struct MethodRegistryTests {
    @Test func initializeAdvertisesTheRegistryWithoutLifecycleMethods() throws {
        let daemon = try DaemonProcess(collectors: true)
        let client = try RPCClient(socketPath: daemon.socketPath)
        let result = try #require(try client.initialize(clientName: "registry-test"))
        let served = MethodRegistry.served.map { $0.method }
        #expect(result.methods.sorted() == served.sorted())
        #expect(Set(result.methods).isDisjoint(with: MethodRegistry.lifecycleNames))
        #expect(result.protocolVersion == PeriscopeVersion.protocolVersion)
        #expect(daemon.stop() == 0)
    }

    @Test func withoutCollectorsTheAdvertisedMethodsAreRegistered() throws {
        let daemon = try DaemonProcess()
        let result = try #require(try RPCClient(socketPath: daemon.socketPath).initialize(clientName: "registry-test"))
        let served = Set(MethodRegistry.served.map { $0.method })
        #expect(Set(result.methods).isSubset(of: served))
        #expect(result.methods.contains(DaemonPingRequest.method))
        #expect(!result.methods.contains(TopologyGetRequest.method))
        #expect(daemon.stop() == 0)
    }

    @Test func typedCallsRoundTrip() throws {
        let daemon = try DaemonProcess(collectors: true)
        let client = try daemon.client()
        #expect(try client.call(DaemonPingRequest.self, .init(delayMs: 1)) == DaemonPingRequest.Result())
        let view = try client.call(TopologyGetRequest.self, .init(ViewQuery(view: "hosts")))
        #expect(view["view"] == "hosts")
        let snapshot = try client.call(TopologySubscribeRequest.self, .init(ViewQuery(view: "processes")))
        #expect(snapshot.snapshot["view"] == "processes")
        #expect(try client.call(TopologyUnsubscribeRequest.self, .init(subscription: snapshot.subscription)) == .null)
        #expect(throws: RPCError.invalidParams("params.options.all is not an option of view 'hosts'; it takes: hideUnconnected, hidePseudo, includeClosed")) {
            try client.call(TopologyGetRequest.self, .init(ViewQuery(view: "hosts", options: ViewOptions(all: true))))
        }
        #expect(daemon.stop() == 0)
    }

    /// `{}`, `{"all": null}` and no options at all are one view: one shared render for their subscribers.
    @Test func optionsSpelledDifferentlyShareOneView() throws {
        let daemon = try DaemonProcess(collectors: true)
        let client = try daemon.client()
        for options: JSONValue? in [nil, [:], ["all": nil], ["hidePseudo": nil]] {
            var params: [String: JSONValue] = ["view": "processes", "minInterval": 0]
            params["options"] = options
            _ = try client.call(TopologySubscribeRequest.method, .object(params))
        }
        _ = try client.call(TopologySubscribeRequest.self, .init(ViewQuery(view: "processes", options: ViewOptions(all: true))))
        let status = try client.call(DaemonStatusRequest.self)
        let subscriptions = status["collectors"]?["subscriptions"]
        #expect(subscriptions?["subscriptions"] == 5)
        #expect(subscriptions?["sharedViews"] == 2)
        #expect(daemon.stop() == 0)
    }
}
