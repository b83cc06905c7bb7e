import PeriscopeEventLoop

/// Starts the multi-host roles a configuration asks for (issue 11): the aggregator's report listener and/or
/// the publisher's link, each with its forwarding side (``ControlForwarder`` and ``DemandRelay`` at the aggregator,
/// ``ForwardedCalls`` at the publisher); both need mutual TLS files. And the report bus (issue 15). Loop thread
/// (before the loop runs).
enum MultiHostRoles {
    /// The started roles, to be kept alive by the daemon. Throws an operator-readable error.
    static func start(_ configuration: ServerConfiguration, core: ServerCore, topology: TopologyService?) throws -> [AnyObject] {
        let settings = configuration.multiHost
        var roles: [AnyObject] = []
        if configuration.bus.isEnabled {
            guard let topology else { throw ServerError("--bus needs the collectors") }
            roles.append(try ReportBus(core: core, topology: topology, settings: configuration.bus, multiHost: settings))
        }
        guard settings.isEnabled else { return roles }
        guard let topology else { throw ServerError("--publish and --accept-reports need the collectors") }
        guard let certificate = settings.certificate, let key = settings.key, let ca = settings.ca else {
            throw ServerError("--publish and --accept-reports need --tls-cert, --tls-key and --tls-ca (mutual TLS)")
        }
        if let listen = settings.acceptReports {
            let tls = try TLSContext(loop: core.loop, role: .server, certificate: certificate, key: key, ca: ca)
            let aggregator = try ReportAggregator(core: core, topology: topology, settings: settings, tls: tls, listen: listen)
            roles += [aggregator, ControlForwarder(core: core, topology: topology, aggregator: aggregator),
                      DemandRelay(core: core, topology: topology, aggregator: aggregator)]
        }
        if let target = settings.publish {
            let tls = try TLSContext(loop: core.loop, role: .client, certificate: certificate, key: key, ca: ca)
            let publisher = try ReportPublisher(core: core, topology: topology, settings: settings, tls: tls, target: target)
            roles += [publisher, ForwardedCalls(core: core, topology: topology, publisher: publisher)]
        }
        return roles
    }
}
