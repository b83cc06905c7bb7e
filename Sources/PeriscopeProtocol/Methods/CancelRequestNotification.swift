/// `$/cancelRequest {id}` (client to server): cancel the request `id` if it is still in flight; it is then answered
/// −32800.
public struct CancelRequestNotification: RPCNotification {
    public static let method = "$/cancelRequest"
    public static let direction = NotificationDirection.clientToServer
    public static let memberNames = ["id"]
    public static let requiredMembers = ["id"]

    public var id: RequestID

    public init(id: RequestID) { self.id = id }

    public init(params: JSONValue?) throws(RPCError) {
        let reader = try Self.reader(params)
        guard let raw = reader.value("id"), let id = RequestID(json: raw) else {
            throw RPCError.invalidParams("params.id must be a string or an integer")
        }
        self.id = id
    }

    public var params: JSONValue { ["id": id.json] }
}
