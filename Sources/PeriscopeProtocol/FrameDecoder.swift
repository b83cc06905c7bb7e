/// How a connection frames its messages. Chosen per connection from the first byte the client sends.
public enum FramingMode: Sendable, Hashable {
    /// LSP base protocol: `Content-Length: N\r\n\r\n` then N bytes of UTF-8 JSON.
    case headers
    /// One JSON message per line (`\n`-terminated), for shells and scripts.
    case lines
}

/// A framing violation. Framing cannot resynchronise after one, so the connection is answered with a
/// −32700/−32600 error (id `null`) and closed.
public struct FramingError: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: Int
    public var message: String
    public var description: String { message }

    public init(code: Int = ErrorCode.parseError, message: String) {
        self.code = code
        self.message = message
    }
}

/// Incremental message splitter: a small state machine (`header` → `content(remaining)`) that is
/// correct whatever the read boundaries are and never reads across a message boundary.
///
/// Feed it bytes with ``append(_:)`` as they arrive and pull complete bodies with ``next()``.
/// The framing mode is detected from the first non-blank byte: `{` or `[` selects ``FramingMode/lines``,
/// anything else ``FramingMode/headers``. Pure value; owned by one connection.
public struct FrameDecoder: Sendable {
    public private(set) var mode: FramingMode?
    /// Largest body accepted; a session raises it once the client has authenticated.
    public var maxMessageSize: Int
    public let maxHeaderSize: Int

    private var buffer: [UInt8] = []
    private var start = 0
    private var pendingLength: Int?
    private var scanFrom = 0

    /// - Parameters:
    ///   - maxMessageSize: largest body accepted, in bytes (default 64 MiB).
    ///   - maxHeaderSize: largest header block accepted, in bytes.
    ///   - mode: a fixed mode, or `nil` to detect it from the first byte.
    public init(maxMessageSize: Int = 64 << 20, maxHeaderSize: Int = 8192, mode: FramingMode? = nil) {
        self.maxMessageSize = maxMessageSize
        self.maxHeaderSize = maxHeaderSize
        self.mode = mode
    }

    /// Bytes received but not yet returned as a message.
    public var bufferedCount: Int { buffer.count - start }

