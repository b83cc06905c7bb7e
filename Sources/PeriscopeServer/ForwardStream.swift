import PeriscopeEventLoop
import PeriscopeProtocol

/// The byte stream of a publisher's forwarded session (``ForwardedCalls``): the aggregator's forwarded calls go in
/// as newline-delimited JSON (so the session needs no `initialize`), and what the session writes — one JSON
/// message a line — is handed back whole to ``onMessage`` to travel over the report link.
///
/// Its output counts as the link's: ``outputBufferedCount`` and ``bytesDrained`` are those of the connection to
/// the aggregator plus what the aggregator's client has not read (``remoteBacklog``), so a pipe pauses its engine
/// while the link or that client is backed up, and the session's stall rules apply to the link's progress. ``ForwardedCalls`` calls ``onWritable`` while the link has room.
///
/// - Important: loop thread only.
final class ForwardStream: ByteStream {
    let peer: String
    var onRead: ((UnsafeRawBufferPointer) -> Void)?
    var onWritable: (() -> Void)?
    var onClose: ((String) -> Void)?
    var onEndOfInput: (() -> Void)?
    var lowWaterMark = 0
    private(set) var isOpen = true
    var peerCredentials: (pid: Int32, uid: UInt32)? { nil }
    var peerHasHungUp: Bool { false }
    /// Whether the session reads (it pauses while its output is backed up).
    private(set) var isReading = true
    /// Forwarded calls held while the session does not read.
    private var inbox: [[UInt8]] = []
    /// Output not yet ended by a newline.
    private var partial: [UInt8] = []
    /// Receives each message the session wrote.
    private let onMessage: (JSONValue) -> Void
    private let link: () -> (buffered: Int, drained: UInt64)

    init(peer: String, link: @escaping () -> (buffered: Int, drained: UInt64), onMessage: @escaping (JSONValue) -> Void) {
        self.peer = peer
        self.link = link
        self.onMessage = onMessage
    }

    /// Output the aggregator's client has not read (`forward/backlog`): counted as this stream's, so the
    /// session's pipes pause while that client lags.
    var remoteBacklog = 0

    var outputBufferedCount: Int { link().buffered + remoteBacklog }
    var bytesDrained: UInt64 { link().drained }

    /// Hands one forwarded call (a JSON-RPC request) to the session.
    func deliver(_ message: JSONValue) {
        guard isOpen else { return }
        var line = JSONWriter.bytes(message)
        line.append(0x0A)
        if isReading { pass(line) } else { inbox.append(line) }
    }

    private func pass(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { onRead?($0) }
    }

    func write(_ bytes: ArraySlice<UInt8>) {
        guard isOpen else { return }
        partial.append(contentsOf: bytes)
        while let newline = partial.firstIndex(of: 0x0A) {
            let line = partial[..<newline]
            defer { partial.removeSubrange(...newline) }
            if let message = try? JSONParser(maxDepth: 128).parse(line) { onMessage(message) }
        }
    }

    func setReading(_ enabled: Bool) {
        isReading = enabled
        while isReading, isOpen, !inbox.isEmpty { pass(inbox.removeFirst()) }
    }

    func closeAfterFlush(reason: String) { close(reason: reason) }

    func close(reason: String) {
        guard isOpen else { return }
        isOpen = false
        inbox.removeAll()
        reportClosed(reason)
    }
}
