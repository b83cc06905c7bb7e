/// Every request method of the protocol, by type. `protocol/schema.json`'s `methods` lists the same ones (a test
/// holds them together), and `initialize` advertises those the daemon serves, lifecycle methods left out.
public enum MethodRegistry {
    /// Session lifecycle methods: handled by the session itself, never advertised in `capabilities.methods`.
    public static let lifecycle: [any RPCMethod.Type] = [
        InitializeRequest.self,
        AuthRequest.self,
        ShutdownRequest.self,
    ]

    /// The methods services register with the daemon's router.
    public static let served: [any RPCMethod.Type] = [
        DaemonStatusRequest.self,
        DaemonPingRequest.self,
        TopologyViewsRequest.self,
        TopologyGetRequest.self,
        NodeGetRequest.self,
        ReportGetRequest.self,
        TopologySubscribeRequest.self,
        TopologyUnsubscribeRequest.self,
        NodeSubscribeRequest.self,
        ControlInvokeRequest.self,
        PipeWriteRequest.self,
        PipeResizeRequest.self,
        PipeCloseRequest.self,
        // History (SPEC.md section 18).
        TopologyDiffRequest.self,
        NodeHistoryRequest.self,
    ]

    /// Every method.
    public static var all: [any RPCMethod.Type] { lifecycle + served }

    /// The names of the lifecycle methods.
    public static var lifecycleNames: Set<String> { Set(lifecycle.map { $0.method }) }

    /// The method type named `name`, if any.
    public static func type(named name: String) -> (any RPCMethod.Type)? {
        all.first { $0.method == name }
    }
}

extension RPCMethod {
    /// Every member the method's params may carry (``RPCParams/memberNames``).
    public static var paramNames: [String] { Params.memberNames }
    /// The members its params must carry (``RPCParams/requiredMembers``).
    public static var requiredParamNames: [String] { Params.requiredMembers }
}
