/// `auth {token}`: authenticates a TCP connection before `initialize` (Unix socket and stdio need no token).
public enum AuthRequest: RPCMethod {
    public static let method = "auth"

    /// `token` is required on the wire, but decoding never fails: a missing token, or one that is not a string,
    /// is a failed authentication (−32001, and the connection closes), not −32602.
    public struct Params: RPCParams {
        public static let memberNames = ["token"]
        public static let requiredMembers = ["token"]

        public var token: String?

        public init(token: String?) { self.token = token }

        public init(json: JSONValue?) { token = json?["token"]?.stringValue }

        public var json: JSONValue? {
            var writer = ParamWriter()
            writer.set("token", token)
            return writer.json
        }
    }

    /// `{authenticated: true}`.
    public struct Result: RPCResult, Hashable {
        public init() {}

        public init(json: JSONValue) throws(MalformedResult) {
            try ResultReader(json).isTrue("authenticated")
        }

        public var json: JSONValue { ["authenticated": true] }
    }
}
