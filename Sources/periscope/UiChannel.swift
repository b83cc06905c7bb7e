import Glibc
import PeriscopeClient
import PeriscopeEventLoop
import PeriscopeProtocol
import PeriscopeSystem

/// One browser page's bridge to the daemon: a daemon connection of its own (so its subscriptions and pipes
/// end with the page), the daemon's notifications streamed to the page as Server-Sent Events, and the page's
/// requests (`POST /rpc`) forwarded and answered with the daemon's response, byte for byte.
///
/// Backpressure: while more than 1 MiB waits for the browser, the channel stops reading the daemon, whose own
/// rules then coalesce the page's notifications (SPEC 15.3); past 16 MiB the page is dropped (it reconnects and
/// gets a fresh snapshot).
///
/// - Important: loop thread only.
final class UiChannel {
    let id: String
    /// The cookie session that opened it: only its requests may use the channel.
    let session: String
    private let stream: HTTPStream
    private var connection: Connection?
    private var decoder = FrameDecoder(mode: .headers)
    private var pending: [Int64: HTTPExchange] = [:]
    private var nextID: Int64 = 1
    private(set) var ready = false
    private(set) var paused = false
    /// Whether the channel has ended (it may end while it starts, when the daemon cannot be reached).
    private(set) var finished = false
    private let parser = JSONParser(maxDepth: 512)
    /// Called once when the channel ends (page gone or daemon gone).
    var onClose: ((UiChannel) -> Void)?

    static let pauseBytes = 1 << 20, resumeBytes = 256 << 10, dropBytes = 16 << 20
    /// The methods a page may call: the map, details, history (time control), controls and pipes. Lifecycle stays
    /// with the bridge.
    static let allowedMethods: Set<String> = [
        "topology/views", "topology/get", "topology/subscribe", "topology/unsubscribe", "node/get", "node/subscribe",
        "topology/diff", "node/history",
        "control/invoke", "pipe/write", "pipe/resize", "pipe/close", "daemon/status", "daemon/ping",
    ]

    /// Starts the page's event stream (`exchange`, not answered yet) and connects to the daemon at `socketPath`.
    /// When the daemon cannot be reached the stream says so (`event: failure`) and ends; the page's EventSource
    /// retries. Nil when the exchange was already answered.
    init?(id: String, session: String, exchange: HTTPExchange, loop: EventLoop, socketPath: String) {
        self.id = id
        self.session = session
        exchange.addHeader("Content-Type", "text/event-stream; charset=utf-8")
        exchange.addHeader("Cache-Control", "no-store")
        guard let stream = HTTPStream(exchange: exchange) else { return nil }
        self.stream = stream
        stream.send(Array("retry: 2000\n\n".utf8))
        stream.onClose = { [weak self] in self?.finish(reason: "page closed") }
        do {
            let fd = try UiChannel.connect(socketPath)
            let connection = try Connection(loop: loop, fd: fd, peer: "unix")
            self.connection = connection
            connection.onRead = { [weak self] bytes in self?.received(bytes) }
            connection.onClose = { [weak self] reason in self?.daemonClosed(reason) }
            let initialize = Message.request(id: .number(0), method: "initialize", params: [
                "processId": .int(Int64(getpid())), "clientInfo": ["name": "periscope-ui"], "capabilities": [:],
            ])
            connection.write(ArraySlice(FrameEncoder.frame(initialize.json, mode: .headers)))
        } catch let error as ClientError {
            sendEvent("failure", ["message": .string(error.message)])
            finish(reason: error.message)
        } catch {
            sendEvent("failure", ["message": .string("\(error)")])
            finish(reason: "\(error)")
        }
    }

    private static func connect(_ path: String) throws -> Int32 {
        switch SystemSocket.connectUnix(path) {
        case .success(let fd):
            do {
                try PeerCredentials.requireTrusted(fd: fd, path: path)
            } catch {
                close(fd)
                throw error
            }
            return fd
        case .failure(let failure):
            throw ClientError(.notRunning, "no daemon is listening on \(path): \(failure.message)")
        }
    }

