/// A message's JSON text held as a list of byte pieces, so a large result that was encoded once (off
/// the loop, or cached and shared by many requests) is framed and queued without being copied: the
/// pieces share the result's storage.
///
/// This is where the JSON-RPC response envelope is written: `{"id":…,"jsonrpc":"2.0","result":…}` or
/// `…"error":…}`. Pure value; any thread.
public struct EncodedMessage: Sendable {
    /// The pieces, in order.
    public private(set) var pieces: [[UInt8]] = []
    /// Total bytes over all pieces.
    public private(set) var count = 0

    public init() {}

    /// One message from a JSON value.
    public init(_ value: JSONValue) {
        append(JSONWriter.bytes(value))
    }

    /// Appends a piece (shares its storage).
    public mutating func append(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        pieces.append(bytes)
        count += bytes.count
    }

    /// Appends every piece of `other`.
    public mutating func append(_ other: EncodedMessage) {
        pieces.append(contentsOf: other.pieces)
        count += other.count
    }

    /// A response to request `id` (null when it could not be recovered): `result` is the result's JSON
    /// text, or the error to send.
    public static func response(id: RequestID?, result: Result<[UInt8], RPCError>) -> EncodedMessage {
        var head: [UInt8] = Array(#"{"id":"#.utf8)
        JSONWriter.write(id?.json ?? .null, into: &head)
        var message = EncodedMessage()
        switch result {
        case .success(let text):
            head.append(contentsOf: #","jsonrpc":"2.0","result":"#.utf8)
            message.append(head)
            message.append(text.isEmpty ? Array("null".utf8) : text)
        case .failure(let error):
            head.append(contentsOf: #","jsonrpc":"2.0","error":"#.utf8)
            JSONWriter.write(error.json, into: &head)
            message.append(head)
        }
        message.append([UInt8(ascii: "}")])
        return message
    }

    /// An error response.
    public static func error(id: RequestID?, _ error: RPCError) -> EncodedMessage {
        response(id: id, result: .failure(error))
    }

    /// A batch reply: the elements as one JSON array.
    public static func batch(_ elements: [EncodedMessage]) -> EncodedMessage {
        var message = EncodedMessage()
        message.append([UInt8(ascii: "[")])
        for (n, element) in elements.enumerated() {
            if n > 0 { message.append([UInt8(ascii: ",")]) }
            message.append(element)
        }
        message.append([UInt8(ascii: "]")])
        return message
    }

    /// The message framed for `mode`: a `Content-Length` header before it, or a newline after it.
    public func framed(_ mode: FramingMode) -> EncodedMessage {
        var framed = EncodedMessage()
        switch mode {
        case .headers:
            var header = Array("Content-Length: ".utf8)
            JSONWriter.appendInteger(Int64(count), into: &header)
            header.append(contentsOf: [0x0D, 0x0A, 0x0D, 0x0A])
            framed.append(header)
            framed.append(self)
        case .lines:
            framed.append(self)
            framed.append([0x0A])
        }
        return framed
    }

    /// All pieces joined (tests, small messages).
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        for piece in pieces { out.append(contentsOf: piece) }
        return out
    }
}
