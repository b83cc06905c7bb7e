import PeriscopeProtocol
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A long-lived byte stream with the container engine: a followed log body (chunked or read-to-close, optionally
/// in Docker's multiplexed framing) or a hijacked exec connection (raw and bidirectional after `101 UPGRADED`).
///
/// Threading: ``read()`` belongs to one reader thread, ``write(_:)`` to one writer at a time; ``shutdown()`` may
/// be called from any thread and makes a blocked read or write return. The socket is closed only when the last
/// reference goes, so a concurrent shutdown never touches a reused descriptor.
public final class EngineStream: @unchecked Sendable {
    private let fd: Int32
    private var reader: HTTPReader       // reader thread only
    private let chunked: Bool
    private var demuxer: MultiplexDemuxer?  // reader thread only
    private var ended = false             // reader thread only
    private let isShut = Mutex(false)

    init(fd: Int32, reader: HTTPReader, chunked: Bool, multiplexed: Bool) {
        self.fd = fd
        self.reader = reader
        self.chunked = chunked
        self.demuxer = multiplexed ? MultiplexDemuxer() : nil
    }

    deinit { close(fd) }

    /// The next bytes from the engine (payload only: de-chunked and de-multiplexed); nil at the end of the stream
    /// or after ``shutdown()``. Blocks. Reader thread only.
    public func read() throws(EngineError) -> [UInt8]? {
        while !ended {
            let raw: [UInt8]?
            do {
                raw = chunked ? try reader.readChunk() : try reader.readSome()
            } catch {
                if isShut.withLock({ $0 }) { ended = true; return nil }
                throw error
            }
            guard let raw else {
                ended = true  // a partial frame header left at the end is dropped
                return nil
            }
            guard var demuxer else { if !raw.isEmpty { return raw }; continue }
            let payload = demuxer.feed(raw)
            self.demuxer = demuxer
            if !payload.isEmpty { return payload }
        }
        return nil
    }

    /// Sends `bytes` to the engine (an exec's stdin). Blocks until sent. One writer at a time.
    public func write(_ bytes: [UInt8]) throws(EngineError) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw EngineError("write to the engine: \(UnixHTTPClient.errnoText())")
            }
            sent += n
        }
    }

    /// Ends the stream both ways: a blocked read returns nil, a blocked write fails. Any thread; idempotent.
    public func shutdown() {
        let first = isShut.withLock { shut -> Bool in
            defer { shut = true }
            return !shut
        }
        if first { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
    }
}

/// Docker's multiplexed stream framing (logs of a container without a TTY): each frame is an 8-byte header
/// `[stream (0 stdin, 1 stdout, 2 stderr), 0, 0, 0, size (big-endian UInt32)]` and `size` payload bytes.
/// A header that does not look like one (an engine that sent raw output after all) switches to passing bytes
/// through unchanged; nothing here trusts the engine's sizes beyond what it actually sent.
struct MultiplexDemuxer {
    private var pending: [UInt8] = []
    /// Payload bytes still expected for the current frame.
    private var remaining = 0
    private(set) var raw = false

    /// Appends engine bytes; returns the payload bytes now complete.
    mutating func feed(_ bytes: [UInt8]) -> [UInt8] {
        if raw { return bytes }
        pending += bytes
        var out: [UInt8] = []
        var i = 0
        while i < pending.count {
            if remaining > 0 {
                let take = min(remaining, pending.count - i)
                out += pending[i..<(i + take)]
                remaining -= take
                i += take
                continue
            }
            guard pending.count - i >= 8 else { break }
            let b = Array(pending[i..<(i + 8)])
            guard b[0] <= 2, b[1] == 0, b[2] == 0, b[3] == 0 else {
                // Not a frame header: treat everything from here on as raw output.
                raw = true
                out += pending[i...]
                pending.removeAll()
                return out
            }
            remaining = Int(b[4]) << 24 | Int(b[5]) << 16 | Int(b[6]) << 8 | Int(b[7])
            i += 8
        }
        pending.removeSubrange(0..<i)
        return out
    }
}
