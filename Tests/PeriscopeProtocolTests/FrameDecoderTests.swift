import PeriscopeFixtures
import PeriscopeProtocol
import Testing

/// Splits `stream` into chunks in three ways and checks the decoder yields the same bodies each time
/// (the swift-nio `ByteToMessageDecoderVerifier` idea).
private func decodeAllWays(_ stream: [UInt8], maxMessageSize: Int = 1 << 20) throws -> [[UInt8]] {
    func run(_ chunks: [[UInt8]]) throws -> [[UInt8]] {
        var decoder = FrameDecoder(maxMessageSize: maxMessageSize)
        var bodies: [[UInt8]] = []
        for chunk in chunks {
            decoder.append(chunk)
            while let body = try decoder.next() { bodies.append(body) }
        }
        return bodies
    }
    let whole = try run([stream])
    let byteByByte = try run(stream.map { [$0] })
    var generator = SplitMix64(seed: 42)
    var random: [[UInt8]] = []
    var offset = 0
    while offset < stream.count {
        let size = Int.random(in: 1...17, using: &generator)
        random.append(Array(stream[offset..<min(stream.count, offset + size)]))
        offset += size
    }
    let randomChunks = try run(random)
    #expect(whole == byteByByte)
    #expect(whole == randomChunks)
    return whole
}

private func framed(_ body: String, header: String = "Content-Length") -> [UInt8] {
    Array("\(header): \(body.utf8.count)\r\n\r\n\(body)".utf8)
}

