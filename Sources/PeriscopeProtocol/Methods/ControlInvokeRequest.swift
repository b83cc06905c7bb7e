/// `control/invoke {node, control, args?}`: a container lifecycle control, `signal` to a process, or a streamed
/// control (`logs`, `exec`) answered with a pipe (SPEC.md section 16).
///
/// `args` depends on the control and is read (``ControlArgs``) only once the control is known to be enabled, so a
/// disabled control answers −32010 whatever its args.
public enum ControlInvokeRequest: RPCMethod {
    public static let method = "control/invoke"

    public struct Params: RPCParams {
        public static let memberNames = ["node", "control", "args"]
        public static let requiredMembers = ["node", "control"]

        /// `container:ID` for container controls and pipes, `HOST;PID` for `signal`.
        public var node: String
        public var control: String
        /// The control's arguments, as sent (an empty object when absent).
        public var args: [String: JSONValue]

        public init(node: String, control: String, args: [String: JSONValue] = [:]) {
            self.node = node
            self.control = control
            self.args = args
        }

        public init(json: JSONValue?) throws(RPCError) {
            let reader = try ParamReader(json, allowing: Set(Self.memberNames))
            node = try reader.requiredString("node")
            control = try reader.requiredString("control")
            args = try reader.object("args") ?? [:]
        }

        public var json: JSONValue? {
            var writer = ParamWriter()
            writer.set("node", node)
            writer.set("control", control)
            if !args.isEmpty { writer.set("args", JSONValue.object(args)) }
            return writer.json
        }
    }

    public typealias Result = ControlInvokeResult
}

/// What `control/invoke` answers: the control ran, or a pipe opened.
public enum ControlInvokeResult: RPCResult, Hashable {
    /// `{node, control, ok: true, signal?}`: the control ran (`signal`: the signal's name, for `signal`).
    case done(node: String, control: String, signal: String?)
    /// `{pipe}`: `logs` or `exec` opened pipe `pipe`; output follows as `pipe/data`.
    case pipe(String)

    public init(json: JSONValue) throws(MalformedResult) {
        let result = ResultReader(json)
        if json["pipe"] != nil {
            self = .pipe(try result.string("pipe"))
            return
        }
        try result.isTrue("ok")
        self = .done(node: try result.string("node"), control: try result.string("control"), signal: json["signal"]?.stringValue)
    }

    public var json: JSONValue {
        switch self {
        case .pipe(let id):
            return ["pipe": .string(id)]
        case .done(let node, let control, let signal):
            var o: [String: JSONValue] = ["node": .string(node), "control": .string(control), "ok": true]
            if let signal { o["signal"] = .string(signal) }
            return .object(o)
        }
    }
}
