/// `report/get`: the raw report behind every view, with its revision and host.
public enum ReportGetRequest: RPCMethod {
    public static let method = "report/get"
    public typealias Params = NoParams
    /// `{revision, host, report}`; the report is large and open, so it stays JSON.
    public typealias Result = JSONValue
}
