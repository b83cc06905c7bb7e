import PeriscopeProtocol
import PeriscopeServer
import PeriscopeServerTesting
import Testing

/// Protocol rules checked against an embedded daemon over in-memory streams: no socket, no process.
@Suite("Session protocol, socket-free")
struct SessionProtocolTests {
    private func request(_ id: Int64, _ method: String, _ params: JSONValue? = nil) -> JSONValue {
        Message.request(id: .number(id), method: method, params: params).json
    }

    private func errorCode(_ reply: JSONValue?) -> Int64? { reply?["error"]?["code"]?.intValue }

    /// The next message, which must be a batch reply (an array).
    private func batchReply(_ client: EmbeddedClient) throws -> [JSONValue] {
        let reply = try #require(client.next(), "a batch reply")
        guard case .array(let replies) = reply else {
            Issue.record("a batch reply is an array, got \(reply)")
            return []
        }
        return replies
    }

    @Test func lifecycleNeedsInitializeOnContentLengthButNotOnLines() throws {
        let embedded = try EmbeddedDaemon()
        let framed = embedded.connect()
        #expect(errorCode(framed.call("daemon/ping")) == Int64(ErrorCode.serverNotInitialized))
        #expect(framed.call("initialize", ["clientInfo": ["name": "unit"]], id: 2)?["result"]?["serverInfo"] != nil)
        #expect(framed.call("daemon/ping", id: 3)?["result"] == ["pong": true])
        #expect(framed.call("shutdown", id: 4)?["result"] == .null)
        #expect(errorCode(framed.call("daemon/ping", id: 5)) == Int64(ErrorCode.invalidRequest))
        let lines = embedded.connect()
        #expect(lines.call("daemon/ping", lines: true)?["result"] == ["pong": true])
    }

    @Test func batchRepliesInOneArrayAndEmptyBatchIsOneError() throws {
        let embedded = try EmbeddedDaemon()
        let client = embedded.connect()
        client.sendLine([request(1, "daemon/ping"), request(2, "no/such"), ["jsonrpc": "2.0", "method": "note"]])
        let replies = try batchReply(client)
        #expect(replies.count == 2)
        #expect(replies.contains { $0["id"] == 2 && $0["error"]?["code"] == .int(Int64(ErrorCode.methodNotFound)) })
        client.sendLine(.array([]))
        #expect(errorCode(client.next()) == Int64(ErrorCode.invalidRequest))
    }

    @Test func batchElementsTakeInFlightSlotsBeforeAnyWork() throws {
        let embedded = try EmbeddedDaemon { $0.maxPendingRequests = 3 }
        let client = embedded.connect()
        client.sendLine(.array((1...5).map { request($0, "daemon/ping") }))
        let replies = try batchReply(client)
        #expect(replies.filter { $0["result"] != nil }.count == 3)
        #expect(replies.filter { $0["error"]?["code"] == .int(Int64(ErrorCode.limitExceeded)) }.count == 2)
    }

    @Test func batchReplyIsBoundedByTheOutputLimit() throws {
        let embedded = try EmbeddedDaemon { $0.maxOutputBytes = 4096 }
        let client = embedded.connect()
        client.sendLine(.array((1...20).map { request($0, "daemon/status") }))
        let replies = try batchReply(client)
        #expect(replies.count == 20)
        let refused = replies.filter { $0["error"]?["message"]?.stringValue?.contains("batch reply larger") == true }
        #expect(!refused.isEmpty && refused.count < 20, "the first replies go through, the rest are refused")
        #expect(JSONWriter.bytes(.array(replies)).count < 4096 + 4096)
    }

    @Test func tcpAuthenticationOneGuessThenClosed() throws {
        let embedded = try EmbeddedDaemon { $0.token = "0123456789abcdef0123" }
        let client = embedded.connect(.tcp)
        client.sendLine([request(1, "auth", ["token": "wrong"]), request(2, "auth", ["token": "0123456789abcdef0123"])])
        let replies = try batchReply(client)
        #expect(replies.count == 1, "nothing after the failed guess runs")
        #expect(errorCode(replies.first) == Int64(ErrorCode.unauthorized))
        _ = client.next(timeoutMillis: 50)
        #expect(client.isClosed)
        #expect(embedded.core.counters.authFailures == 1)

        let good = embedded.connect(.tcp)
        #expect(good.call("auth", ["token": "0123456789abcdef0123"], lines: true)?["result"] == ["authenticated": true])
        #expect(good.call("daemon/ping", id: 2, lines: true)?["result"] == ["pong": true])
    }

