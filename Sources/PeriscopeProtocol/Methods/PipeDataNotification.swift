/// `pipe/data {pipe, data, eof?, exitCode?, error?}`: output of a pipe opened by `control/invoke`, base64; the last
/// one has `eof: true` and empty data, with the exec's exit code when known and an error when the stream failed.
public struct PipeDataNotification: RPCNotification {
    public static let method = "pipe/data"
    public static let direction = NotificationDirection.serverToClient
    public static let memberNames = ["pipe", "data", "eof", "exitCode", "error"]
    public static let requiredMembers = ["pipe", "data"]

    public var pipe: String
    /// The output bytes, base64.
    public var data: String
    public var eof: Bool
    public var exitCode: Int64?
    public var error: String?

    /// Output of `pipe`.
    public init(pipe: String, data: String) {
        self.init(pipe: pipe, data: data, eof: false, exitCode: nil, error: nil)
    }

    /// The end of `pipe`'s output.
    public static func end(pipe: String, exitCode: Int64?, error: String?) -> PipeDataNotification {
        PipeDataNotification(pipe: pipe, data: "", eof: true, exitCode: exitCode, error: error)
    }

    private init(pipe: String, data: String, eof: Bool, exitCode: Int64?, error: String?) {
        self.pipe = pipe
        self.data = data
        self.eof = eof
        self.exitCode = exitCode
        self.error = error
    }

    public init(params: JSONValue?) throws(RPCError) {
        let reader = try Self.reader(params)
        try self.init(pipe: reader.requiredString("pipe"), data: reader.requiredString("data"),
                      eof: reader.bool("eof") ?? false, exitCode: reader.int("exitCode"), error: reader.string("error"))
    }

    public var params: JSONValue {
        var writer = ParamWriter()
        writer.set("pipe", pipe)
        writer.set("data", data)
        if eof { writer.set("eof", JSONValue.bool(true)) }
        writer.set("exitCode", exitCode)
        writer.set("error", error)
        return writer.json
    }
}
