/// `report/ack {revision}` (report port, aggregator to publisher): that report was accepted and merged, or that
/// heartbeat matched the revision the aggregator holds.
public struct ReportAckNotification: RevisionNotification {
    public static let method = "report/ack"
    public static let direction = NotificationDirection.aggregatorToPublisher

    public var revision: Int64

    public init(revision: Int64) { self.revision = revision }
}
