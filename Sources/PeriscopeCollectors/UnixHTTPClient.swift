#if canImport(Glibc)
import Glibc
import PeriscopeSystem
#endif

/// A failure talking to the container engine.
public struct EngineError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// HTTP status, when the engine answered.
    public var status: Int?
    public init(_ message: String, status: Int? = nil) {
        self.message = message
        self.status = status
    }
    public var description: String { message }
}

/// A minimal HTTP/1.1 client over a Unix stream socket: one request per connection (`Connection: close`),
/// `Content-Length`, chunked and read-to-close bodies. Blocking; call from a worker thread.
public struct UnixHTTPClient: Sendable {
    public let socketPath: String
    /// Send/receive timeout of plain requests, seconds.
    public var timeoutSeconds: Int

    public init(socketPath: String, timeoutSeconds: Int = 10) {
        self.socketPath = socketPath
        self.timeoutSeconds = timeoutSeconds
    }

    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: [UInt8]
    }

    /// Sends `method path` and returns the whole response.
    public func request(_ method: String, _ path: String, body: [UInt8]? = nil) throws(EngineError) -> Response {
        let fd = try connect(timeout: timeoutSeconds)
        defer { close(fd) }
        try send(fd, method, path, body: body)
        var reader = HTTPReader(fd: fd)
        return try Self.readResponse(&reader, method: method)
    }

    /// Reads a whole response (head and chunked, sized or read-to-close body) to a request of `method`.
    static func readResponse(_ reader: inout HTTPReader, method: String) throws(EngineError) -> Response {
        let (status, headers) = try reader.readHead()
        var out: [UInt8] = []
        if method == "HEAD" || status == 204 || status == 304 { return Response(status: status, headers: headers, body: []) }
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            while let chunk = try reader.readChunk() { out += chunk }
        } else if let length = headers["content-length"].flatMap({ Int($0) }) {
            out = try reader.readExactly(length)
        } else {
            out = try reader.readToEnd()
        }
        return Response(status: status, headers: headers, body: out)
    }

    /// Sends a GET and calls `line` with every newline-terminated line of the (chunked or plain) body until the
    /// engine closes the stream, `line` returns false, or an error occurs. No receive timeout.
    /// `opened` and `closing` bracket the life of the connection's fd (so another thread may `shutdown` it).
    public func stream(_ path: String, headTimeout: Int = 10, opened: (Int32) -> Void = { _ in },
                       closing: (Int32) -> Void = { _ in }, head: () -> Void = {},
                       line: ([UInt8]) -> Bool) throws(EngineError) {
        let fd = try connect(timeout: headTimeout)
        defer { closing(fd); close(fd) }
        opened(fd)
        try send(fd, "GET", path, body: nil)
        var reader = HTTPReader(fd: fd)
        let (status, headers) = try reader.readHead()
        guard status == 200 else {
            let rest = (try? reader.readToEnd()) ?? []
            throw EngineError("GET \(path): HTTP \(status) \(String(decoding: rest.prefix(200), as: UTF8.self))", status: status)
        }
        Self.setTimeout(fd, 0)
        head()
        let chunked = headers["transfer-encoding"]?.lowercased().contains("chunked") == true
        var pending: [UInt8] = []
        while true {
            let data: [UInt8]
            if chunked {
                guard let chunk = try reader.readChunk() else { return }
                data = chunk
            } else {
                guard let some = try reader.readSome() else { return }
                data = some
            }
            pending += data
            while let nl = pending.firstIndex(of: 0x0A) {
                let l = Array(pending[..<nl])
                pending.removeSubrange(...nl)
                if !l.isEmpty, !line(l) { return }
            }
        }
    }

    func connect(timeout: Int) throws(EngineError) -> Int32 {
        switch SystemSocket.connectUnix(socketPath, prepare: { Self.setTimeout($0, timeout) }) {
        case .success(let fd): return fd
        case .failure(let failure): throw EngineError(failure.message)
        }
    }

    private func send(_ fd: Int32, _ method: String, _ path: String, body: [UInt8]?) throws(EngineError) {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: docker\r\nUser-Agent: periscoped\r\nConnection: close\r\n"
        if let body {
            head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n"
        } else if method == "POST" {
            head += "Content-Length: 0\r\n"
        }
        head += "\r\n"
        let bytes = Array(head.utf8) + (body ?? [])
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw EngineError("send to \(socketPath): \(Self.errnoText())")
            }
            sent += n
        }
    }

    static func setTimeout(_ fd: Int32, _ seconds: Int) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}