    /// Forwards one page request; the exchange is answered with the daemon's response.
    func forward(method: String, params: JSONValue?, exchange: HTTPExchange) {
        guard ready, let connection else {
            UiServer.replyJSON(exchange, status: 409, ["error": ["code": -32099, "message": "not connected to the daemon yet"]])
            return
        }
        let id = nextID
        nextID += 1
        pending[id] = exchange
        let message = Message.request(id: .number(id), method: method, params: params)
        connection.write(ArraySlice(FrameEncoder.frame(message.json, mode: .headers)))
    }

    /// Sends an SSE comment so that proxies and the browser keep the stream, and a dead client is noticed.
    func heartbeat() { stream.send(Array(": ping\n\n".utf8)) }

    /// Resumes reading the daemon once the browser has caught up (called by the server's timer).
    func checkBackpressure() {
        guard paused, let connection else { return }
        if stream.pendingBytes <= UiChannel.resumeBytes {
            paused = false
            connection.setReading(true)
        }
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        decoder.append(bytes)
        while connection != nil {
            let body: [UInt8]
            do {
                guard let next = try decoder.next() else { return }
                body = next
            } catch {
                connection?.close(reason: "bad framing from the daemon: \(error.message)")
                return
            }
            guard let value = try? parser.parse(body) else { continue }
            dispatch(value, body: body)
        }
    }

    private func dispatch(_ value: JSONValue, body: [UInt8]) {
        if value["method"] != nil {
            guard ready else { return }
            // One SSE `data:` line: the daemon writes compact JSON, re-written only if it held a line break.
            let line = body.contains(0x0A) || body.contains(0x0D) ? JSONWriter.bytes(value) : body
            stream.send(Array("data: ".utf8) + line + [0x0A, 0x0A])
            let queued = stream.pendingBytes
            if queued > UiChannel.dropBytes {
                finish(reason: "the page fell \(queued) bytes behind")
            } else if queued > UiChannel.pauseBytes, !paused {
                paused = true
                connection?.setReading(false)
            }
            return
        }
        guard let id = value["id"]?.intValue else { return }
        if id == 0, !ready {
            if value["error"] != nil {
                sendEvent("failure", ["message": .string("the daemon refused initialize: \(JSONWriter.string(value["error"] ?? .null))")])
                finish(reason: "initialize failed")
                return
            }
            ready = true
            connection?.write(ArraySlice(FrameEncoder.frame(Message.notification(method: "initialized", params: [:]).json, mode: .headers)))
            let result = value["result"] ?? .null
            sendEvent("hello", ["channel": .string(self.id), "serverInfo": result["serverInfo"] ?? .null,
                                "capabilities": result["capabilities"] ?? .null])
            return
        }
        guard let exchange = pending.removeValue(forKey: id) else { return }
        exchange.addHeader("Cache-Control", "no-store")
        exchange.reply(status: 200, contentType: "application/json", body: body)
    }

    private func sendEvent(_ name: String, _ data: JSONValue) {
        stream.send(Array("event: \(name)\ndata: ".utf8) + JSONWriter.bytes(data) + [0x0A, 0x0A])
    }

    private func daemonClosed(_ reason: String) {
        connection = nil
        sendEvent("failure", ["message": .string("the daemon closed the connection: \(reason)")])
        finish(reason: reason)
    }

    /// Ends the channel: the daemon connection (its subscriptions and pipes with it), the stream, and every
    /// request still waiting (502).
    func finish(reason: String) {
        finished = true
        if let connection {
            self.connection = nil
            connection.onClose = nil
            connection.close(reason: reason)
        }
        for (_, exchange) in pending {
            UiServer.replyJSON(exchange, status: 502, ["error": ["code": -32099, "message": .string("connection to the daemon ended: \(reason)")]])
        }
        pending.removeAll()
        stream.onClose = nil
        stream.end()
        let handler = onClose
        onClose = nil
        handler?(self)
    }
}
