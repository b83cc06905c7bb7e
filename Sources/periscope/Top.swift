import ArgumentParser
import Glibc
import PeriscopeClient
import PeriscopeProtocol

/// `periscope top`: a live full-screen view of the busiest nodes, updating in place.
struct Top: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Live full-screen view: nodes sorted by connections or CPU, with their edges.",
        discussion: "Keys: v next view, s sort by connections/CPU, f filter, a all processes, q quit."
    )

    @OptionGroup var options: ClientOptions
    @OptionGroup var selection: ViewSelection


    func run() throws {
        let client = try options.connect()
        var screen = TopScreen(view: selection.view, filter: selection.filter, all: selection.all, hidePseudo: selection.hidePseudo)
        try screen.subscribe(client)
        let terminal = RawTerminal()
        defer { terminal.restore() }
        screen.draw()
        var lastDraw = 0.0
        var dirty = false
        while true {
            var fds = [pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: client.fd, events: Int16(POLLIN), revents: 0)]
            _ = poll(&fds, 2, dirty ? 50 : 1000)
            if fds[0].revents & Int16(POLLIN) != 0 {
                var byte: UInt8 = 0
                guard read(STDIN_FILENO, &byte, 1) == 1 else { return }
                switch byte {
                case UInt8(ascii: "q"), 3: return
                case UInt8(ascii: "v"): screen.nextView(); try screen.subscribe(client)
                case UInt8(ascii: "s"): screen.bySpeed.toggle()
                case UInt8(ascii: "a"): screen.all.toggle(); try screen.subscribe(client)
                case UInt8(ascii: "f"):
                    terminal.restore()
                    screen.filter = TopScreen.prompt("filter (empty for none): ")
                    terminal.enter()
                    try screen.subscribe(client)
                default: break
                }
                dirty = true
            }
            if fds[1].revents & Int16(POLLIN | POLLHUP) != 0 {
                while let note = try client.nextNotification(timeoutMillis: 0) {
                    if note.method == NotificationName.topologyChanged, let params = note.params { screen.apply(params) }
                    dirty = true
                }
            }
            let now = Double(time(nil))
            if dirty, now - lastDraw >= 0 {
                screen.draw()
                lastDraw = now
                dirty = false
            }
        }
    }
}

/// Puts the terminal in raw mode on the alternate screen and restores it.
final class RawTerminal {
    private var saved = termios()
    private var active = false

    init() { enter() }

    func enter() {
        guard isatty(STDIN_FILENO) != 0, !active else { return }
        tcgetattr(STDIN_FILENO, &saved)
        var raw = saved
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
        tcsetattr(STDIN_FILENO, TCSANOW, &raw)
        TopScreen.write("\u{1B}[?1049h\u{1B}[?25l")
        active = true
    }

    func restore() {
        guard active else { return }
        tcsetattr(STDIN_FILENO, TCSANOW, &saved)
        TopScreen.write("\u{1B}[?25h\u{1B}[?1049l")
        active = false
    }
}
