/// One change in the log: a node appeared or its stable part changed (`put`, the whole node), its volatile
/// part was sampled (`sample`), or it went away (`remove`). Ordered by `seq`; `time` is milliseconds since the
/// epoch. Bodies stay encoded (``NodeCodec``) until a report is built from them.
struct HistoryEvent: Sendable, Hashable {
    enum Op: UInt8, Sendable {
        case put = 0
        case remove = 1
        case sample = 2
    }

    var seq: Int64
    var time: Int64
    var op: Op
    var key: HistoryKey
    var body: [UInt8]

    /// A batch of events as one compressed blob (a `segments` row).
    static func encode(_ events: [HistoryEvent], level: Int32 = 6) -> [UInt8] {
        var w = ByteWriter()
        w.int(events.count)
        var seq: Int64 = 0, time: Int64 = 0
        for e in events {
            w.signed(e.seq - seq)
            w.signed(e.time - time)
            seq = e.seq
            time = e.time
            w.byte(e.op.rawValue)
            w.byte(e.key.kind)
            w.string(e.key.id)
            w.int(e.body.count)
            w.bytes += e.body
        }
        return Compression.deflate(w.bytes, level: level)
    }

    /// The events of a `segments` row.
    static func decode(_ blob: [UInt8]) throws(ByteReader.Truncated) -> [HistoryEvent] {
        var r = ByteReader(try Compression.inflate(blob))
        let count = try r.int()
        var out: [HistoryEvent] = []
        out.reserveCapacity(min(count, 1 << 20))
        var seq: Int64 = 0, time: Int64 = 0
        for _ in 0..<count {
            seq += try r.signed()
            time += try r.signed()
            guard let op = Op(rawValue: try r.byte()) else { throw ByteReader.Truncated() }
            let kind = try r.byte()
            let id = try r.string()
            let length = try r.int()
            guard length <= r.bytes.count - r.offset else { throw ByteReader.Truncated() }
            let body = Array(r.bytes[r.offset..<r.offset + length])
            r.offset += length
            out.append(HistoryEvent(seq: seq, time: time, op: op, key: HistoryKey(kind: kind, id: id), body: body))
        }
        return out
    }
}
