import PeriscopeProtocol
import Testing

@Suite("JSON parser and writer")
struct JSONTests {
    let parser = JSONParser()

    @Test func parsesEveryKind() throws {
        let value = try parser.parse(#" {"n":null,"t":true,"f":false,"i":-12,"d":1.5e3,"s":"a\"b\\c\u00e9\ud83d\ude00","a":[[],{}]} "#)
        #expect(value == ["n": nil, "t": true, "f": false, "i": -12, "d": 1500.0, "s": "a\"b\\cé😀", "a": [[], [:]]])
    }

    @Test func roundTripsThroughTheWriter() throws {
        let value: JSONValue = ["s": "tab\t nl\n ctl\u{01} quote\" é", "i": .int(Int64.min), "m": .int(Int64.max), "d": 0.1, "a": [true, nil]]
        #expect(try parser.parse(JSONWriter.bytes(value)) == value)
    }

    @Test func writerSortsKeysForStableOutput() {
        #expect(JSONWriter.string(["b": 1, "a": 2, "c": ["z": 1, "y": 2]]) == #"{"a":2,"b":1,"c":{"y":2,"z":1}}"#)
    }

    @Test func hugeIntegersBecomeDoublesAndOutOfRangeNumbersAreRefused() throws {
        #expect(try parser.parse("123456789012345678901234567890") == .double(1.2345678901234568e29))
        #expect(throws: JSONParser.Error.self) { try parser.parse("1e400") }
        #expect(try parser.parse("9223372036854775807") == .int(Int64.max))
    }

    @Test func duplicateKeysAreRefused() {
        #expect(throws: JSONParser.Error.self) { try parser.parse(#"{"method":"a","method":"b"}"#) }
    }

    @Test func deepNestingIsBounded() throws {
        let ok = String(repeating: "[", count: 128) + String(repeating: "]", count: 128)
        _ = try parser.parse(ok)
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParser.Error.self) { try parser.parse(deep) }
    }

    @Test func invalidUTF8IsRefused() {
        for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xE2, 0x82, 0x22]] {
            #expect(throws: JSONParser.Error.self) { try parser.parse(bytes) }
        }
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\"}", "01", "-", "1.", "tru", "\"\\x\"", "\"\u{01}\"", "{} {}", "\"\\ud800\"", "NaN"])
    func malformedDocumentsAreRefused(text: String) {
        #expect(throws: JSONParser.Error.self) { try parser.parse(text) }
    }
}

@Suite("JSON-RPC messages")
struct MessageTests {
    func decode(_ text: String) throws -> Result<Message, Message.DecodeFailure> {
        Message.decode(try JSONParser().parse(text))
    }

    @Test func classifiesRequestsNotificationsAndResponses() throws {
        #expect(try decode(#"{"jsonrpc":"2.0","id":1,"method":"m","params":[1]}"#) == .success(.request(id: .number(1), method: "m", params: [1])))
        #expect(try decode(#"{"jsonrpc":"2.0","id":"x","method":"m"}"#) == .success(.request(id: .string("x"), method: "m", params: nil)))
        #expect(try decode(#"{"jsonrpc":"2.0","method":"n"}"#) == .success(.notification(method: "n", params: nil)))
        #expect(try decode(#"{"jsonrpc":"2.0","id":2,"result":null}"#) == .success(.response(id: .number(2), result: .success(.null))))
    }

    @Test func invalidRequestsKeepTheIdTheyCarry() throws {
        guard case .failure(let failure) = try decode(#"{"jsonrpc":"2.0","id":9,"method":5}"#) else {
            Issue.record("expected a failure")
            return
        }
        #expect(failure.id == .number(9))
        #expect(failure.error.code == ErrorCode.invalidRequest)
    }

    @Test(arguments: [
        #"{"id":1,"method":"m"}"#, #"{"jsonrpc":"1.0","id":1,"method":"m"}"#, #"{"jsonrpc":"2.0","id":1.5,"method":"m"}"#,
        #"{"jsonrpc":"2.0","id":{},"method":"m"}"#, #"{"jsonrpc":"2.0","id":1,"method":"m","params":3}"#,
        #"{"jsonrpc":"2.0","id":null,"method":"m"}"#, #"{"jsonrpc":"2.0","id":1}"#, "1", #""s""#,
    ])
    func malformedRequestsAreInvalid(text: String) throws {
        guard case .failure(let failure) = try decode(text) else {
            Issue.record("expected a failure for \(text)")
            return
        }
        #expect(failure.error.code == ErrorCode.invalidRequest)
    }

    @Test func responsesEncodeNullIdsAndVoidResults() {
        let error = Message.response(id: nil, result: .failure(RPCError(code: -32700, message: "parse error"))).json
        #expect(JSONWriter.string(error) == #"{"error":{"code":-32700,"message":"parse error"},"id":null,"jsonrpc":"2.0"}"#)
        let void = Message.response(id: .number(1), result: .success(.null)).json
        #expect(JSONWriter.string(void) == #"{"id":1,"jsonrpc":"2.0","result":null}"#)
    }
}
