import Logging
import PeriscopeEventLoop
import PeriscopeProtocol
import PeriscopeViews

/// `periscoped --metrics ADDR:PORT`: a minimal HTTP/1.x endpoint that answers `GET /metrics` with the Prometheus
/// text exposition of the current map (``MetricsExposition``) and closes the connection. Off by default. Requests
/// are read up to their blank line (at most 8 KiB); anything else gets 404 or 400.
/// - Important: loop thread only.
final class MetricsService {
    private let core: ServerCore
    private unowned let topology: TopologyService
    private var listener: Listener?
    private var connections: [ObjectIdentifier: Connection] = [:]
    private let logger = Logger(label: "periscope.metrics")
    /// Scrapes answered (for `daemon/status` → `collectors.metrics`).
    private var scrapes = 0

    init(core: ServerCore, topology: TopologyService, address: String) throws {
        self.core = core
        self.topology = topology
        let (host, port) = try SocketAddress.splitHostPort(address)
        let (fd, bound) = try SocketAddress.listenTCP(host: host, port: port)
        listener = try Listener(loop: core.loop, fd: fd, address: "\(host):\(bound)", port: bound) { [unowned self] fd, peer in
            self.accept(fd: fd, peer: peer)
        }
        core.endpoints.append("metrics:\(host):\(bound)")
        core.health["metrics"] = { [unowned self] in
            ["state": "ok", "address": .string("\(host):\(bound)"), "scrapes": JSONValue(self.scrapes)]
        }
        logger.info("serving Prometheus metrics on http://\(host):\(bound)/metrics")
    }

    func stop() {
        listener?.close()
        listener = nil
        for c in connections.values { c.close(reason: "shutting down") }
        connections = [:]
    }

    private func accept(fd: Int32, peer: String) {
        guard let connection = try? Connection(loop: core.loop, fd: fd, peer: peer) else { return }
        let id = ObjectIdentifier(connection)
        connections[id] = connection
        var request: [UInt8] = []
        connection.onRead = { [unowned self, unowned connection] bytes in
            request.append(contentsOf: bytes)
            if let end = Self.headerEnd(request) {
                connection.setReading(false)
                self.answer(Array(request[..<end]), on: connection)
            } else if request.count > 8192 {
                connection.setReading(false)
                self.reply(connection, status: "400 Bad Request", body: "request too large\n")
            }
        }
        connection.onClose = { [unowned self] _ in self.connections[id] = nil }
        connection.onEndOfInput = { [unowned connection] in connection.close(reason: "peer closed") }
    }

    private func answer(_ head: [UInt8], on connection: Connection) {
        let line = String(decoding: head.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self).split(separator: " ")
        guard line.count >= 2, line[0] == "GET" || line[0] == "HEAD" else {
            reply(connection, status: "405 Method Not Allowed", body: "GET /metrics\n")
            return
        }
        let path = line[1].split(separator: "?", maxSplits: 1).first.map(String.init) ?? ""
        guard path == "/metrics" || path == "/" else {
            reply(connection, status: "404 Not Found", body: "GET /metrics\n")
            return
        }
        scrapes += 1
        let body = topology.report.map { MetricsExposition.render(report: $0, names: topology.names) } ?? ""
        reply(connection, status: "200 OK", body: body, type: "text/plain; version=0.0.4; charset=utf-8",
              headOnly: line[0] == "HEAD")
    }

    private func reply(_ connection: Connection, status: String, body: String, type: String = "text/plain; charset=utf-8",
                       headOnly: Bool = false) {
        let bytes = Array(body.utf8)
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(bytes.count)\r\nConnection: close\r\n\r\n"
        connection.write(Array(head.utf8) + (headOnly ? [] : bytes))
        connection.closeAfterFlush(reason: "answered")
    }

    /// The index just past the request's blank line, when it has arrived.
    static func headerEnd(_ b: [UInt8]) -> Int? {
        guard b.count >= 4 else { return nil }
        for i in 3..<b.count where b[i] == 10 && b[i - 1] == 13 && b[i - 2] == 10 && b[i - 3] == 13 { return i + 1 }
        return nil
    }
}
