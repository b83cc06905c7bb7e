import PeriscopeProtocol
import PeriscopeTopology

/// One publisher message on its way to the merge queue: a full report or a delta (still base64 and compressed
/// on the link's zlib stream), or a heartbeat. Applied on the queue, in the link's arrival order.
enum MergeMessage: Sendable {
    case full(revision: Int64, data: String)
    case delta(base: Int64, revision: Int64, data: String)
    case heartbeat(revision: Int64)

    /// Decodes, checks and applies the message to `merger` (merge queue only). Every report and delta is inflated,
    /// even one that will be ignored: the link's stream needs every frame in order.
    func apply(host: String, merger: HostMerger, inflater: ZlibStream?) -> Result<HostMerger.Outcome, ReportWireError> {
        do throws(ReportWireError) {
            switch self {
            case .heartbeat(let revision):
                return .success(merger.heartbeat(host, revision: revision))
            case .full(let revision, let data):
                let report = try ReportWire.parse(try Self.inflate(data, inflater))
                if let violation = ReportWire.claimViolation(report, host: host) { throw ReportWireError(violation) }
                return .success(merger.full(host, revision: revision, report: report))
            case .delta(let base, let revision, let data):
                let delta = try ReportDelta.parse(try Self.inflate(data, inflater))
                if let violation = ReportWire.claimViolation(delta.upserts, host: host) { throw ReportWireError(violation) }
                return .success(merger.delta(host, base: base, revision: revision, delta))
            }
        } catch {
            return .failure(error)
        }
    }

    private static func inflate(_ data: String, _ inflater: ZlibStream?) throws(ReportWireError) -> [UInt8] {
        guard let bytes = Base64.decode(data) else { throw ReportWireError("data is not base64") }
        guard let json = inflater?.process(bytes, limit: ReportWire.maxInflatedBytes) else {
            throw ReportWireError("not a zlib stream, or larger than \(ReportWire.maxInflatedBytes) bytes")
        }
        return json
    }
}
