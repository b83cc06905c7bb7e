import ArgumentParser
import Glibc
import PeriscopeClient
import PeriscopeProtocol

/// `periscope watch VIEW`: subscribe and print changes as they happen — across daemon restarts too.
struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print changes to a view as they happen (one line per change, or NDJSON with --json).",
        discussion: """
            Lines: '+ process …' / '- node …' for nodes, '+ edge a → b tcp:80' for edges; --updates also prints '~' lines \
            for changed metrics. When the daemon goes away, watch says so on stderr, reconnects (backing off from 0.1 s to \
            5 s), subscribes again and prints what changed across the gap. --json: the first line is {"snapshot": …}, then \
            one topology/changed params object per line; after a reconnect, a line {"reset": true, "reason": "reconnected", \
            "snapshot": …} replaces the whole state (revisions start again with the new daemon).
            """
    )

    @OptionGroup var options: ClientOptions
    @OptionGroup var selection: ViewSelection


    @Option(help: "Coalesce changes: at most one notification per this many milliseconds.")
    var minInterval: Int = 100

    @Flag(help: "Also print nodes and edges whose metrics changed.")
    var updates = false

    @Flag(help: "Print the initial snapshot's nodes and edges as '+' lines too.")
    var initial = false

    func run() throws {
        var state = WatchState()
        state.updates = updates
        var client = try options.connect()
        let snapshot = try subscribe(client)
        if options.json {
            emitJSON(["snapshot": snapshot.json])
        } else {
            let lines = state.start(TerminalText.sanitized(snapshot.json))
            emit("# watching \(TerminalText.escape(selection.view)) from revision \(snapshot.revision): "
                + "\(state.nodeCount) nodes, \(state.edgeCount) edges")
            if initial { lines.forEach(emit) }
        }
        while true {
            do {
                try follow(client, &state)
            } catch let error as ClientError where error.kind != .untrusted {
                printError("periscope: daemon went away (\(error.message)); reconnecting…")
                let fresh: TopologySubscribeResult
                (client, fresh) = try resubscribe()
                printError("periscope: reconnected; resynchronising")
                if options.json {
                    emitJSON(["reset": true, "reason": "reconnected", "snapshot": fresh.json])
                } else {
                    emit("# reconnected at revision \(fresh.revision); changes while away follow")
                    state.resynchronise(nodes: fresh.nodes.map(TerminalText.sanitized),
                                        edges: fresh.edges.map(TerminalText.sanitized)).forEach(emit)
                }
            }
        }
    }

    /// Subscribes; an error answer ends the command (exit 1), a lost connection is thrown to retry.
    private func subscribe(_ client: RPCClient) throws -> TopologySubscribeResult {
        do {
            return try client.call(TopologySubscribeRequest.self, .init(selection.query(), minInterval: Int64(minInterval)))
        } catch let error as RPCError {
            printError("periscope: error \(error.code): \(error.message)")
            throw ExitCode(1)
        }
    }

    /// Prints changes until the connection fails.
    private func follow(_ client: RPCClient, _ state: inout WatchState) throws {
        while true {
            guard let next = try client.nextTopologyChange() else { continue }
            let change = next.typed
            if options.json {
                emitJSON(next.raw)
            } else {
                if change.reset {
                    emit("# reset at revision \(change.revision) (the daemon dropped history for this client)")
                }
                state.apply(change.sanitizedForTerminal).forEach(emit)
            }
        }
    }

    /// Connects and subscribes again, waiting 0.1 s, then twice as long each time up to 5 s. A daemon
    /// of another user, or an error answer to the subscription, ends the command.
    private func resubscribe() throws -> (RPCClient, TopologySubscribeResult) {
        var delay = 0.1
        while true {
            usleep(UInt32(delay * 1_000_000))
            delay = min(delay * 2, 5)
            let client: RPCClient
            do {
                client = try DaemonAddress.connect(socketPath: options.socket)
            } catch let error as ClientError where error.kind == .untrusted {
                printError("periscope: \(error.message)")
                throw ExitCode(error.exitCode)
            } catch {
                continue  // not listening yet, or still shutting down
            }
            do {
                return (client, try subscribe(client))
            } catch is ClientError {
                continue
            }
        }
    }

    /// Writes one line to stdout unbuffered, so `periscope watch | jq` sees each change at once.
    private func emit(_ text: String) {
        let bytes = Array((text + "\n").utf8)
        bytes.withUnsafeBytes { _ = write(STDOUT_FILENO, $0.baseAddress, $0.count) }
    }

    private func emitJSON(_ value: JSONValue) {
        emit(TerminalText.jsonSafe(JSONWriter.string(value)))
    }
}
