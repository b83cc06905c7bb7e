import PeriscopeProtocol

/// Options of a view request (`options` of `topology/get`). `nil` means "the view's default" (see
/// ``ViewCatalog``). Hashable so that equal requests can share one maintained view.
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

    public init(all: Bool? = nil, hideUnconnected: Bool? = nil, hidePseudo: Bool? = nil, includeClosed: Bool? = nil) {
        self.all = all
        self.hideUnconnected = hideUnconnected
        self.hidePseudo = hidePseudo
        self.includeClosed = includeClosed
    }

    /// Parses the `options` member of a request: absent or `null` means defaults; otherwise an object whose
    /// members are known option names with boolean (or `null`) values.
    /// - Throws: ``ViewError`` with code `invalidOption`, naming the offending option.
    public init(json: JSONValue?) throws {
        self.init()
        guard let json, !json.isNull else { return }
        guard let members = json.objectValue else {
            throw ViewError(.invalidOption, "options must be an object, got \(json.typeName)")
        }
        for (name, value) in members.sorted(by: { $0.key < $1.key }) {
            let flag: Bool?
            switch value {
            case .null: flag = nil
            case .bool(let b): flag = b
            default:
                throw ViewError(.invalidOption, "option '\(name)' must be a boolean, got \(value.typeName)")
            }
            switch name {
            case "all": all = flag
            case "hideUnconnected": hideUnconnected = flag
            case "hidePseudo": hidePseudo = flag
            case "includeClosed": includeClosed = flag
            case "system": system = flag
            default:
                throw ViewError(.invalidOption,
                                "unknown option '\(name)'; known options: \(Self.names.joined(separator: ", "))")
            }
        }
    }

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
    var setNames: [String] {
        var out: [String] = []
        if all != nil { out.append("all") }
        if hideUnconnected != nil { out.append("hideUnconnected") }
        if hidePseudo != nil { out.append("hidePseudo") }
        if includeClosed != nil { out.append("includeClosed") }
        if system != nil { out.append("system") }
        return out
    }
}
