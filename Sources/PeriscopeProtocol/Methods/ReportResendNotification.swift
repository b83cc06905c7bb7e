/// `report/resend {revision}` (report port, aggregator to publisher): the aggregator does not hold the publisher's
/// revision (`revision` is the one it holds, −1 for none); the publisher sends its full report next.
public struct ReportResendNotification: RevisionNotification {
    public static let method = "report/resend"
    public static let direction = NotificationDirection.aggregatorToPublisher

    public var revision: Int64

    public init(revision: Int64) { self.revision = revision }
}
