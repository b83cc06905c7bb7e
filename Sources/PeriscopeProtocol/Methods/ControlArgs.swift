/// The `args` of `control/invoke`, per control. Errors are −32602 and name the member (`params.args.tail …`).
public enum ControlArgs {
    /// `logs {tail?, follow?}`: the last `tail` lines (−1: all; default 100), then new ones while `follow` (default true).
    public struct Logs: Sendable, Hashable {
        public static let memberNames = ["tail", "follow"]
        public var tail: Int
        public var follow: Bool

        public init(tail: Int = 100, follow: Bool = true) {
            self.tail = tail
            self.follow = follow
        }

        public init(args: [String: JSONValue]) throws(RPCError) {
            let reader = ArgsReader(control: "logs", args: args)
            try reader.allowOnly(Self.memberNames)
            tail = try reader.int("tail", -1...1_000_000) ?? 100
            follow = try reader.bool("follow") ?? true
        }

        public var args: [String: JSONValue] { ["tail": .int(Int64(tail)), "follow": .bool(follow)] }
    }

    /// `exec {command?, env?, rows?, cols?}`: a command (default `/bin/sh`) on a terminal of `rows`×`cols` (both or neither).
    public struct Exec: Sendable, Hashable {
        public static let memberNames = ["command", "env", "rows", "cols"]
        public var command: [String]
        public var environment: [String]
        public var rows: Int?
        public var cols: Int?

        public init(command: [String] = ["/bin/sh"], environment: [String] = ["TERM=xterm"], rows: Int? = nil, cols: Int? = nil) {
            self.command = command
            self.environment = environment
            self.rows = rows
            self.cols = cols
        }

        public init(args: [String: JSONValue]) throws(RPCError) {
            let reader = ArgsReader(control: "exec", args: args)
            try reader.allowOnly(Self.memberNames)
            command = try reader.strings("command") ?? ["/bin/sh"]
            guard let first = command.first, !first.isEmpty else { throw .invalidParams("params.args.command must not be empty") }
            environment = try reader.strings("env") ?? ["TERM=xterm"]
            rows = try reader.int("rows", 1...9999)
            cols = try reader.int("cols", 1...9999)
            guard (rows == nil) == (cols == nil) else { throw .invalidParams("params.args: give both rows and cols, or neither") }
        }

        public var args: [String: JSONValue] {
            var o: [String: JSONValue] = ["command": JSONValue(command), "env": JSONValue(environment)]
            if let rows, let cols {
                o["rows"] = .int(Int64(rows))
                o["cols"] = .int(Int64(cols))
            }
            return o
        }
    }

    /// `signal {signal?}`: `TERM` (default) or `KILL`, with or without `SIG`, any case. Other members are ignored.
    public struct Signal: Sendable, Hashable {
        /// The name as the client gave it, upper-cased (`TERM`, `SIGKILL`, …).
        public var name: String
        /// `KILL` rather than `TERM`.
        public var isKill: Bool { name == "KILL" || name == "SIGKILL" }

        public init(args: [String: JSONValue]) throws(RPCError) {
            name = (args["signal"]?.stringValue ?? "TERM").uppercased()
            guard ["TERM", "SIGTERM", "KILL", "SIGKILL"].contains(name) else {
                throw .invalidParams("params.args.signal: TERM or KILL, got '\(name)'")
            }
        }

        public var args: [String: JSONValue] { ["signal": .string(name)] }
    }
}

/// Reads `args` members with the messages of `control/invoke` (`params.args.NAME …`).
private struct ArgsReader {
    let control: String
    let args: [String: JSONValue]

    func allowOnly(_ known: [String]) throws(RPCError) {
        for key in args.keys.sorted() where !known.contains(key) {
            throw .invalidParams("unknown parameter params.args.\(key) for '\(control)'; expected: " + known.sorted().joined(separator: ", "))
        }
    }

    private func value(_ name: String) -> JSONValue? {
        guard let value = args[name], value != .null else { return nil }
        return value
    }

    func int(_ name: String, _ range: ClosedRange<Int64>) throws(RPCError) -> Int? {
        guard let value = value(name) else { return nil }
        guard let i = value.intValue, range.contains(i) else {
            throw .invalidParams("params.args.\(name) must be an integer between \(range.lowerBound) and \(range.upperBound)")
        }
        return Int(i)
    }

    func bool(_ name: String) throws(RPCError) -> Bool? {
        guard let value = value(name) else { return nil }
        guard case .bool(let b) = value else { throw .invalidParams("params.args.\(name) must be a boolean") }
        return b
    }

    func strings(_ name: String) throws(RPCError) -> [String]? {
        guard let value = value(name) else { return nil }
        guard let items = value.arrayValue, items.count <= 256 else { throw .invalidParams("params.args.\(name) must be an array of strings") }
        var out: [String] = []
        for item in items {
            guard let s = item.stringValue else { throw .invalidParams("params.args.\(name) must be an array of strings") }
            out.append(s)
        }
        return out
    }
}
