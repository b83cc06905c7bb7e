import CPeriscopeTLS
import PeriscopeProtocol
import PeriscopeTopology
import PeriscopeViews

/// The report as it travels from a publisher to an aggregator: the raw report JSON (``Report/json``, what
/// `report/get` returns), zlib-compressed, base64 in the `data` member of a `report/publish` notification.
///
/// Decoding is strict and bounded: a peer cannot make the aggregator inflate more than
/// ``maxInflatedBytes``, nest deeper than the parser's limit, or name a topology that does not exist.
/// Pure; any thread.
public enum ReportWire {
    /// Largest report JSON accepted after inflating (64 MiB).
    public static let maxInflatedBytes = 64 << 20

    /// The report's JSON, zlib-compressed.
    public static func compress(_ report: Report) -> [UInt8] {
        deflate(JSONWriter.bytes(report.json))
    }

    /// zlib-compresses `json` (empty on failure).
    static func deflate(_ json: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: periscope_deflate_bound(json.count))
        let produced = json.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                periscope_deflate(input.baseAddress, input.count, out.baseAddress, out.count)
            }
        }
        guard produced >= 0 else { return [] }
        output.removeSubrange(Int(produced)...)
        return output
    }

    /// Inflates and parses a compressed report. Throws a readable reason for anything else.
    public static func decompress(_ bytes: [UInt8]) throws(ReportWireError) -> Report {
        try parse(inflate(bytes))
    }

    /// Inflates one zlib stream (a report or a delta), at most ``maxInflatedBytes``.
    static func inflate(_ bytes: [UInt8]) throws(ReportWireError) -> ArraySlice<UInt8> {
        // Grow the output buffer as needed, up to the limit: most reports are far smaller than 64 MiB.
        var capacity = min(maxInflatedBytes, max(1 << 16, bytes.count * 8))
        while true {
            var output = [UInt8](repeating: 0, count: capacity)
            let produced = bytes.withUnsafeBufferPointer { input in
                output.withUnsafeMutableBufferPointer { out in
                    periscope_inflate(input.baseAddress, input.count, out.baseAddress, out.count)
                }
            }
            if produced == -2 {
                guard capacity < maxInflatedBytes else { throw ReportWireError("report larger than \(maxInflatedBytes) bytes") }
                capacity = min(maxInflatedBytes, capacity * 4)
                continue
            }
            guard produced >= 0 else { throw ReportWireError("data is not a zlib stream") }
            return output[..<Int(produced)]
        }
    }

    /// The report's JSON, compressed on a connection's `stream` (`nil` when the stream broke).
    static func compress(_ report: Report, on stream: ZlibStream) -> [UInt8]? {
        stream.process(JSONWriter.bytes(report.json), limit: maxInflatedBytes + (maxInflatedBytes >> 4))
    }

    /// Parses report JSON (at most 16 levels deep).
    public static func parse(_ json: some Collection<UInt8>) throws(ReportWireError) -> Report {
        let value: JSONValue
        do { value = try JSONParser(maxDepth: 16).parse(json) } catch {
            throw ReportWireError("report is not JSON: \(error)")
        }
        return try report(from: value)
    }

    /// A report from its JSON form (see ``Report/json``).
    public static func report(from value: JSONValue) throws(ReportWireError) -> Report {
        guard let topologies = value["topologies"]?.objectValue else { throw ReportWireError("report without topologies") }
        var report = Report()
        for (name, topology) in topologies {
            guard let kind = TopologyKind(rawValue: name) else { throw ReportWireError("unknown topology \(name)") }
            guard let nodes = topology["nodes"]?.objectValue else { throw ReportWireError("topology \(name) without nodes") }
            for (id, nodeValue) in nodes { report.add(try node(id: id, kind: kind, nodeValue)) }
        }
        return report
    }

    private static func node(id: String, kind: TopologyKind, _ value: JSONValue) throws(ReportWireError) -> Node {
        guard case .object = value else { throw ReportWireError("node \(id) is not an object") }
        var node = Node(id: id, topology: kind)
        for (key, entry) in value["latest"]?.objectValue ?? [:] {
            guard let timestamp = entry["timestamp"]?.doubleValue, let text = entry["value"]?.stringValue else {
                throw ReportWireError("node \(id): bad latest entry \(key)")
            }
            node.set(key, text, at: timestamp)
        }
        node.restoreSidesFromText()  // typed once, here, for the views
        for (key, list) in value["sets"]?.objectValue ?? [:] {
            node.sets[key] = Set(try strings(list, id))
        }
        node.adjacency = Set(try strings(value["adjacency"] ?? .array([]), id))
        for (name, list) in value["parents"]?.objectValue ?? [:] {
            guard let parentKind = TopologyKind(rawValue: name) else { throw ReportWireError("node \(id): unknown parent kind") }
            node.parents[parentKind] = Set(try strings(list, id))
        }
        for (key, list) in value["metrics"]?.objectValue ?? [:] {
            var history = MetricHistory()
            for sample in list.arrayValue ?? [] {
                guard let t = sample["timestamp"]?.doubleValue, let v = sample["value"]?.doubleValue else {
                    throw ReportWireError("node \(id): bad metric sample")
                }
                history.append(MetricSample(timestamp: t, value: v))
            }
            node.metrics[key] = history
        }
        return node
    }

    /// The strings of a JSON list (`id` names the owner in the error).
    static func strings(_ value: JSONValue, _ id: String) throws(ReportWireError) -> [String] {
        guard let items = value.arrayValue else { throw ReportWireError("node \(id): expected a list") }
        var out: [String] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let text = item.stringValue else { throw ReportWireError("node \(id): expected strings") }
            out.append(text)
        }
        return out
    }

    /// Why a report claiming to come from `host` is not acceptable from it, or `nil`: every host node, process
    /// node and host-scoped endpoint must be that host's own (a host cannot speak for another).
    public static func claimViolation(_ report: Report, host: String) -> String? {
        for id in report.hosts.nodes.keys where id != host { return "report names host \(id)" }
        let prefix = host + ";"
        for id in report.processes.nodes.keys where !id.hasPrefix(prefix) { return "report names process \(id)" }
        for (id, node) in report.endpoints.nodes {
            if let scopeHost = EndpointID(id)?.scopeHost, scopeHost != host { return "report names endpoint \(id)" }
            // Shared (global) endpoints merge with other hosts' views: they may only gain this host's parents.
            if node.parents[.host, default: []].contains(where: { $0 != host })
                || node.parents[.process, default: []].contains(where: { !$0.hasPrefix(prefix) }) {
                return "endpoint \(id) names another host's parent"
            }
        }
        return nil
    }
}

/// A report that cannot be decoded or accepted.
public struct ReportWireError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
