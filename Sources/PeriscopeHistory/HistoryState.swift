import PeriscopeTopology

/// The recorded topology at one instant: every node's last `put` body and last volatile sample, still encoded.
/// A checkpoint stores one; replaying events onto one moves it forward. ``report()`` decodes it into the
/// ``Report`` (and reverse-DNS names) the views render, exactly as they render the live one. Pure value.
public struct HistoryState: Sendable {
    struct Record: Sendable {
        var time: Int64
        var body: [UInt8]
        var sampleTime: Int64 = 0
        var sample: [UInt8]? = nil
    }

    /// The last event folded in.
    public internal(set) var seq: Int64 = 0
    /// The instant this state stands for, milliseconds since the epoch.
    public internal(set) var time: Int64 = 0
    var records: [HistoryKey: Record] = [:]

    init() {}

    /// Number of nodes (and names) held.
    public var count: Int { records.count }

    /// Whether `key` exists in this state.
    public func contains(_ key: HistoryKey) -> Bool { records[key] != nil }

    /// Folds in one event (events must come in `seq` order).
    mutating func apply(_ e: HistoryEvent) {
        switch e.op {
        case .put: records[e.key] = Record(time: e.time, body: e.body)
        case .remove: records[e.key] = nil
        case .sample:
            records[e.key]?.sampleTime = e.time
            records[e.key]?.sample = e.body
        }
        seq = max(seq, e.seq)
        time = max(time, e.time)
    }

    /// The report and names this state stands for. Records that do not decode (a damaged log) are left out.
    public func report() -> (report: Report, names: [String: String]) {
        var byKind: [TopologyKind: [String: Node]] = [:]
        var names: [String: String] = [:]
        for (key, record) in records {
            if key.kind == HistoryKey.names {
                names[key.id] = String(decoding: record.body, as: UTF8.self)
                continue
            }
            guard let topology = key.topology, var node = try? NodeCodec.decode(key, record.body, time: record.time) else { continue }
            if let sample = record.sample { try? NodeCodec.overlay(sample, on: &node, time: record.sampleTime) }
            byKind[topology, default: [:]][key.id] = node
        }
        var report = Report()
        for (kind, nodes) in byKind { report[kind] = Topology(kind: kind, nodes: nodes) }
        return (report, names)
    }

    /// The compressed checkpoint form.
    func encoded(level: Int32 = 6) -> [UInt8] {
        var w = ByteWriter()
        w.signed(seq)
        w.signed(time)
        w.int(records.count)
        for (key, r) in records {
            w.byte(key.kind)
            w.string(key.id)
            w.signed(r.time - time)
            w.int(r.body.count)
            w.bytes += r.body
            if let sample = r.sample {
                w.int(sample.count + 1)
                w.bytes += sample
                w.signed(r.sampleTime - time)
            } else {
                w.int(0)
            }
        }
        return Compression.deflate(w.bytes, level: level)
    }

    /// A state from its checkpoint form.
    init(encoded blob: [UInt8]) throws(ByteReader.Truncated) {
        var r = ByteReader(try Compression.inflate(blob))
        seq = try r.signed()
        time = try r.signed()
        let count = try r.int()
        records.reserveCapacity(min(count, 1 << 20))
        for _ in 0..<count {
            let kind = try r.byte()
            let id = try r.string()
            let t = time + (try r.signed())
            let body = try Self.bytes(&r, try r.int())
            var record = Record(time: t, body: body)
            let sampleLength = try r.int()
            if sampleLength > 0 {
                record.sample = try Self.bytes(&r, sampleLength - 1)
                record.sampleTime = time + (try r.signed())
            }
            records[HistoryKey(kind: kind, id: id)] = record
        }
    }

    private static func bytes(_ r: inout ByteReader, _ count: Int) throws(ByteReader.Truncated) -> [UInt8] {
        guard count <= r.bytes.count - r.offset else { throw ByteReader.Truncated() }
        defer { r.offset += count }
        return Array(r.bytes[r.offset..<r.offset + count])
    }
}
