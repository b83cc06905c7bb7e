import PeriscopeClient
import PeriscopeProtocol

extension TopologyChangedNotification {
    /// The notification with every string escaped for a terminal (``TerminalText``): ids stay consistent
    /// with the sanitized snapshot they are matched against.
    var sanitizedForTerminal: TopologyChangedNotification {
        var copy = self
        copy.subscription = TerminalText.escape(subscription)
        copy.changes.added.nodes = changes.added.nodes.map(TerminalText.sanitized)
        copy.changes.added.edges = changes.added.edges.map(TerminalText.sanitized)
        copy.changes.updated.nodes = changes.updated.nodes.map(TerminalText.sanitized)
        copy.changes.updated.edges = changes.updated.edges.map(TerminalText.sanitized)
        copy.changes.removed.nodes = changes.removed.nodes.map(TerminalText.escape)
        copy.changes.removed.edges = changes.removed.edges.map(TerminalText.escape)
        return copy
    }
}

extension RPCClient {
    /// The next `topology/changed` notification, decoded; other notifications are skipped and a malformed
    /// one is reported on stderr and skipped (`nil` on timeout, as ``RPCClient/nextNotification(timeoutMillis:)``).
    func nextTopologyChange(timeoutMillis: Int32 = -1) throws -> (typed: TopologyChangedNotification, raw: JSONValue)? {
        while let note = try nextNotification(timeoutMillis: timeoutMillis) {
            guard note.method == TopologyChangedNotification.method else { continue }
            do {
                return (try TopologyChangedNotification(params: note.params), note.params ?? .null)
            } catch {
                printError("periscope: ignored a malformed topology/changed notification: \(error.message)")
            }
        }
        return nil
    }
}
