import Glibc
import PeriscopeSystem
import Synchronization

/// Serves stdin/stdout as if they were a socket: a socketpair whose far end two small threads pump
/// to and from the real stdin and stdout with blocking I/O. The session code then treats the stdio
/// client exactly like a socket client (same framing, same output bound), and stdin may be a pipe,
/// a terminal or a regular file.
///
/// Stray writes to fd 1 by any library are redirected to stderr, so stdout carries only protocol.
final class StdioBridge: @unchecked Sendable {
    private let outputDone = Atomic<Bool>(false)

    /// Waits until everything the daemon wrote has reached stdout (or the timeout passes).
    func waitForOutput(timeoutMillis: Int) {
        var waited = 0
        while !outputDone.load(ordering: .acquiring), waited < timeoutMillis {
            usleep(5_000)
            waited += 5
        }
    }

    /// Starts the pumps and returns the daemon-side fd of the socketpair.
    static func start() throws -> (Int32, StdioBridge) {
        let bridge = StdioBridge()
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw ServerError("socketpair: \(String(cString: strerror(errno)))")
        }
        let protocolOut = dup(STDOUT_FILENO)
        guard protocolOut >= 0 else { throw ServerError("dup(stdout): \(String(cString: strerror(errno)))") }
        _ = fcntl(protocolOut, F_SETFD, FD_CLOEXEC)
        dup2(STDERR_FILENO, STDOUT_FILENO)
        let far = fds[1]
        SystemThread.detach(name: "periscope-stdio") {
            SystemIO.pump(from: STDIN_FILENO, to: far)
            shutdown(far, Int32(SHUT_WR))
        }
        SystemThread.detach(name: "periscope-stdio") {
            SystemIO.pump(from: far, to: protocolOut)
            close(protocolOut)
            bridge.outputDone.store(true, ordering: .releasing)
        }
        return (fds[0], bridge)
    }
}

/// A setup failure of the daemon, with a message for the operator.
public struct ServerError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
