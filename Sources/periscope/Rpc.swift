import ArgumentParser
import Glibc
import PeriscopeClient
import PeriscopeProtocol
import PeriscopeSystem

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
        let started = SystemThread.detach(name: "periscope-rpc") {
            SystemIO.pump(from: STDIN_FILENO, to: fd)
            shutdown(fd, Int32(SHUT_WR))
        }
        guard started else {
            printError("periscope: cannot start the stdin thread")
            throw ExitCode(74)
        }
        SystemIO.pump(from: fd, to: STDOUT_FILENO)
        withExtendedLifetime(client) {}
    }
}
