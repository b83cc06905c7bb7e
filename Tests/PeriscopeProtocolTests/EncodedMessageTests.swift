import PeriscopeProtocol
import Testing

@Suite("Encoded messages and log text")
struct EncodedMessageTests {
    private func parsed(_ message: EncodedMessage) throws -> JSONValue {
        try JSONParser(maxDepth: 16).parse(message.bytes)
    }

    @Test func responseEnvelopeWrapsAnEncodedResultWithoutCopyingIt() throws {
        let result = JSONWriter.bytes(["nodes": [1, 2, 3]])
        let message = EncodedMessage.response(id: .number(7), result: .success(result))
        #expect(try parsed(message) == Message.response(id: .number(7), result: .success(["nodes": [1, 2, 3]])).json)
        #expect(message.pieces.contains(result), "the result is one of the pieces, as encoded")
        #expect(message.count == message.bytes.count)
    }

    @Test func errorResponseWithoutIDHasNullID() throws {
        let message = EncodedMessage.error(id: nil, RPCError(code: -32700, message: "parse error"))
        #expect(try parsed(message) == Message.response(id: nil, result: .failure(RPCError(code: -32700, message: "parse error"))).json)
    }

    @Test func batchAndFramingProduceWhatAClientParses() throws {
        let a = EncodedMessage.response(id: .string("a"), result: .success(JSONWriter.bytes(true)))
        let b = EncodedMessage.error(id: .number(2), .invalidRequest("no"))
        let batch = EncodedMessage.batch([a, b])
        guard case .array(let elements) = try parsed(batch) else {
            Issue.record("a batch is an array")
            return
        }
        #expect(elements.count == 2)
        let framed = batch.framed(.headers).bytes
        var decoder = FrameDecoder()
        decoder.append(framed)
        #expect(try decoder.next() == batch.bytes)
        #expect(batch.framed(.lines).bytes == batch.bytes + [0x0A])
    }

    @Test func logTextEscapesControlsAndBounds() {
        #expect(LogText.escape("a\u{1B}]0;x\u{07}b\nc\\") == "a\\e]0;x\\u{7}b\\nc\\\\")
        #expect(LogText.escape("\u{202E}evil") == "\\u{202e}evil")
        let cut = LogText.escape(String(repeating: "y", count: 500), limit: 10)
        #expect(cut == "yyyyyyyyyy…(+490 more)")
        #expect(!LogText.escape(bytes: [0x41, 0x1B, 0xFF]).contains("\u{1B}"))
    }
}
