import ArgumentParser
import Glibc
import PeriscopeClient
import PeriscopeProtocol

/// `periscope logs NODE [-f]`: a container's output through the daemon's `logs` pipe.
struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a container's logs (stdout and stderr) through the daemon.",
        discussion: "The daemon must run with --controls (or --controls=logs)."
    )

    @OptionGroup var target: ContainerTarget

    @Flag(name: .shortAndLong, help: "Keep printing new lines until interrupted.")
    var follow = false

    @Option(help: "Lines from the end to start with (-1: all).")
    var tail: Int = 100

    func run() throws {
        let (client, id) = try target.resolve()
        let args = ControlArgs.Logs(tail: tail, follow: follow).args
        let pipe = try PipeStream.open(client, node: id, control: "logs", args: args)
        let code = try PipeStream(client: client, pipe: pipe).pump(stdinForward: false, tty: false)
        if code != 0 { throw ExitCode(code) }
    }
}

/// `periscope exec NODE [-it] -- CMD…`: a command in a container through the daemon's `exec` pipe.
struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command in a container through the daemon (exit status passed on).",
        discussion: """
            Example: periscope exec -it ux-db1 -- sh. The daemon must run with --controls (or --controls=exec). \\
            The command always runs on a terminal in the container; -t also puts this terminal in raw mode and \\
            passes its size, -i forwards standard input.
            """
    )

    @OptionGroup var target: ContainerTarget

    @Flag(name: .shortAndLong, help: "Forward standard input to the command.")
    var interactive = false

    @Flag(name: .shortAndLong, help: "Raw terminal: keys (Ctrl-C too) go to the command; the size follows this window.")
    var tty = false

    @Argument(parsing: .postTerminator, help: "The command and its arguments (default: /bin/sh).")
    var command: [String] = []

    func run() throws {
        let (client, id) = try target.resolve()
        let useTTY = tty && isatty(STDIN_FILENO) != 0
        let size = useTTY ? PipeStream.windowSize() : nil
        let args = ControlArgs.Exec(command: command.isEmpty ? ["/bin/sh"] : command,
                                    rows: size.map { Int($0.rows) }, cols: size.map { Int($0.cols) }).args
        let pipe = try PipeStream.open(client, node: id, control: "exec", args: args)
        let code = try PipeStream(client: client, pipe: pipe).pump(stdinForward: interactive || useTTY, tty: useTTY)
        if code != 0 { throw ExitCode(code) }
    }
}

/// Copies one pipe's `pipe/data` to stdout (and stdin to `pipe/write`) until it ends. Caller's thread.
struct PipeStream {
    let client: RPCClient
    let pipe: String

    /// Opens a `logs` or `exec` pipe; its id.
    static func open(_ client: RPCClient, node: String, control: String, args: [String: JSONValue]) throws -> String {
        let result = try reportingErrors {
            try client.call(ControlInvokeRequest.self, .init(node: node, control: control, args: args))
        }
        guard case .pipe(let id) = result else {
            printError("periscope: \(control) did not open a pipe")
            throw ExitCode(1)
        }
        return id
    }

    static func windowSize() -> (rows: UInt16, cols: UInt16)? {
        var size = winsize()
        guard ioctl(STDIN_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_row > 0, size.ws_col > 0 else { return nil }
        return (size.ws_row, size.ws_col)
    }

    /// Runs until the pipe's end; the exit code to pass on (the command's, or 1 when the engine reports an error).
    func pump(stdinForward: Bool, tty: Bool) throws -> Int32 {
        var saved = termios()
        if tty {
            tcgetattr(STDIN_FILENO, &saved)
            var raw = saved
            cfmakeraw(&raw)
            tcsetattr(STDIN_FILENO, TCSANOW, &raw)
        }
        defer { if tty { tcsetattr(STDIN_FILENO, TCSANOW, &saved) } }
        var size = tty ? Self.windowSize() : nil
        var reading = stdinForward
        while true {
            while let note = try reportingErrors({ try client.nextNotification(timeoutMillis: 0) }) {
                if let code = deliver(note) { return code }
            }
            var fds = [pollfd(fd: client.fd, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: reading ? STDIN_FILENO : -1, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, 200)
            if ready < 0, errno != EINTR { throw ExitCode(74) }
            if reading, fds[1].revents & Int16(POLLIN | POLLHUP) != 0 {
                var buffer = [UInt8](repeating: 0, count: 4096)
                let n = read(STDIN_FILENO, &buffer, buffer.count)
                if n > 0 {
                    try write(Array(buffer[0..<n]))
                } else {
                    reading = false
                    if !tty { try write([4]) }  // end of input: Ctrl-D on the command's terminal
                }
            }
            if tty, let now = Self.windowSize(), now.rows != size?.rows || now.cols != size?.cols {
                size = now
                _ = try? client.call(PipeResizeRequest.self, .init(pipe: pipe, rows: Int64(now.rows), cols: Int64(now.cols)))
            }
            if fds[0].revents & Int16(POLLIN | POLLHUP) != 0,
               let note = try reportingErrors({ try client.nextNotification(timeoutMillis: 50) }),
               let code = deliver(note) {
                return code
            }
        }
    }

    private func write(_ bytes: [UInt8]) throws {
        _ = try reportingErrors { try client.call(PipeWriteRequest.self, .init(pipe: pipe, data: Base64.encode(bytes))) }
    }

    /// Writes a `pipe/data` of this pipe to stdout; the exit code once it is the last one.
    private func deliver(_ note: (method: String, params: JSONValue?)) -> Int32? {
        guard note.method == "pipe/data", let params = note.params, params["pipe"]?.stringValue == pipe else { return nil }
        if let bytes = params["data"]?.stringValue.flatMap(Base64.decode), !bytes.isEmpty {
            bytes.withUnsafeBytes { raw in
                guard let base = raw.baseAddress else { return }
                var offset = 0
                while offset < raw.count {
                    let n = Glibc.write(STDOUT_FILENO, base + offset, raw.count - offset)
                    if n <= 0 { break }
                    offset += n
                }
            }
        }
        guard params["eof"]?.boolValue == true else { return nil }
        if let error = params["error"]?.stringValue { printError("periscope: \(error)") }
        if let code = params["exitCode"]?.intValue { return Int32(clamping: code) }
        return params["error"] == nil ? 0 : 1
    }
}
