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
        (pipeline.containers?.health.source ?? SourceHealth(state: "disabled")).json
    }
}
