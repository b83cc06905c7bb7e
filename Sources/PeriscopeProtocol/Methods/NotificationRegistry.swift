/// Every notification of the protocol, by type. `protocol/schema.json`'s `notifications` lists the same ones with
/// the same members (a test holds them together).
public enum NotificationRegistry {
    /// Every notification type.
    public static let all: [any RPCNotification.Type] = [
        InitializedNotification.self,
        ExitNotification.self,
        CancelRequestNotification.self,
        ProgressNotification.self,
        TopologyChangedNotification.self,
        NodeChangedNotification.self,
        PipeDataNotification.self,
    ]

    /// The notifications of the report port (SPEC §17.2), between a publisher and an aggregator;
    /// `protocol/schema.json`'s `$defs/ReportPortMessage` lists the same methods and members.
    public static let reportPort: [any RPCNotification.Type] = [
        ReportPublishNotification.self,
        ReportDeltaNotification.self,
        ReportHeartbeatNotification.self,
        ReportAckNotification.self,
        ReportResendNotification.self,
        ReportRefusedNotification.self,
        ReportDemandNotification.self,
        ForwardRequestNotification.self,
        ForwardResponseNotification.self,
        ForwardNotifyNotification.self,
        ForwardReleaseNotification.self,
        ForwardBacklogNotification.self,
    ]

    /// The notification type named `name` (client connections and report port), if any.
    public static func type(named name: String) -> (any RPCNotification.Type)? {
        (all + reportPort).first { $0.method == name }
    }

    /// The names of those sent in `direction`.
    public static func names(_ direction: NotificationDirection) -> [String] {
        all.filter { $0.direction == direction }.map { $0.method }
    }
}
