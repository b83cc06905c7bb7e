import Glibc
import PeriscopeEventLoop
import Testing

/// libevent's HTTP server as `periscope ui` uses it: plain answers, request bodies, and a streamed answer
/// (Server-Sent Events) that notices when the client goes away — over real TCP sockets, the loop run in steps.
@Suite("HTTP server on the loop (evhttp)", .serialized)
struct HTTPServerTests {
    final class Seen {
        var closed = 0
        var streams: [HTTPStream] = []
    }

    static func connect(_ port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(status == 0, "connect to the test server")
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        return fd
    }

    static func send(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// Runs the loop in short steps, reading what the server sent, until `text` appears (or 3 s pass).
    static func read(_ fd: Int32, loop: EventLoop, until text: String, into received: inout String) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65536)
        for _ in 0..<150 {
            loop.run(forMillis: 20)
            let n = Glibc.read(fd, &buffer, buffer.count)
            if n > 0 { received += String(decoding: buffer.prefix(n), as: UTF8.self) }
            if received.contains(text) { return true }
        }
        return false
    }

    @Test func answersGetAndPostAndStreamsUntilTheClientLeaves() throws {
        let loop = try EventLoop()
        let server = try HTTPServer(loop: loop, address: "127.0.0.1", port: 0, maxBodyBytes: 1024)
        #expect(server.port > 0)
        let seen = Seen()
        server.onRequest = { exchange in
            switch exchange.path {
            case "/stream":
                exchange.addHeader("Content-Type", "text/event-stream")
                guard let stream = HTTPStream(exchange: exchange) else { return }
                stream.onClose = { seen.closed += 1 }
                stream.send(Array("data: one\n\n".utf8))
                seen.streams.append(stream)
            case "/post":
                let body = String(decoding: exchange.body(), as: UTF8.self)
                exchange.reply(status: 200, body: Array("got \(body) from \(exchange.header("x-who") ?? "?")".utf8))
            default:
                exchange.reply(status: 404, body: Array("no \(exchange.path) (\(exchange.query))".utf8))
            }
        }

        var text = ""
        let plain = try Self.connect(server.port)
        Self.send(plain, "GET /nothing?a=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        #expect(Self.read(plain, loop: loop, until: "no /nothing (a=1)", into: &text), "\(text)")
        #expect(text.hasPrefix("HTTP/1.1 404 Not Found"))
        close(plain)

        text = ""
        let post = try Self.connect(server.port)
        Self.send(post, "POST /post HTTP/1.1\r\nHost: t\r\nX-Who: me\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        #expect(Self.read(post, loop: loop, until: "got hello from me", into: &text), "\(text)")
        close(post)

        text = ""
        let big = try Self.connect(server.port)
        Self.send(big, "POST /post HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n" + String(repeating: "x", count: 5000))
        #expect(Self.read(big, loop: loop, until: "413", into: &text), "a body above the limit: \(text)")
        close(big)

        text = ""
        let client = try Self.connect(server.port)
        Self.send(client, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(Self.read(client, loop: loop, until: "data: one", into: &text), "\(text)")
        #expect(text.contains("text/event-stream"))
        let stream = try #require(seen.streams.first)
        stream.send(Array("data: two\n\n".utf8))
        #expect(Self.read(client, loop: loop, until: "data: two", into: &text), "chunks arrive as they are sent")
        #expect(stream.isOpen && seen.closed == 0)

        close(client)
        for _ in 0..<100 where seen.closed == 0 { loop.run(forMillis: 20) }
        #expect(seen.closed == 1, "the stream notices that the client left")
        #expect(!stream.isOpen)
        stream.send(Array("data: three\n\n".utf8))  // dropped, no crash
        stream.end()
        seen.streams.removeAll()
        server.close()
    }
}