@Suite("Content-Length framing")
struct ContentLengthFramingTests {
    @Test func splitsMessagesWhateverTheReadBoundaries() throws {
        let messages = [#"{"jsonrpc":"2.0","id":1,"method":"a"}"#, #"{"x":"ünïcødé ✓"}"#, "{}"]
        let stream = messages.flatMap { framed($0) }
        let bodies = try decodeAllWays(stream)
        #expect(bodies.map { String(decoding: $0, as: UTF8.self) } == messages)
    }

    @Test func headerNamesAreCaseInsensitiveAndContentTypeIsIgnored() throws {
        let body = #"{"a":1}"#
        let stream = Array("content-LENGTH: 7\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n\(body)".utf8)
        #expect(try decodeAllWays(stream) == [Array(body.utf8)])
    }

    @Test func bodyIsNeverReadAcrossTheMessageBoundary() throws {
        var decoder = FrameDecoder()
        decoder.append(framed("{}") + Array("Content-Len".utf8))
        #expect(try decoder.next() == Array("{}".utf8))
        #expect(try decoder.next() == nil)
        decoder.append(Array("gth: 2\r\n\r\n[]".utf8))
        #expect(try decoder.next() == Array("[]".utf8))
        #expect(decoder.mode == .headers)
    }

    @Test func missingContentLengthIsAnError() {
        var decoder = FrameDecoder()
        decoder.append(Array("Content-Type: x\r\n\r\n{}".utf8))
        #expect(throws: FramingError.self) { try decoder.next() }
    }

    @Test(arguments: ["abc", "-1", "1e3", "", "99999999999999999999999"])
    func invalidContentLengthIsAnError(value: String) {
        var decoder = FrameDecoder()
        decoder.append(Array("Content-Length: \(value)\r\n\r\n{}".utf8))
        #expect(throws: FramingError.self) { try decoder.next() }
    }

    @Test func headerLineWithoutColonIsAnError() {
        var decoder = FrameDecoder()
        decoder.append(Array("Content-Length 2\r\n\r\n{}".utf8))
        #expect(throws: FramingError.self) { try decoder.next() }
    }

    @Test func oversizedMessageIsRefusedBeforeItsBodyArrives() {
        var decoder = FrameDecoder(maxMessageSize: 1024)
        decoder.append(Array("Content-Length: 1025\r\n\r\n".utf8))
        do {
            _ = try decoder.next()
            Issue.record("expected an error")
        } catch {
            #expect(error.code == ErrorCode.invalidRequest)
            #expect(error.message.contains("1024"))
        }
    }

    @Test func unterminatedHeaderBlockIsBounded() {
        var decoder = FrameDecoder(maxHeaderSize: 64)
        decoder.append(Array(repeating: UInt8(ascii: "x"), count: 100))
        #expect(throws: FramingError.self) { try decoder.next() }
    }

    /// Found by the `frame` fuzzer: a header block over the limit was refused when it arrived in pieces
    /// but accepted when it arrived in one read (fuzz/corpus/frame/regression-header-limit).
    @Test func headerLimitHoldsWhateverTheReadBoundaries() {
        let long = Array("Content\(String(repeating: "U", count: 40))-Length: 2\r\nContent-Length: 2\r\n\r\n{}".utf8)
        for chunk in [long.count, 1, 7] {
            var decoder = FrameDecoder(maxHeaderSize: 64)
            var failed = false
            var offset = 0
            while offset < long.count, !failed {
                decoder.append(long[offset..<min(long.count, offset + chunk)])
                offset += chunk
                do { while try decoder.next() != nil {} } catch { failed = true }
            }
            #expect(failed, "chunks of \(chunk)")
        }
        // A block of exactly the limit is accepted, in one read or byte by byte.
        let header = "Content-Length: 2\r\nX: "
        let exact = Array((header + String(repeating: "y", count: 64 - header.utf8.count - 1) + "\r\n\r\n{}").utf8)
        for chunk in [exact.count, 1] {
            var decoder = FrameDecoder(maxHeaderSize: 64)
            var bodies: [[UInt8]] = []
            var offset = 0
            while offset < exact.count {
                decoder.append(exact[offset..<min(exact.count, offset + chunk)])
                offset += chunk
                while let body = try? decoder.next() { bodies.append(body) }
            }
            #expect(bodies == [Array("{}".utf8)], "chunks of \(chunk)")
        }
    }

    @Test func invalidUTF8InHeadersIsAnError() {
        var decoder = FrameDecoder()
        decoder.append([0x43, 0xFF, 0xFE] + Array(": 2\r\n\r\n{}".utf8))
        #expect(throws: FramingError.self) { try decoder.next() }
    }

    @Test func conflictingContentLengthsAreAnError() {
        var decoder = FrameDecoder()
        decoder.append(Array("Content-Length: 2\r\nContent-Length: 3\r\n\r\n{} ".utf8))
        #expect(throws: FramingError.self) { try decoder.next() }
    }

    @Test func encoderAndDecoderRoundTrip() throws {
        let value: JSONValue = ["jsonrpc": "2.0", "id": 7, "result": ["ok": true, "list": [1, 2.5, "x", nil]]]
        let stream = FrameEncoder.frame(value, mode: .headers) + FrameEncoder.frame(value, mode: .headers)
        let bodies = try decodeAllWays(stream)
        #expect(bodies.count == 2)
        #expect(try bodies.map { try JSONParser().parse($0) } == [value, value])
    }
}

@Suite("Newline-delimited framing")
struct LineFramingTests {
    @Test func detectsLinesFromTheFirstByte() throws {
        let stream = Array("\n  {\"a\":1}\r\n\n[1,2]\n{\"b\":2}\n".utf8)
        let bodies = try decodeAllWays(stream)
        #expect(bodies.map { String(decoding: $0, as: UTF8.self) } == [#"{"a":1}"#, "[1,2]", #"{"b":2}"#])
    }

    @Test func modeIsDetectedOnce() throws {
        var decoder = FrameDecoder()
        decoder.append(Array("{\"a\":1}\n".utf8))
        _ = try decoder.next()
        #expect(decoder.mode == .lines)
        decoder.append(Array("Content-Length: 2\r\n".utf8))
        // In line mode a header line is just a (bad) message line, passed on for a parse error.
        #expect(try decoder.next() == Array("Content-Length: 2\r".utf8.dropLast()))
    }

    @Test func overlongLineIsRefused() {
        var decoder = FrameDecoder(maxMessageSize: 100)
        decoder.append(Array(("{" + String(repeating: " ", count: 200)).utf8))
        #expect(throws: FramingError.self) { try decoder.next() }
    }

    /// Found by the `frame` fuzzer: a CR LF line whose message is exactly the limit was refused when its CR
    /// arrived before its LF.
    @Test func lineLimitHoldsWhateverTheReadBoundaries() throws {
        let line = Array(("{" + String(repeating: " ", count: 98) + "}\r\n").utf8)
        #expect(try decodeAllWays(line, maxMessageSize: 100).map(\.count) == [100])
    }

    @Test func encoderWritesOneLinePerMessage() {
        let bytes = FrameEncoder.frame(["a": "line\nbreak"], mode: .lines)
        #expect(bytes.filter { $0 == 0x0A }.count == 1)
        #expect(bytes.last == 0x0A)
    }
}
