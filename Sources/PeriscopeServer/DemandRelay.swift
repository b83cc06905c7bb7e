import PeriscopeEventLoop
import PeriscopeProtocol

/// Tells publishers when this aggregator's clients look (`report/demand`, SPEC §17.2), so that they collect TCP
/// counters (issue 16's demand rule, which otherwise sees no local client on a publisher and leaves byte
/// counters out): on every change of the demand, and to each publisher as it identifies itself.
///
/// The demand is polled every ``pollMillis`` (a view asked for marks it at once in ``TopologyService``; the relay
/// only has to notice), so a publisher starts counting within that plus one of its passes.
///
/// - Important: loop thread only.
final class DemandRelay {
    static let pollMillis = 100
    private unowned let topology: TopologyService
    private unowned let aggregator: ReportAggregator
    private var demand = false
    private var timer: LoopTimer?

    init(core: ServerCore, topology: TopologyService, aggregator: ReportAggregator) {
        self.topology = topology
        self.aggregator = aggregator
        aggregator.onLinkIdentified = { [unowned self] link in
            if self.demand { link.notify(ReportDemandNotification(tcpInfo: true)) }
        }
        timer = LoopTimer(loop: core.loop) { [unowned self] in self.check() }
        timer?.scheduleRepeating(everyMillis: Self.pollMillis)
    }

    private func check() {
        let now = topology.isLocallyInDemand
        guard now != demand else { return }
        demand = now
        for link in aggregator.identifiedLinks { link.notify(ReportDemandNotification(tcpInfo: now)) }
    }
}
