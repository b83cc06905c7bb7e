/// `pipe/close {pipe}`: closes a pipe of this connection (an exec is hung up); no `pipe/data` follows.
public enum PipeCloseRequest: RPCMethod {
    public static let method = "pipe/close"

    public struct Params: RPCParams {
        public static let memberNames = ["pipe"]
        public static let requiredMembers = ["pipe"]

        public var pipe: String

        public init(pipe: String) { self.pipe = pipe }

        public init(json: JSONValue?) throws(RPCError) {
            pipe = try ParamReader(json, allowing: Set(Self.memberNames)).requiredString("pipe")
        }

        public var json: JSONValue? { ["pipe": .string(pipe)] }
    }

    public typealias Result = NullResult
}
