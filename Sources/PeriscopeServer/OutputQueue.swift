import PeriscopeEventLoop
import PeriscopeProtocol

/// Replies waiting for one client, handed to the connection's socket buffer a slice at a time.
///
/// A large reply is never copied whole into libevent's buffer: the queue keeps the encoded pieces
/// (which share storage with cached renders) and feeds at most ``feedTarget`` bytes ahead of what the
/// kernel has taken, topping up as the client reads. So a client that reads promptly gets any size of
/// reply, and one that stops reading holds only references to data that exists anyway.
///
/// - Important: loop thread only.
final class OutputQueue {
    /// Bytes kept in the connection's buffer ahead of the kernel.
    static let feedTarget = 256 * 1024
    /// Largest slice handed over at once.
    static let sliceSize = 64 * 1024

    private var pieces: [[UInt8]] = []
    private var head = 0
    private var offset = 0
    /// Bytes queued here and not yet handed to the connection.
    private(set) var queuedBytes = 0

    var isEmpty: Bool { queuedBytes == 0 }

    func enqueue(_ message: EncodedMessage) {
        for piece in message.pieces where !piece.isEmpty {
            pieces.append(piece)
            queuedBytes += piece.count
        }
    }

    /// Moves bytes to `connection` until its buffer holds ``feedTarget`` or the queue is empty.
    func feed(_ connection: any ByteStream) {
        while queuedBytes > 0, connection.isOpen, connection.outputBufferedCount < Self.feedTarget {
            let piece = pieces[head]
            let end = min(piece.count, offset + Self.sliceSize)
            connection.write(piece[offset..<end])
            queuedBytes -= end - offset
            if end == piece.count {
                head += 1
                offset = 0
            } else {
                offset = end
            }
        }
        if head > 64 || (queuedBytes == 0 && head > 0) {
            pieces.removeFirst(head)
            head = 0
        }
    }

    /// Drops everything queued (the connection is gone).
    func clear() {
        pieces.removeAll()
        head = 0
        offset = 0
        queuedBytes = 0
    }
}
