import ArgumentParser
import Glibc
import PeriscopeClient
import PeriscopeProtocol

/// `periscope`: the shell client. Each subcommand is one small struct.
@main
struct Periscope: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "periscope",
        abstract: "Ask the Periscope daemon what this machine is running and who talks to whom.",
        discussion: """
            Views: processes, processes-by-name, hosts, containers, containers-by-image, containers-by-hostname. \
            Nodes may be named by name, pid or a unique id prefix. --socket PATH and --json go before or after \
            the subcommand.
            """,
        version: PeriscopeVersion.daemon,
        subcommands: [Status.self, Views.self, Get.self, Node.self, Watch.self, Top.self, Dot.self, Call.self, Rpc.self, Certs.self, Ui.self]
            + [Diff.self, History.self]
            + [Logs.self, Exec.self, Stop.self, Start.self, Restart.self, Pause.self, Unpause.self]
    )

    /// Global options may come before the subcommand (`periscope --socket X status`): they are moved after it,
    /// where every subcommand's ``ClientOptions`` reads them.
    static func main() {
        main(GlobalOptions.reorder(Array(CommandLine.arguments.dropFirst())))
    }
}

/// Moves `--socket PATH`, `--socket=PATH` and `--json` given before the subcommand to just after it.
enum GlobalOptions {
    static func reorder(_ arguments: [String]) -> [String] {
        var moved: [String] = []
        var rest = arguments[...]
        while let first = rest.first, first.hasPrefix("--"), first != "--" {
            if first == "--socket", rest.count >= 2 {
                moved += rest.prefix(2)
                rest = rest.dropFirst(2)
            } else if first.hasPrefix("--socket=") || first == "--json" {
                moved.append(first)
                rest = rest.dropFirst()
            } else {
                break
            }
        }
        guard !moved.isEmpty, let command = rest.first else { return arguments }
        return [command] + moved + Array(rest.dropFirst())
    }
}

/// Options every subcommand shares.
struct ClientOptions: ParsableArguments {
    @Option(help: "Daemon socket (default: $PERISCOPE_SOCKET, else /run/periscope/periscope.sock as root).")
    var socket: String?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    /// Connects and initializes, or exits 69 with a clear message when no daemon runs.
    func connect() throws -> RPCClient {
        do {
            return try DaemonAddress.connect(socketPath: socket)
        } catch let error as ClientError {
            printError("periscope: \(error.message)")
            throw ExitCode(error.exitCode)
        }
    }
}

/// Prints one line to stderr, escaped for the terminal (messages may quote the daemon or a process).
func printError(_ text: String) {
    let bytes = Array((TerminalText.escape(text) + "\n").utf8)
    bytes.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// Prints `value` as indented JSON that is safe on a terminal (``TerminalText/jsonSafe(_:)``).
func printJSON(_ value: JSONValue) {
    print(TerminalText.jsonSafe(JSONPretty.string(value)))
}

/// Runs `body`, turning an error response into a message on stderr and exit code 1.
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as RPCError {
        printError("periscope: error \(error.code): \(error.message)")
        throw ExitCode(1)
    } catch let error as ClientError {
        printError("periscope: \(error.message)")
        throw ExitCode(error.exitCode)
    }
}

struct Call: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Call a JSON-RPC method and print its result as JSON.",
        discussion: "Example: periscope call daemon/ping '{\"delayMs\": 10}'"
    )

    @OptionGroup var options: ClientOptions

    @Argument(help: "Method name, e.g. daemon/status.")
    var method: String

    @Argument(help: "Params as a JSON object or array.")
    var params: String?

    func run() throws {
        var parsed: JSONValue?
        if let params {
            do {
                parsed = try JSONParser().parse(params)
            } catch {
                throw ValidationError("params are not valid JSON: \(error)")
            }
        }
        let client = try options.connect()
        let result = try reportingErrors { try client.call(method, parsed) }
        printJSON(result)
    }
}
