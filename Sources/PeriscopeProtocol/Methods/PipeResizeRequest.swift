/// `pipe/resize {pipe, rows, cols}`: the new size of an exec pipe's terminal.
public enum PipeResizeRequest: RPCMethod {
    public static let method = "pipe/resize"

    public struct Params: RPCParams {
        public static let memberNames = ["pipe", "rows", "cols"]
        public static let requiredMembers = ["pipe", "rows", "cols"]
        public static let sizeRange: ClosedRange<Int64> = 1...9999

        public var pipe: String
        public var rows: Int64
        public var cols: Int64

        public init(pipe: String, rows: Int64, cols: Int64) {
            self.pipe = pipe
            self.rows = rows
            self.cols = cols
        }

        public init(json: JSONValue?) throws(RPCError) {
            let reader = try ParamReader(json, allowing: Set(Self.memberNames))
            rows = try reader.requiredInt("rows", in: Self.sizeRange)
            cols = try reader.requiredInt("cols", in: Self.sizeRange)
            pipe = try reader.requiredString("pipe")
        }

        public var json: JSONValue? { ["pipe": .string(pipe), "rows": .int(rows), "cols": .int(cols)] }
    }

    public typealias Result = NullResult
}
