import PeriscopeCollectors
import PeriscopeProtocol

/// The L7 programs inside the host map (issue 14): loaded with the collectors when `--l7` is given; every full pass
/// reads their map and annotates the report; `daemon/status` → `collectors.l7` says whether they run and why not.
extension TopologyService {
    /// Loads the programs (when enabled) and registers the `l7` health entry. Called from `init`.
    func setUpL7() {
        if core.configuration.l7Enabled { pipeline.l7 = L7Tracer() }
        core.health["l7"] = { [unowned self] in
            (self.pipeline.l7?.health ?? SourceHealth(state: "disabled", summary: "l7: off (start periscoped with --l7)",
                                                       figures: ["loaded": false])).json
        }
    }

    /// The L7 tracer, when enabled (its kernel run-time statistics, for the metrics endpoint and benchmarks).
    public var l7Tracer: L7Tracer? { pipeline.l7 }
}
