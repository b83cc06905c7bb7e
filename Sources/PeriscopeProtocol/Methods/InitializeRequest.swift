/// `initialize`: opens a session (LSP lifecycle); on TCP it carries the token unless `auth` came first.
public enum InitializeRequest: RPCMethod {
    public static let method = "initialize"

    /// All members are optional, and members not listed are accepted and ignored: LSP clients send `processId`,
    /// `rootUri` and more. Decoding never fails: a member of the wrong type reads as absent (a token that is not
    /// a string is a missing token, answered −32001 on TCP).
    public struct Params: RPCParams {
        public static let memberNames = ["processId", "clientInfo", "capabilities", "token"]
        public static let requiredMembers: [String] = []

        public var clientName: String?
        public var clientVersion: String?
        /// The TCP token.
        public var token: String?

        public init(clientName: String? = nil, clientVersion: String? = nil, token: String? = nil) {
            self.clientName = clientName
            self.clientVersion = clientVersion
            self.token = token
        }

        public init(json: JSONValue?) {
            let info = json?["clientInfo"]
            clientName = info?["name"]?.stringValue
            clientVersion = clientName == nil ? nil : info?["version"]?.stringValue
            token = json?["token"]?.stringValue
        }

        public var json: JSONValue? {
            var info = ParamWriter()
            info.set("name", clientName)
            info.set("version", clientVersion)
            var writer = ParamWriter()
            writer.set("clientInfo", clientName == nil ? nil : info.json)
            writer.set("capabilities", JSONValue.object([:]))
            writer.set("token", token)
            return writer.json
        }
    }

    public typealias Result = InitializeResult
}

/// The `initialize` result: who the daemon is and what it can do.
public struct InitializeResult: RPCResult, Hashable {
    public var serverName: String
    public var serverVersion: String
    public var protocolVersion: String
    /// The request methods this daemon serves, lifecycle methods (``MethodRegistry/lifecycle``) left out.
    public var methods: [String]
    /// `content-length` and `ndjson`.
    public var framing: [String]
    public var batches: Bool
    public var cancellation: Bool
    public var progress: Bool

    public init(serverName: String, serverVersion: String, protocolVersion: String, methods: [String],
                framing: [String], batches: Bool, cancellation: Bool, progress: Bool) {
        self.serverName = serverName
        self.serverVersion = serverVersion
        self.protocolVersion = protocolVersion
        self.methods = methods
        self.framing = framing
        self.batches = batches
        self.cancellation = cancellation
        self.progress = progress
    }

    public init(json: JSONValue) throws(MalformedResult) {
        let result = ResultReader(json)
        let info = try result.nested("serverInfo"), capabilities = try result.nested("capabilities")
        serverName = try info.string("name")
        serverVersion = try info.string("version")
        protocolVersion = try result.string("protocolVersion")
        methods = try capabilities.strings("methods")
        framing = try capabilities.strings("framing")
        batches = try capabilities.bool("batches")
        cancellation = try capabilities.bool("cancellation")
        progress = try capabilities.bool("progress")
    }

    public var json: JSONValue {
        [
            "serverInfo": ["name": .string(serverName), "version": .string(serverVersion)],
            "protocolVersion": .string(protocolVersion),
            "capabilities": [
                "methods": JSONValue(methods),
                "framing": JSONValue(framing),
                "batches": .bool(batches),
                "cancellation": .bool(cancellation),
                "progress": .bool(progress),
            ],
        ]
    }
}