    /// Appends received bytes.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        compactIfNeeded()
        buffer.append(contentsOf: bytes)
    }

    /// Appends received bytes.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        compactIfNeeded()
        buffer.append(contentsOf: bytes)
    }

    /// The next complete message body, `nil` when more bytes are needed.
    /// - Throws: ``FramingError`` when the stream violates the framing; the connection must close.
    public mutating func next() throws(FramingError) -> [UInt8]? {
        if mode == nil {
            while start < buffer.count, isBlank(buffer[start]) { start += 1 }
            guard start < buffer.count else { return nil }
            let first = buffer[start]
            mode = (first == UInt8(ascii: "{") || first == UInt8(ascii: "[")) ? .lines : .headers
            scanFrom = start
        }
        switch mode {
        case .lines: return try nextLine()
        default: return try nextFramed()
        }
    }

    private func isBlank(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    private mutating func compactIfNeeded() {
        if start > 0, start >= buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            scanFrom -= start
            start = 0
        } else if start > 65536, start * 2 > buffer.count {
            buffer.removeSubrange(0..<start)
            scanFrom -= start
            start = 0
        }
        if scanFrom < 0 { scanFrom = 0 }
    }

    private mutating func nextLine() throws(FramingError) -> [UInt8]? {
        while true {
            if scanFrom < start { scanFrom = start }
            var newline: Int?
            var n = scanFrom
            while n < buffer.count {
                if buffer[n] == 0x0A { newline = n; break }
                n += 1
            }
            guard let end = newline else {
                scanFrom = buffer.count
                // - 1: the line may end in CR LF, and the CR is not part of the message.
                if buffer.count - start - 1 > maxMessageSize {
                    throw FramingError(code: ErrorCode.invalidRequest,
                                       message: "message larger than the limit of \(maxMessageSize) bytes")
                }
                return nil
            }
            var lineEnd = end
            if lineEnd > start, buffer[lineEnd - 1] == 0x0D { lineEnd -= 1 }
            let body = Array(buffer[start..<lineEnd])
            start = end + 1
            scanFrom = start
            if body.count > maxMessageSize {
                throw FramingError(code: ErrorCode.invalidRequest,
                                   message: "message larger than the limit of \(maxMessageSize) bytes")
            }
            if body.allSatisfy(isBlank) { continue }
            return body
        }
    }

    private mutating func nextFramed() throws(FramingError) -> [UInt8]? {
        if pendingLength == nil {
            // Tolerate blank lines between messages.
            while start < buffer.count, buffer[start] == 0x0D || buffer[start] == 0x0A { start += 1 }
            if scanFrom < start { scanFrom = start }
            // The same limit whatever the read boundaries: a complete block is measured up to its blank line;
            // an incomplete one fails only once no terminator (at most 2 bytes of it buffered) can keep it within.
            guard let headerEnd = findHeaderEnd() else {
                if buffer.count - start - 2 > maxHeaderSize {
                    throw FramingError(message: "header block larger than \(maxHeaderSize) bytes or not terminated by CRLF CRLF")
                }
                return nil
            }
            if headerEnd.headersEnd - start > maxHeaderSize {
                throw FramingError(message: "header block larger than \(maxHeaderSize) bytes")
            }
            let length = try parseHeaders(buffer[start..<headerEnd.headersEnd])
            if length > maxMessageSize {
                throw FramingError(code: ErrorCode.invalidRequest,
                                   message: "message of \(length) bytes is larger than the limit of \(maxMessageSize) bytes")
            }
            start = headerEnd.bodyStart
            scanFrom = start
            pendingLength = length
        }
        guard let length = pendingLength, buffer.count - start >= length else { return nil }
        let body = Array(buffer[start..<(start + length)])
        start += length
        scanFrom = start
        pendingLength = nil
        return body
    }

    /// Finds the blank line that ends the header block: CRLF CRLF (LF LF is tolerated).
    private mutating func findHeaderEnd() -> (headersEnd: Int, bodyStart: Int)? {
        var n = max(scanFrom, start)
        while n < buffer.count {
            if buffer[n] == 0x0A {
                if n + 1 < buffer.count, buffer[n + 1] == 0x0A { return (n, n + 2) }
                if n + 2 < buffer.count, buffer[n + 1] == 0x0D, buffer[n + 2] == 0x0A { return (n, n + 3) }
                if n + 2 >= buffer.count { break }
            }
            n += 1
        }
        scanFrom = max(start, buffer.count - 3)
        return nil
    }

    /// Parses the header block byte by byte (`\r\n` is one `Character` in Swift, so no `String` splitting).
    private func parseHeaders(_ block: ArraySlice<UInt8>) throws(FramingError) -> Int {
        guard String(validating: block, as: UTF8.self) != nil else {
            throw FramingError(message: "header block is not valid UTF-8")
        }
        var length: Int?
        var lineStart = block.startIndex
        while lineStart < block.endIndex {
            var lineEnd = block[lineStart...].firstIndex(of: 0x0A) ?? block.endIndex
            let next = lineEnd < block.endIndex ? lineEnd + 1 : lineEnd
            if lineEnd > lineStart, block[lineEnd - 1] == 0x0D { lineEnd -= 1 }
            let line = block[lineStart..<lineEnd]
            lineStart = next
            if line.isEmpty { continue }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
                throw FramingError(message: "malformed header line: \(String(decoding: line.prefix(80), as: UTF8.self))")
            }
            let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
            guard name == "content-length" else { continue }  // Content-Type and unknown headers are ignored
            let value = line[(colon + 1)...].drop { $0 == 0x20 || $0 == 0x09 }
            let digits = value.reversed().drop { $0 == 0x20 || $0 == 0x09 }.reversed()
            guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let parsed = Int(String(decoding: digits, as: UTF8.self)) else {
                throw FramingError(message: "invalid Content-Length: \(String(decoding: value.prefix(40), as: UTF8.self))")
            }
            if let length, length != parsed { throw FramingError(message: "conflicting Content-Length headers") }
            length = parsed
        }
        guard let length else { throw FramingError(message: "missing Content-Length header") }
        return length
    }
}
