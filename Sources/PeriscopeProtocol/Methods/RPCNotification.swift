/// A notification of the Periscope protocol: its name on the wire, which side sends it, and its params as a typed
/// value. One type per notification, in `Sources/PeriscopeProtocol/Methods/`; ``NotificationRegistry`` lists them
/// all, and a test holds them to `protocol/schema.json`'s `notifications` (as ``RPCMethod`` for requests).
///
/// The sender builds the value and sends ``params``; the receiver decodes with ``init(params:)``. Pure values.
public protocol RPCNotification: Sendable, Hashable {
    /// The notification name on the wire, e.g. `topology/changed`.
    static var method: String { get }
    /// Which side sends it.
    static var direction: NotificationDirection { get }
    /// Every member the params may carry (the schema's `properties`).
    static var memberNames: [String] { get }
    /// The members always present (the schema's `required`).
    static var requiredMembers: [String] { get }
    /// Decodes received params: every member the type knows is checked (a failure is a −32602 ``RPCError``
    /// naming it); members it does not know are ignored — a notification has no answer to refuse them in, and a
    /// later minor version may add some.
    init(params: JSONValue?) throws(RPCError)
    /// The `params` member to send.
    var params: JSONValue { get }
}

/// Which side of a connection sends a notification.
public enum NotificationDirection: String, Sendable, Hashable {
    case clientToServer = "client-to-server"
    case serverToClient = "server-to-client"
    /// On the report port (SPEC §17.2), never on a client connection.
    case publisherToAggregator = "publisher-to-aggregator"
    case aggregatorToPublisher = "aggregator-to-publisher"
}

extension RPCNotification {
    /// The whole notification message (`{jsonrpc, method, params}`).
    public var message: Message { .notification(method: Self.method, params: params) }

    /// A reader of received params (unknown members ignored).
    static func reader(_ params: JSONValue?) throws(RPCError) -> ParamReader {
        try ParamReader(params, allowing: nil)
    }
}

extension ParamReader {
    /// An object member that must be present.
    func requiredObject(_ name: String) throws(RPCError) -> [String: JSONValue] {
        guard let object = try object(name) else { throw RPCError.invalidParams("params.\(name) is required (an object)") }
        return object
    }

    /// An array member whose items are all strings.
    func strings(_ name: String, in object: [String: JSONValue]) throws(RPCError) -> [String] {
        guard let items = object[name]?.arrayValue else { throw RPCError.invalidParams("params.\(name) must be an array") }
        let strings = items.compactMap(\.stringValue)
        guard strings.count == items.count else { throw RPCError.invalidParams("params.\(name) must hold strings") }
        return strings
    }
}

/// A notification whose params carry nothing (`initialized`, `exit`): any object is read, `{}` is sent.
public protocol EmptyNotification: RPCNotification {
    init()
}

extension EmptyNotification {
    public static var memberNames: [String] { [] }
    public static var requiredMembers: [String] { [] }
    public init(params: JSONValue?) throws(RPCError) {
        _ = try Self.reader(params)
        self.init()
    }
    public var params: JSONValue { [:] }
}

/// A report-port notification whose only member is a revision (`report/ack`, `report/resend`).
public protocol RevisionNotification: RPCNotification {
    var revision: Int64 { get }
    init(revision: Int64)
}

extension RevisionNotification {
    public static var memberNames: [String] { ["revision"] }
    public static var requiredMembers: [String] { ["revision"] }
    public init(params: JSONValue?) throws(RPCError) {
        self.init(revision: try Self.reader(params).requiredInt("revision"))
    }
    public var params: JSONValue { ["revision": .int(revision)] }
}
