import ArgumentParser
import Glibc
import PeriscopeClient
import PeriscopeProtocol

/// `periscope top`: a live full-screen view of the busiest nodes, updating in place.
struct Top: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Live full-screen view: nodes sorted by connections or CPU, with their edges.",
        discussion: """
            Keys: v next view (all six), s sort by connections/CPU, f filter, a all processes, ↑/↓ or j/k select a \
            row, Enter open/close its details pane (cpu/memory sparklines, connections), q quit.
            """
    )

    @OptionGroup var options: ClientOptions
    @OptionGroup var selection: ViewSelection


    func run() throws {
        let client = try options.connect()
        var screen = TopScreen(view: selection.view, filter: selection.filter, all: selection.all, hidePseudo: selection.hidePseudo)
        try screen.subscribe(client)
        screen.engineNote = Get.missingEngine(client)
        let terminal = RawTerminal()
        defer { terminal.restore() }
        screen.draw()
        var lastDraw = 0.0
        var lastDetails = 0.0
        var dirty = false
        while true {
            var fds = [pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: client.fd, events: Int16(POLLIN), revents: 0)]
            _ = poll(&fds, 2, dirty ? 50 : 1000)
            if fds[0].revents & Int16(POLLIN) != 0 {
                var keys = [UInt8](repeating: 0, count: 16)
                let count = read(STDIN_FILENO, &keys, keys.count)
                guard count > 0 else { return }
                var byte = keys[0]
                if count >= 3, keys[0] == 0x1B, keys[1] == UInt8(ascii: "[") {  // arrow keys: ESC [ A / B
                    byte = keys[2] == UInt8(ascii: "A") ? UInt8(ascii: "k") : keys[2] == UInt8(ascii: "B") ? UInt8(ascii: "j") : 0
                }
                switch byte {
                case UInt8(ascii: "q"), 3: return
                case UInt8(ascii: "j"): screen.move(1); screen.refreshDetails(client)
                case UInt8(ascii: "k"): screen.move(-1); screen.refreshDetails(client)
                case 13, 10:
                    if screen.selected == nil { screen.move(1) }
                    screen.showDetails.toggle()
                    screen.refreshDetails(client)
                case 0x1B: screen.showDetails = false
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
                while let next = try client.nextTopologyChange(timeoutMillis: 0) {
                    screen.apply(next.typed)
                    dirty = true
                }
            }
            let now = Double(time(nil))
            if dirty, now - lastDraw >= 0 {
                if screen.showDetails, now - lastDetails >= 1 {
                    screen.refreshDetails(client)
                    lastDetails = now
                }
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
