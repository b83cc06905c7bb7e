import PeriscopeCollectors
import PeriscopeEventLoop
import PeriscopeProtocol

/// Container discovery inside the host map: the pipeline lists containers every pass (inspects cached, refreshed
/// on events); an engine event that changes a container's state starts a pass at once, so subscribers see it
/// without waiting for the refresh timer.
extension TopologyService {
    /// Creates the container collector and registers the `containers` health entry. Called from `init`.
    func setUpContainers() {
        pipeline.containers = ContainerCollector(socketOverride: core.configuration.dockerSocket)
        core.health["containers"] = { [unowned self] in self.containersHealthJSON() }
    }

    /// The container collector, when discovery is on.
    public var containerCollector: ContainerCollector? { pipeline.containers }

    /// Follows engine events; each state change (and each reconnection) requests a pass. Called from `start()`.
    func startContainerEvents() {
        guard let containers = pipeline.containers else { return }
        let bound = LoopBound(self, loop: core.loop)
        let loop = core.loop
        containers.startEvents { _ in
            loop.execute { bound.value.requestPass() }
        }
    }

    func containersHealthJSON() -> JSONValue {
        guard let containers = pipeline.containers else { return ["state": "disabled"] }
        let h = containers.health
        var members: [String: JSONValue] = [
            "state": .string(h.state),
            "socket": .string(h.socketPath),
            "socketSource": .string(h.socketSource),
            "containersSeen": JSONValue(h.containersSeen),
            "containersRunning": JSONValue(h.containersRunning),
            "eventsSeen": JSONValue(h.eventsSeen),
            "eventsConnected": .bool(h.eventsConnected),
            "listings": JSONValue(h.listings),
            "inspects": JSONValue(h.inspects),
        ]
        if let error = h.lastError { members["lastError"] = .string(error) }
        if let retry = h.retryInSeconds { members["retryInSeconds"] = .double(retry) }
        let summary: String
        switch h.state {
        case "ok": summary = "engine \(h.socketPath): \(h.containersRunning) running of \(h.containersSeen) containers, "
            + "\(h.eventsSeen) events" + (h.eventsConnected ? "" : " (events stream reconnecting)")
        case "unavailable": summary = "no container engine at \(h.socketPath) (\(h.lastError ?? "unknown error")); "
            + "container views are empty; retrying"
        default: summary = "connecting to \(h.socketPath)"
        }
        members["summary"] = .string(summary)
        return .object(members)
    }
}
