import PeriscopeProtocol
import PeriscopeServerTesting
import Testing
@testable import PeriscopeServer

/// A publisher's forwarded session (SPEC §17.6) over its ``ForwardStream``, socket-free: calls go in as lines,
/// every message the session writes comes back whole, a paused session holds calls, and the daemon's own
/// rules (here: controls off) answer forwarded calls as they answer local ones.
@Suite struct ForwardStreamTests {
    final class Outbox {
        var messages: [JSONValue] = []
    }

    private func forwarded(_ embedded: EmbeddedDaemon, buffered: Int = 0) -> (ForwardStream, Outbox) {
        let outbox = Outbox()
        let stream = ForwardStream(peer: "aggregator test", link: { (buffered, 0) }) { outbox.messages.append($0) }
        #expect(embedded.core.accept(stream, transport: .forwarded) != nil)
        return (stream, outbox)
    }

    private func request(_ id: Int64, _ method: String, _ params: JSONValue) -> JSONValue {
        Message.request(id: .number(id), method: method, params: params).json
    }

    @Test func callsRunWithoutInitializeAndAnswersComeBackWhole() throws {
        let embedded = try EmbeddedDaemon()
        let (stream, outbox) = forwarded(embedded)
        stream.deliver(request(7, "daemon/ping", [:]))
        stream.deliver(request(8, ControlInvokeRequest.method, ["node": "h1;42", "control": "signal"]))
        embedded.run(millis: 50)
        #expect(outbox.messages.count == 2)
        #expect(outbox.messages.first { $0["id"] == .int(7) }?["result"] == ["pong": true])
        let refused = try #require(outbox.messages.first { $0["id"] == .int(8) })
        #expect(refused["error"]?["code"] == .int(Int64(ErrorCode.controlDisabled)))
    }

    @Test func aPausedSessionHoldsCallsUntilItReadsAgain() throws {
        let embedded = try EmbeddedDaemon()
        let (stream, outbox) = forwarded(embedded)
        stream.setReading(false)
        stream.deliver(request(1, "daemon/ping", [:]))
        embedded.run(millis: 20)
        #expect(outbox.messages.isEmpty)
        stream.setReading(true)
        embedded.run(millis: 20)
        #expect(outbox.messages.count == 1 && outbox.messages[0]["id"] == .int(1))
        stream.close(reason: "test")
        stream.deliver(request(2, "daemon/ping", [:]))
        embedded.run(millis: 20)
        #expect(outbox.messages.count == 1, "nothing runs after the stream closed")
    }
}
