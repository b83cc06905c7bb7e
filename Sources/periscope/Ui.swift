import ArgumentParser
import Glibc
import PeriscopeEventLoop
import PeriscopeProtocol

/// `periscope ui`: the map in a browser. A thin client: it serves clients/web over HTTP on 127.0.0.1 and
/// bridges each page to the daemon (``UiServer``, ``UiChannel``). Prints only the URL on stdout.
struct Ui: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the live map to a browser (prints a URL with a one-time token).",
        discussion: """
            The page shows every view with a filter box, node details with sparklines, container controls and logs.
            Only the browser that opens the printed URL first gets in (a session cookie); others get 403.
            Controls work only when the daemon was started with --controls.
            """
    )

    @OptionGroup var options: ClientOptions

    @Option(help: "Address to listen on, HOST:PORT (port 0 picks a free one; 0.0.0.0 every address).")
    var listen = "127.0.0.1:4040"

    @Flag(help: "Open the URL in the desktop's browser (xdg-open).")
    var open = false

    @Option(help: "Directory with the page's files (default: clients/web of the checkout this binary was built from).")
    var assets: String?

    func run() throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("--listen must be HOST:PORT, e.g. 127.0.0.1:4040")
        }
        var host = String(listen[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard let files = UiAssets.locate(explicit: assets) else {
            printError("periscope: cannot find the page's files (clients/web/index.html); pass --assets DIR")
            throw ExitCode(74)
        }
        // Fail early, with the usual message and exit code, when no daemon is there.
        let socketPath = options.socket ?? DaemonSocket.defaultPath()
        _ = try options.connect()
        signal(SIGPIPE, SIG_IGN)

        let loop: EventLoop
        let server: UiServer
        do {
            loop = try EventLoop()
            server = try UiServer(loop: loop, host: host, port: port, assets: files, socketPath: socketPath)
        } catch {
            printError("periscope: \(error)")
            throw ExitCode(74)
        }
        var watchers: [SignalWatcher] = []
        for number in [SIGINT, SIGTERM] {
            watchers.append(try SignalWatcher(loop: loop, signal: number) { _ in
                server.close()
                loop.stop()
            })
        }
        let line = Array((server.url + "\n").utf8)
        line.withUnsafeBytes { _ = write(STDOUT_FILENO, $0.baseAddress, $0.count) }
        printError("periscope ui: serving \(files.directory) for the daemon at \(socketPath); Ctrl-C stops")
        if open { Ui.openBrowser(server.url) }
        loop.run()
        withExtendedLifetime(watchers) {}
    }

    /// Starts `xdg-open URL` in the background; a missing xdg-open is only reported.
    static func openBrowser(_ url: String) {
        var pid: pid_t = 0
        let args = ["xdg-open", url]
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for arg in argv { free(arg) } }
        if posix_spawnp(&pid, "xdg-open", nil, nil, &argv, environ) != 0 {
            printError("periscope ui: could not run xdg-open; open the URL above yourself")
        }
    }
}
