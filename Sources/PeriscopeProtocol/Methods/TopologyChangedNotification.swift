/// `topology/changed {subscription, revision, previousRevision, added, updated, removed, reset?}`: the net changes
/// of a `topology/subscribe` subscription from `previousRevision` to `revision`; with `reset`, `added` is the whole
/// state and the client replaces its own with it (SPEC §15).
public struct TopologyChangedNotification: RPCNotification {
    public static let method = "topology/changed"
    public static let direction = NotificationDirection.serverToClient
    public static let memberNames = ["subscription", "revision", "previousRevision", "added", "updated", "removed", "reset"]
    public static let requiredMembers = ["subscription", "revision", "previousRevision", "added", "updated", "removed"]

    public var subscription: String
    public var revision: Int64
    public var previousRevision: Int64
    public var changes: ViewChanges
    /// The changes are the whole state (`added` only).
    public var reset: Bool

    public init(subscription: String, revision: Int64, previousRevision: Int64, changes: ViewChanges, reset: Bool = false) {
        self.subscription = subscription
        self.revision = revision
        self.previousRevision = previousRevision
        self.changes = changes
        self.reset = reset
    }

    public init(params: JSONValue?) throws(RPCError) {
        let reader = try Self.reader(params)
        subscription = try reader.requiredString("subscription")
        revision = try reader.requiredInt("revision")
        previousRevision = try reader.requiredInt("previousRevision")
        changes = try ViewChanges(reader)
        reset = try reader.bool("reset") ?? false
    }

    public var params: JSONValue {
        var members = changes.members
        members["subscription"] = .string(subscription)
        members["revision"] = .int(revision)
        members["previousRevision"] = .int(previousRevision)
        if reset { members["reset"] = true }
        return .object(members)
    }
}
