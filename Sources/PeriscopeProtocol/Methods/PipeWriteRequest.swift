/// `pipe/write {pipe, data}`: bytes (base64) for an exec pipe's terminal.
public enum PipeWriteRequest: RPCMethod {
    public static let method = "pipe/write"

    public struct Params: RPCParams {
        public static let memberNames = ["pipe", "data"]
        public static let requiredMembers = ["pipe", "data"]

        public var pipe: String
        /// Base64; the daemon decodes it (−32602 `params.data must be base64`).
        public var data: String

        public init(pipe: String, data: String) {
            self.pipe = pipe
            self.data = data
        }

        public init(json: JSONValue?) throws(RPCError) {
            let reader = try ParamReader(json, allowing: Set(Self.memberNames))
            data = try reader.requiredString("data")
            pipe = try reader.requiredString("pipe")
        }

        public var json: JSONValue? { ["pipe": .string(pipe), "data": .string(data)] }
    }

    public typealias Result = NullResult
}
