import ArgumentParser
import Glibc
import PeriscopeClient
import PeriscopeProtocol

/// `periscope diff VIEW --since 1h`: what appeared, disappeared or changed in a view since a past instant, from the
/// daemon's history log (`topology/diff`).
struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what changed in a view since a past instant (from the daemon's history).",
        discussion: "Example: periscope diff processes --since 1h --filter workspace:$PWD  →  + edge myservice (42) → postgres (77):5432 (new since 14:02)"
    )

    @OptionGroup var options: ClientOptions
    @OptionGroup var selection: ViewSelection

    @Option(parsing: .unconditional, help: "Start: relative (1h, -10m, 2d) or RFC 3339 (2026-01-31T14:02:00Z).")
    var since: String

    @Option(parsing: .unconditional, help: "End (default: now).")
    var until: String?

    @Flag(help: "Also list nodes and edges that only changed (metrics, labels).")
    var updates = false

    func run() throws {
        let client = try options.connect()
        let result = try reportingErrors {
            try client.call(TopologyDiffRequest.self, .init(selection.query(), from: since, to: until))
        }
        if options.json {
            printJSON(result)
            return
        }
        let lines = HistoryText.diffLines(TerminalText.sanitized(result), updates: updates)
        print(lines.isEmpty ? "no changes since \(HistoryText.clock(result["from"]?.stringValue))" : lines.joined(separator: "\n"))
    }
}

/// `periscope history NODE`: when a node existed, its peers over time and its metrics (`node/history`).
struct History: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one node's history: when it existed, its peers over time, its metrics.")

    @OptionGroup var options: ClientOptions

    @Argument(help: "Node id, as `periscope get` shows it (e.g. 'HOST;PID').")
    var id: String

    @Option(help: "View name.")
    var view = "processes"

    @Option(parsing: .unconditional, help: "Start (default: the oldest history kept): relative (1h, -10m) or RFC 3339.")
    var since: String?

    @Option(parsing: .unconditional, help: "End (default: now).")
    var until: String?

    func run() throws {
        let client = try options.connect()
        let result = try reportingErrors {
            try client.call(NodeHistoryRequest.self, .init(NodeRef(view: view, id: id), from: since, to: until))
        }
        if options.json {
            printJSON(result)
            return
        }
        print(HistoryText.render(history: TerminalText.sanitized(result)))
    }
}
