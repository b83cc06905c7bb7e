import PeriscopeEventLoop
import PeriscopeProtocol

/// One publisher's TLS connection at the aggregator: splits its frames (LSP framing, bounded), parses each as a
/// JSON-RPC notification and hands it to the aggregator; sends the aggregator's notifications back.
///
/// The link knows its host once the first message names a host the peer's certificate vouches for; from then
/// on every message must name the same host. Any violation closes this link only.
///
/// - Important: loop thread only.
final class PublisherLink {
    let connection: Connection
    /// The host this link speaks for, once identified.
    var host: String?
    /// Whether any frame arrived (a link closed before that failed the TLS handshake or sent nothing).
    private(set) var receivedAny = false
    /// The publisher's compression stream, inflated on the merge queue in arrival order (every frame).
    let inflater = ZlibStream(deflating: false)
    /// This link's messages on the merge queue, not yet handled.
    var inFlight = 0
    private var decoder: FrameDecoder
    private let onMessage: (PublisherLink, String, JSONValue, Int) -> Void
    /// Called for a frame this link cannot accept; the owner counts it and calls ``refuse(_:)``.
    var onViolation: ((PublisherLink, String) -> Void)?

    init(connection: Connection, maxFrameBytes: Int, onMessage: @escaping (PublisherLink, String, JSONValue, Int) -> Void) {
        self.connection = connection
        self.onMessage = onMessage
        decoder = FrameDecoder(maxMessageSize: maxFrameBytes, maxHeaderSize: 1024, mode: .headers)
        connection.onRead = { [weak self] bytes in self?.received(bytes) }
    }

    /// Sends a report-port notification (``NotificationRegistry/reportPort``).
    func notify<N: RPCNotification>(_ notification: N) {
        connection.write(ArraySlice(FrameEncoder.frame(notification.message.json, mode: .headers)))
    }

    /// Tells the publisher why it is refused, then closes.
    func refuse(_ reason: String) {
        notify(ReportRefusedNotification(reason: reason))
        connection.closeAfterFlush(reason: "refused: \(reason)")
    }

    private func violation(_ reason: String) {
        if let onViolation { onViolation(self, reason) } else { refuse(reason) }
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        decoder.append(bytes)
        while connection.isOpen {
            let body: [UInt8]
            do {
                guard let next = try decoder.next() else { return }
                body = next
            } catch {
                violation("framing: \(error.message)")
                return
            }
            receivedAny = true
            let value: JSONValue
            do { value = try JSONParser(maxDepth: 8).parse(body) } catch {
                violation("not JSON: \(error)")
                return
            }
            guard value["jsonrpc"]?.stringValue == "2.0", let method = value["method"]?.stringValue,
                  let params = value["params"], params.objectValue != nil else {
                violation("expected a JSON-RPC 2.0 notification with params")
                return
            }
            onMessage(self, method, params, body.count)
        }
    }
}
