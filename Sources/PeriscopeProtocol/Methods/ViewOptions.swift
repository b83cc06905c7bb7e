/// Options of a view request (`options` of `topology/get` and `topology/subscribe`). `nil` means "the view's
/// default" (see `ViewCatalog`). Hashable, so that equal requests share one render and one maintained view
/// however the client spelled them (`{}`, `{"all": null}` and no options at all are the same).
public struct ViewOptions: Sendable, Hashable, JSONRepresentable {
    /// Include every process, not only those with connections (`processes`, `processes-by-name`).
    public var all: Bool?
    /// Hide nodes that have no edge in the view (default: true, or false when `all` is set; false for `hosts`).
    public var hideUnconnected: Bool?
    /// Hide pseudo nodes (The Internet, remote peers, unattributed sockets) and their edges (default false).
    public var hidePseudo: Bool?
    /// Show recently closed connections, marked `closed` (default true).
    public var includeClosed: Bool?
    /// Container views: include system (infrastructure) containers as well as application ones (default false).
    public var system: Bool?

    /// Option names, as in JSON.
    public static let names = ["all", "hideUnconnected", "hidePseudo", "includeClosed", "system"]

    public init(all: Bool? = nil, hideUnconnected: Bool? = nil, hidePseudo: Bool? = nil, includeClosed: Bool? = nil,
                system: Bool? = nil) {
        self.all = all
        self.hideUnconnected = hideUnconnected
        self.hidePseudo = hidePseudo
        self.includeClosed = includeClosed
        self.system = system
    }

    /// Parses the `options` member of a request: absent or `null` means defaults; otherwise an object whose
    /// members are known option names with boolean (or `null`) values.
    /// - Throws: −32602 `params.options: …`, naming the offending option.
    public init(json: JSONValue?) throws(RPCError) {
        self.init()
        guard let json, !json.isNull else { return }
        guard let members = json.objectValue else {
            throw Self.invalid("options must be an object, got \(json.typeName)")
        }
        for (name, value) in members.sorted(by: { $0.key < $1.key }) {
            let flag: Bool?
            switch value {
            case .null: flag = nil
            case .bool(let b): flag = b
            default: throw Self.invalid("option '\(name)' must be a boolean, got \(value.typeName)")
            }
            switch name {
            case "all": all = flag
            case "hideUnconnected": hideUnconnected = flag
            case "hidePseudo": hidePseudo = flag
            case "includeClosed": includeClosed = flag
            case "system": system = flag
            default: throw Self.invalid("unknown option '\(name)'; known options: \(Self.names.joined(separator: ", "))")
            }
        }
    }

    private static func invalid(_ message: String) -> RPCError { .invalidParams("params.options: \(message)") }

    /// The options that are set, as an object.
    public var json: JSONValue {
        var o: [String: JSONValue] = [:]
        if let all { o["all"] = .bool(all) }
        if let hideUnconnected { o["hideUnconnected"] = .bool(hideUnconnected) }
        if let hidePseudo { o["hidePseudo"] = .bool(hidePseudo) }
        if let includeClosed { o["includeClosed"] = .bool(includeClosed) }
        if let system { o["system"] = .bool(system) }
        return .object(o)
    }

    /// The names of the options that are set.
    public var setNames: [String] {
        var out: [String] = []
        if all != nil { out.append("all") }
        if hideUnconnected != nil { out.append("hideUnconnected") }
        if hidePseudo != nil { out.append("hidePseudo") }
        if includeClosed != nil { out.append("includeClosed") }
        if system != nil { out.append("system") }
        return out
    }

    /// Whether no option is set (every one is the view's default).
    public var isEmpty: Bool { setNames.isEmpty }
}
