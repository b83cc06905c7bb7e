#if canImport(Glibc)
import Glibc
#endif

/// Blocking byte copies between file descriptors (stdio bridges). Stateless; any thread, but each call
/// blocks until its source ends, so run it on a thread of its own (``SystemThread``).
public enum SystemIO {
    /// Copies everything `source` yields to `destination` until end of file or an error on either side
    /// (EINTR is retried). Returns when the copy ends; closes nothing.
    public static func pump(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return }
            var offset = 0
            while offset < count {
                let written = buffer.withUnsafeBytes { bytes in
                    write(destination, bytes.baseAddress.map { $0 + offset }, count - offset)
                }
                if written < 0, errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }
}
