import ArgumentParser
import PeriscopeClient
import PeriscopeProtocol

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the daemon's version, endpoints, clients and health.")

    @OptionGroup var options: ClientOptions

    func run() throws {
        let client = try options.connect()
        let status = try reportingErrors { try client.call(DaemonStatusRequest.self) }
        if options.json {
            printJSON(status)
            return
        }
        print(Status.render(TerminalText.sanitized(status)))
    }

    static func render(_ status: JSONValue) -> String {
        var lines: [String] = []
        let version = status["version"]?.stringValue ?? "?"
        let proto = status["protocolVersion"]?.stringValue ?? "?"
        let pid = status["pid"]?.intValue.map(String.init) ?? "?"
        let uptime = formatDuration(status["uptimeSeconds"]?.doubleValue ?? 0)
        lines.append("periscoped \(version) (protocol \(proto)), pid \(pid), up \(uptime)")
        let endpoints = status["endpoints"]?.arrayValue?.compactMap(\.stringValue) ?? []
        lines.append("endpoints:  \(endpoints.joined(separator: ", "))")
        if let clients = status["clients"] {
            let connected = clients["connected"]?.intValue ?? 0
            let accepted = clients["accepted"]?.intValue ?? 0
            let rejected = clients["rejected"]?.intValue ?? 0
            let dropped = clients["droppedSlow"]?.intValue ?? 0
            lines.append("clients:    \(connected) connected, \(accepted) accepted, \(rejected) refused, \(dropped) dropped as too slow")
        }
        if let loop = status["loop"] {
            let backend = loop["backend"]?.stringValue ?? "?"
            let lag = loop["lagMillis"]?.doubleValue ?? 0
            let maxLag = loop["maxLagMillis"]?.doubleValue ?? 0
            let messages = loop["messages"]?.intValue ?? 0
            lines.append("loop:       libevent/\(backend), lag \(lag) ms (recent max \(maxLag) ms), \(messages) messages")
        }
        if let sources = status["collectors"]?.objectValue {
            if sources.isEmpty { lines.append("collectors: none running") }
            for name in sources.keys.sorted() {
                guard let source = sources[name] else { continue }
                let state = source["state"]?.stringValue ?? "?"
                var line = "collector:  \(name): \(state)"
                if let detail = source["summary"]?.stringValue { line += " — \(detail)" }
                if let error = source["lastError"]?.stringValue { line += " (last error: \(error))" }
                lines.append(line)
            }
        }
        return lines.joined(separator: "\n")
    }

    static func formatDuration(_ seconds: Double) -> String {
        let total = Int(seconds)
        if total < 60 { return "\(total)s" }
        if total < 3600 { return "\(total / 60)m\(total % 60)s" }
        if total < 86400 { return "\(total / 3600)h\((total % 3600) / 60)m" }
        return "\(total / 86400)d\((total % 86400) / 3600)h"
    }
}
