import ArgumentParser
import PeriscopeClient
import PeriscopeProtocol

/// What every container command takes: the client options and the container (name, id prefix, or the pid of a
/// process inside it).
struct ContainerTarget: ParsableArguments {
    @OptionGroup var options: ClientOptions

    @Argument(help: "Container: a name, a unique id prefix, or the pid of a process inside it.")
    var node: String

    /// Connects and finds the container node (`container:ID`).
    func resolve() throws -> (RPCClient, String) {
        let client = try options.connect()
        let resolver = NodeResolver(client: client, view: "containers")
        if let found = try resolver.find(node) { return (client, found) }
        // A pid (or name) of a process: its container.
        if let process = try NodeResolver(client: client, view: "processes").find(node) {
            let details = try reportingErrors { try client.call(NodeGetRequest.self, NodeRef(view: "processes", id: process)) }
            if let container = details["node"]?["parents"]?["container"]?.arrayValue?.first?.stringValue { return (client, container) }
            printError("periscope: process '\(node)' is not in a container")
            throw ExitCode(1)
        }
        return (client, try resolver.resolve(node))
    }

    /// Runs `control` on the container and says so (`stopped ux-db1`).
    func invoke(_ control: String, done: String) throws {
        let (client, id) = try resolve()
        let result = try reportingErrors {
            try client.call(ControlInvokeRequest.self, .init(node: id, control: control))
        }
        if options.json {
            printJSON(result.json)
            return
        }
        print("\(done) \(TerminalText.escape(ContainerTarget.name(client, id)))")
    }

    /// The container's name, for messages (the short id when the view no longer has it).
    static func name(_ client: RPCClient, _ id: String) -> String {
        let details = try? client.call(NodeGetRequest.self, NodeRef(view: "containers", id: id))
        return details?["node"]?["label"]?.stringValue ?? TopologyText.shortID(id)
    }
}

private let controlsNote = "The daemon runs controls only when started with --controls (or --controls=LIST)."

struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop a container.", discussion: controlsNote)
    @OptionGroup var target: ContainerTarget
    func run() throws { try target.invoke("stop", done: "stopped") }
}

struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start a stopped container.", discussion: controlsNote)
    @OptionGroup var target: ContainerTarget
    func run() throws { try target.invoke("start", done: "started") }
}

struct Restart: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Restart a container.", discussion: controlsNote)
    @OptionGroup var target: ContainerTarget
    func run() throws { try target.invoke("restart", done: "restarted") }
}

struct Pause: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Pause a container.", discussion: controlsNote)
    @OptionGroup var target: ContainerTarget
    func run() throws { try target.invoke("pause", done: "paused") }
}

struct Unpause: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Unpause a paused container.", discussion: controlsNote)
    @OptionGroup var target: ContainerTarget
    func run() throws { try target.invoke("unpause", done: "unpaused") }
}
