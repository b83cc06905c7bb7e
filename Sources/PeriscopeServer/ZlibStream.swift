import CPeriscopeTLS

/// One direction of a connection's zlib stream (see `periscope_zstream_process`): messages are compressed
/// against the ones before them, so a report that changed a little since the last one costs little on the wire.
/// A stream that failed once is unusable; its connection must start over with new streams.
///
/// - Important: not thread-safe; used by one queue at a time (the publisher's encode queue, the aggregator's
///   loop), in message order.
final class ZlibStream: @unchecked Sendable {
    private let stream: OpaquePointer
    private(set) var failed = false

    /// A deflating (`true`) or inflating stream; `nil` when zlib cannot allocate one.
    init?(deflating: Bool) {
        guard let stream = periscope_zstream_new(deflating ? 1 : 0) else { return nil }
        self.stream = stream
    }

    deinit { periscope_zstream_free(stream) }

    /// Makes the stream unusable (its connection is being refused: nothing after the refusal is applied).
    func fail() { failed = true }

    /// Deflates or inflates one whole message; `nil` when the stream breaks or the result would exceed `limit`.
    func process(_ input: [UInt8], limit: Int) -> [UInt8]? {
        guard !failed else { return nil }
        var output: UnsafePointer<UInt8>?
        let produced = input.withUnsafeBufferPointer { buffer in
            periscope_zstream_process(stream, buffer.baseAddress, buffer.count, limit, &output)
        }
        guard produced >= 0, let output else {
            failed = true
            return nil
        }
        return Array(UnsafeBufferPointer(start: output, count: Int(produced)))
    }
}
