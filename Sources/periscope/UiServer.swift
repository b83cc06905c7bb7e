import Glibc
import PeriscopeEventLoop
import PeriscopeProtocol

/// `periscope ui`'s HTTP side: who may come in (``UiAuth``), the page's files (``UiAssets``), and one
/// ``UiChannel`` per open page.
///
/// Routes: `GET /?token=T` spends the printed token for a session cookie and redirects to `/`; with the cookie,
/// `GET /` and `GET /NAME.js|css|…` serve the assets, `GET /events` opens a channel (an event stream whose first
/// event, `hello`, names it), `POST /rpc` (`{"channel", "method", "params"}`) forwards one request on it. Without
/// the cookie every route is 403. Requests must name this server in `Host` (a page of another site resolving its
/// own name to 127.0.0.1 gets 403), and a POST must be `application/json` from this origin (`Origin`, when sent).
///
/// - Important: loop thread only.
final class UiServer {
    private let loop: EventLoop
    private let http: HTTPServer
    private let auth = UiAuth()
    private let assets: UiAssets
    private let socketPath: String
    /// The `Host` values accepted; nil (any) when listening on every address, where the cookie alone guards.
    private let allowedHosts: Set<String>?
    private var channels: [String: UiChannel] = [:]
    private var nextChannel = 1
    private var timer: LoopTimer?
    private var ticks = 0
    /// The address the server is bound to, e.g. `127.0.0.1:4040`.
    let authority: String

    init(loop: EventLoop, host: String, port: Int, assets: UiAssets, socketPath: String) throws {
        self.loop = loop
        self.assets = assets
        self.socketPath = socketPath
        http = try HTTPServer(loop: loop, address: host, port: port, maxBodyBytes: 1 << 20)
        let shown = host.contains(":") ? "[\(host)]" : host
        authority = "\(shown):\(http.port)"
        var hosts: Set<String> = [authority, "localhost:\(http.port)"]
        if host == "127.0.0.1" || host == "::1" { hosts.insert("127.0.0.1:\(http.port)"); hosts.insert("[::1]:\(http.port)") }
        allowedHosts = host == "0.0.0.0" || host == "::" ? nil : hosts
        http.onRequest = { [unowned self] exchange in self.handle(exchange) }
        let timer = LoopTimer(loop: loop) { [unowned self] in self.tick() }
        timer.scheduleRepeating(everyMillis: 100)
        self.timer = timer
    }

    /// The URL to print: it carries the one-time token.
    var url: String { "http://\(authority)/?token=\(auth.token ?? "")" }

    /// Ends every page's channel and stops listening.
    func close() {
        timer?.cancel()
        for channel in Array(channels.values) { channel.finish(reason: "periscope ui is stopping") }
        http.close()
    }

    private func tick() {
        ticks += 1
        for channel in channels.values {
            channel.checkBackpressure()
            if ticks % 150 == 0 { channel.heartbeat() }
        }
    }

    private func handle(_ exchange: HTTPExchange) {
        exchange.addHeader("X-Content-Type-Options", "nosniff")
        exchange.addHeader("Referrer-Policy", "no-referrer")
        guard let host = exchange.header("Host")?.lowercased(), allowedHosts?.contains(host) ?? true else {
            return deny(exchange, "unexpected Host header")
        }
        if exchange.method == .get, let token = UiServer.queryValue(exchange.query, "token") {
            guard let session = auth.exchange(token: token) else {
                return deny(exchange, "this token is not valid (it works once; run `periscope ui` again for a new URL)")
            }
            exchange.addHeader("Set-Cookie", UiAuth.cookie(session))
            exchange.addHeader("Location", "/")
            return exchange.reply(status: 302, body: [])
        }
        guard let session = auth.session(cookieHeader: exchange.header("Cookie")) else {
            return deny(exchange, "open the URL that `periscope ui` printed (it carries a one-time token)")
        }
        switch (exchange.method, exchange.path) {
        case (.get, "/events"):
            openChannel(session: session, exchange: exchange)
        case (.post, "/rpc"):
            forward(session: session, host: host, exchange: exchange)
        case (.get, _), (.head, _):
            guard let file = assets.file(forPath: exchange.path) else {
                return exchange.reply(status: 404, body: Array("not found\n".utf8))
            }
            exchange.addHeader("Cache-Control", "no-store")
            exchange.addHeader("Content-Security-Policy",
                               "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
            exchange.reply(status: 200, contentType: file.contentType, body: exchange.method == .head ? [] : file.bytes)
        default:
            exchange.reply(status: 405, body: Array("method not allowed\n".utf8))
        }
    }

    private func deny(_ exchange: HTTPExchange, _ why: String) {
        exchange.reply(status: 403, body: Array("periscope ui: forbidden: \(why)\n".utf8))
    }

    private func openChannel(session: String, exchange: HTTPExchange) {
        let id = "c\(nextChannel)"
        nextChannel += 1
        guard let channel = UiChannel(id: id, session: session, exchange: exchange, loop: loop, socketPath: socketPath),
              !channel.finished else { return }
        channel.onClose = { [weak self] channel in self?.channels[channel.id] = nil }
        channels[id] = channel
    }

    private func forward(session: String, host: String, exchange: HTTPExchange) {
        let type = exchange.header("Content-Type") ?? ""
        guard type.lowercased().hasPrefix("application/json") else {
            return deny(exchange, "requests must be application/json")
        }
        if let origin = exchange.header("Origin"), origin.lowercased() != "http://\(host)" {
            return deny(exchange, "cross-origin request")
        }
        guard let request = try? JSONParser(maxDepth: 128).parse(exchange.body()),
              case .string(let channelID) = request["channel"] ?? .null,
              case .string(let method) = request["method"] ?? .null else {
            return UiServer.replyJSON(exchange, status: 400, ["error": ["code": -32600, "message": "expected {\"channel\", \"method\", \"params\"}"]])
        }
        guard UiChannel.allowedMethods.contains(method) else {
            return UiServer.replyJSON(exchange, status: 200, ["error": ["code": -32601, "message": .string("\(method) is not available through periscope ui")]])
        }
        guard let channel = channels[channelID], channel.session == session else {
            return UiServer.replyJSON(exchange, status: 409, ["error": ["code": -32099, "message": "no such channel (the page is reconnecting)"]])
        }
        let params = request["params"]
        channel.forward(method: method, params: params.flatMap { $0.isNull ? nil : $0 }, exchange: exchange)
    }

    static func replyJSON(_ exchange: HTTPExchange, status: Int, _ value: JSONValue) {
        exchange.addHeader("Cache-Control", "no-store")
        exchange.reply(status: status, contentType: "application/json", body: JSONWriter.bytes(value))
    }

    /// A query parameter's value (tokens and ids are plain hex, so no percent-decoding is needed).
    static func queryValue(_ query: String, _ name: String) -> String? {
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0] == name { return String(parts[1]) }
        }
        return nil
    }
}