/// Buffered reads of an HTTP/1.1 response from a socket.
struct HTTPReader {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0

    init(fd: Int32) { self.fd = fd }

    /// A reader over bytes already received, with no socket behind them (for tests and fuzzing): the
    /// stream ends after `bytes`.
    init(bytes: [UInt8]) {
        self.fd = -1
        self.buffer = bytes
    }

    /// Reads more bytes into the buffer; false at end of stream.
    private mutating func fill() throws(EngineError) -> Bool {
        guard fd >= 0 else { return false }
        if start > 0 && start == buffer.count { buffer.removeAll(keepingCapacity: true); start = 0 }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { buffer += chunk[..<n]; return true }
            if n == 0 { return false }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { throw EngineError("the engine did not answer in time") }
            throw EngineError("recv: \(UnixHTTPClient.errnoText())")
        }
    }

    private mutating func readLine() throws(EngineError) -> String {
        while true {
            if let nl = buffer[start...].firstIndex(of: 0x0A) {
                var end = nl
                if end > start && buffer[end - 1] == 0x0D { end -= 1 }
                let line = String(decoding: buffer[start..<end], as: UTF8.self)
                start = nl + 1
                return line
            }
            guard try fill() else { throw EngineError("the engine closed the connection mid-response") }
        }
    }

    mutating func readHead() throws(EngineError) -> (Int, [String: String]) {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
            throw EngineError("not an HTTP response: \(statusLine.prefix(80))")
        }
        var headers: [String: String] = [:]
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            var value = line[line.index(after: colon)...]
            while value.first == " " { value = value.dropFirst() }
            headers[name] = String(value)
        }
        return (status, headers)
    }

    mutating func readExactly(_ count: Int) throws(EngineError) -> [UInt8] {
        // A negative Content-Length or chunk size ("-5" parses as an Int) would make an invalid range.
        guard count >= 0 else { throw EngineError("invalid body length \(count)") }
        while buffer.count - start < count {
            guard try fill() else { throw EngineError("the engine closed the connection mid-body") }
        }
        let out = Array(buffer[start..<(start + count)])
        start += count
        return out
    }

    mutating func readToEnd() throws(EngineError) -> [UInt8] {
        while try fill() {}
        let out = Array(buffer[start...])
        start = buffer.count
        return out
    }

    /// Whatever is buffered or arrives next; nil at end of stream.
    mutating func readSome() throws(EngineError) -> [UInt8]? {
        if start == buffer.count { guard try fill() else { return nil } }
        let out = Array(buffer[start...])
        start = buffer.count
        return out
    }

    /// The next chunk of a chunked body; nil after the last (zero-size) chunk.
    mutating func readChunk() throws(EngineError) -> [UInt8]? {
        let sizeLine = try readLine()
        let hex = sizeLine.split(separator: ";").first.map { $0.trimmingCharacters(" \t") } ?? ""
        guard let size = Int(hex, radix: 16) else { throw EngineError("bad chunk size '\(sizeLine.prefix(20))'") }
        if size == 0 {
            // Trailers, up to the empty line (or end of stream).
            while let line = try? readLine(), !line.isEmpty {}
            return nil
        }
        let data = try readExactly(size)
        _ = try readLine()  // CRLF after the data
        return data
    }
}

extension Substring {
    fileprivate func trimmingCharacters(_ set: String) -> String {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
