import ArgumentParser
import Glibc
import PeriscopeClient
import PeriscopeProtocol

/// Bridges stdin/stdout to the daemon's socket byte for byte, so an editor that can only spawn a
/// process (Neovim's `vim.lsp.rpc.start`) reaches the shared daemon. The editor does the framing.
struct Rpc: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bridge stdin/stdout to the daemon (for editors that spawn a language-server process)."
    )

    @Option(help: "Daemon socket (default: $PERISCOPE_SOCKET, else /run/periscope/periscope.sock as root).")
    var socket: String?

    func run() throws {
        let path = socket ?? DaemonSocket.defaultPath()
        let client: RPCClient
        do {
            client = try RPCClient(socketPath: path)
        } catch let error as ClientError {
            printError("periscope: \(error.message)")
            throw ExitCode(error.exitCode)
        }
        signal(SIGPIPE, SIG_IGN)
        let fd = client.fd
        var thread = pthread_t()
        let box = Unmanaged.passRetained(FDBox(fd)).toOpaque()
        pthread_create(&thread, nil, { context in
            guard let context else { return nil }
            let fd = Unmanaged<FDBox>.fromOpaque(context).takeRetainedValue().fd
            Rpc.pump(from: STDIN_FILENO, to: fd)
            shutdown(fd, Int32(SHUT_WR))
            return nil
        }, box)
        Rpc.pump(from: fd, to: STDOUT_FILENO)
        withExtendedLifetime(client) {}
    }

    static func pump(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return }
            var offset = 0
            while offset < count {
                let written = buffer.withUnsafeBytes { write(destination, $0.baseAddress! + offset, count - offset) }
                if written < 0, errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }
}

private final class FDBox {
    let fd: Int32
    init(_ fd: Int32) { self.fd = fd }
}