    @Test func unauthenticatedPeerGetsSmallMessagesOneErrorAndADeadline() throws {
        let embedded = try EmbeddedDaemon {
            $0.token = "0123456789abcdef0123"
            $0.authTimeoutMillis = 100
        }
        let big = embedded.connect(.tcp)
        big.sendRaw(Array("Content-Length: 70000\r\n\r\n".utf8))
        #expect(errorCode(big.next()) == Int64(ErrorCode.invalidRequest))
        let garbage = embedded.connect(.tcp)
        garbage.sendRaw(Array("{nope\n".utf8))
        #expect(errorCode(garbage.next()) == Int64(ErrorCode.parseError))
        _ = garbage.next(timeoutMillis: 50)
        #expect(garbage.isClosed)
        let idle = embedded.connect(.tcp)
        #expect(errorCode(idle.next(timeoutMillis: 1000)) == Int64(ErrorCode.unauthorized))
        _ = idle.next(timeoutMillis: 50)
        #expect(idle.isClosed)
        #expect(embedded.core.counters.authTimeouts == 1)
        #expect(embedded.core.unauthenticatedCount == 0)
    }

    @Test func unauthenticatedBudgetNeverRefusesLocalClients() throws {
        let embedded = try EmbeddedDaemon {
            $0.token = "0123456789abcdef0123"
            $0.maxUnauthenticated = 2
        }
        let first = embedded.connect(.tcp), second = embedded.connect(.tcp)
        let third = embedded.connect(.tcp)
        #expect(third.next()?["error"]?["message"]?.stringValue?.contains("unauthenticated") == true)
        #expect(embedded.connect().call("daemon/ping", lines: true)?["result"] == ["pong": true])
        #expect(!first.isClosed && !second.isClosed)
    }

    @Test func cancelledRequestGetsMinus32800AndNoLateAnswer() throws {
        let embedded = try EmbeddedDaemon()
        let client = embedded.connect()
        client.sendLine(request(7, "daemon/ping", ["delayMs": 200]))
        client.sendLine(Message.notification(method: "$/cancelRequest", params: ["id": 7]).json)
        #expect(errorCode(client.next()) == Int64(ErrorCode.requestCancelled))
        #expect(client.next(timeoutMillis: 400) == nil, "the delayed answer is dropped")
    }

    @Test func paramsAreChecked() throws {
        let embedded = try EmbeddedDaemon()
        let client = embedded.connect()
        #expect(errorCode(client.call("daemon/ping", ["delayMs": -1], lines: true)) == Int64(ErrorCode.invalidParams))
        #expect(errorCode(client.call("daemon/ping", ["colour": 1], id: 2, lines: true)) == Int64(ErrorCode.invalidParams))
        #expect(errorCode(client.call("daemon/status", ["x": 1], id: 3, lines: true)) == Int64(ErrorCode.invalidParams))
    }

    @Test func clientThatStopsReadingIsPausedThenDroppedAsStalled() throws {
        let embedded = try EmbeddedDaemon {
            $0.pauseReadingAbove = 4096
            $0.stallMillis = 300
        }
        let client = embedded.connect()
        for n in 1...200 { client.sendLine(request(Int64(n), "daemon/status")) }
        embedded.run(millis: 20)
        #expect(!client.stream.isReading, "the daemon stops reading a client whose replies pile up")
        embedded.run(millis: 600)
        #expect(client.isClosed)
        #expect(embedded.core.counters.droppedStalled == 1)
        #expect(embedded.core.counters.droppedSlow == 0)
    }

    @Test func promptReaderGetsReplyLargerThanTheOutputLimit() throws {
        let embedded = try EmbeddedDaemon {
            $0.maxOutputBytes = 2048
            $0.slowGraceMillis = 100
        }
        let client = embedded.connect()
        client.sendLine(.array((1...30).map { request($0, "daemon/status") }))
        let replies = try batchReply(client)
        #expect(replies.count == 30)
        #expect(!client.isClosed)
        #expect(embedded.core.counters.droppedSlow == 0)
    }

    @Test func halfClosedClientIsAnsweredThenFreedWhenItHangsUp() throws {
        let embedded = try EmbeddedDaemon()
        let patient = embedded.connect()
        patient.sendLine(request(1, "daemon/ping", ["delayMs": 50]))
        patient.stream.clientShutdownWrite()
        #expect(patient.next()?["result"] == ["pong": true], "a half-closed client still gets its answers")
        _ = patient.next(timeoutMillis: 50)
        #expect(patient.isClosed)

        let gone = embedded.connect()
        gone.sendLine(request(1, "daemon/ping", ["delayMs": 30_000]))
        gone.stream.clientClose()
        embedded.run(millis: 400)
        #expect(gone.isClosed, "the slot is freed without waiting 30 s")
        #expect(embedded.core.sessions.isEmpty)
    }
}
