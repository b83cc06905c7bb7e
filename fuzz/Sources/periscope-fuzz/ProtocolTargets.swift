import PeriscopeProtocol
import PeriscopeViews

/// What a decoder produced from a stream: the messages, then whether it stopped on a framing error.
private struct FrameOutcome: Equatable {
    var messages: [[UInt8]] = []
    var failed = false
}

private func drain(_ decoder: inout FrameDecoder, into outcome: inout FrameOutcome) -> Bool {
    do {
        while let body = try decoder.next() { outcome.messages.append(body) }
        return true
    } catch {
        outcome.failed = true
        return false
    }
}

/// `frame`: byte 0 picks the read boundaries, byte 1 the mode (detected, headers, lines); the rest is the
/// stream. Invariant: the same stream read in one piece or in many gives the same messages and the same
/// verdict (the decoder is "correct whatever the read boundaries are"), and no body exceeds the limit.
func fuzzFrameDecoder(_ input: [UInt8]) {
    guard input.count >= 2 else { return }
    let modes: [FramingMode?] = [nil, .headers, .lines]
    let mode = modes[Int(input[1]) % modes.count]
    let stream = input[2...]
    let limit = 256, headerLimit = 64

    var whole = FrameDecoder(maxMessageSize: limit, maxHeaderSize: headerLimit, mode: mode)
    var one = FrameOutcome()
    whole.append(stream)
    _ = drain(&whole, into: &one)

    var split = FrameDecoder(maxMessageSize: limit, maxHeaderSize: headerLimit, mode: mode)
    var many = FrameOutcome()
    for piece in pieces(of: stream, seed: input[0]) {
        split.append(piece)
        if !drain(&split, into: &many) { break }
    }
    fuzzCheck(one == many, "one read gave \(one.messages.count) messages (failed: \(one.failed)), "
              + "many reads \(many.messages.count) (failed: \(many.failed))")
    fuzzCheck(one.messages.allSatisfy { $0.count <= limit }, "a body exceeds maxMessageSize")
}

/// `json`: any bytes. Invariant: what parses writes back to text that parses to the same text again
/// (the writer's output is a fixed point), and nothing deeper than the limit is accepted.
func fuzzJSON(_ input: [UInt8]) {
    let parser = JSONParser(maxDepth: 32)
    guard let value = try? parser.parse(input) else { return }
    let text = JSONWriter.bytes(value)
    let again: JSONValue
    do {
        again = try parser.parse(text)
    } catch {
        fuzzCheck(false, "the writer's output does not parse: \(error)")
        return
    }
    fuzzCheck(JSONWriter.bytes(again) == text, "writing is not stable")
}

/// Nodes a parsed filter is matched against: a process, a group, a pseudo node.
private let filterNodes: [NodeSummary] = [
    NodeSummary(id: "web1;4242", label: "postgres", labelMinor: "web1 (4242)", kind: .process, pseudo: false,
                rank: "postgres",
                metadata: ["pid": 4242, "ppid": 1, "name": "postgres", "command": "postgres -D /var/lib/pg",
                           "user": "postgres", "cwd": "/var/lib/pg", "executable": "/usr/lib/postgresql/bin/postgres",
                           "ports": .array([5432, 8080])],
                metrics: NodeMetrics(cpu: 12.5, memory: 3 * 1024 * 1024, connectionsIn: 3, connectionsOut: 1),
                parents: ["host": ["web1"]]),
    NodeSummary(id: "web1;nginx", label: "nginx", labelMinor: "2 processes", kind: .processGroup, pseudo: false,
                rank: "nginx", metadata: ["name": "nginx", "pids": .array([10, 11])]),
    NodeSummary(id: "pseudo:internet", label: "The Internet", labelMinor: "", kind: .internet, pseudo: true,
                rank: "internet"),
]

/// `filter`: the bytes as filter text. Invariant: no crash parsing or matching; re-parsing the expression's
/// own text gives an equal expression.
func fuzzFilter(_ input: [UInt8]) {
    let text = String(decoding: input, as: UTF8.self)
    guard let filter = try? FilterExpression.parse(text) else { return }
    for node in filterNodes { _ = filter.matches(node) }
    _ = filter.includesPeers
    let again = try? FilterExpression.parse(filter.text)
    fuzzCheck(again == filter, "re-parsing \(filter.text.debugDescription) differs")
}
