import PeriscopeEventLoop
import PeriscopeProtocol

/// Backpressure of forwarded pipes (SPEC §17.6): a client of this aggregator that lags behind forwarded
/// `pipe/data` has its backlog sent to the hosts of its pipes (`forward/backlog`), which count it as unsent output
/// of their forwarded session for it and pause their engine, as for a local client.
///
/// - Important: loop thread only.
extension ControlForwarder {
    /// `session` has more than the pause threshold unread after forwarded data from `host`: tell `host`, and
    /// keep telling its pipes' hosts until it has caught up.
    func lagging(_ session: Session, host: String) {
        guard laggards[session.id]?.hosts.contains(host) != true else { return }
        laggards[session.id, default: Laggard(session: session)].hosts.insert(host)
        sendBacklog(session.id, bytes: session.outputBufferedCount, to: [host])
        if backlogTimer == nil {
            backlogTimer = LoopTimer(loop: core.loop) { [unowned self] in self.checkBacklogs() }
        }
        if let backlogTimer, !backlogTimer.isPending { backlogTimer.schedule(afterMillis: 50) }
    }

    /// Every 50 ms while some client lags: tells its pipes' hosts its backlog; once it is below a quarter of the
    /// pause threshold (or the client is gone) a last `bytes: 0` lets the hosts resume.
    private func checkBacklogs() {
        for (id, laggard) in laggards {
            let bytes = laggard.session.flatMap { $0.isClosed ? nil : $0.outputBufferedCount } ?? 0
            let caughtUp = bytes <= core.configuration.pauseReadingAbove / 4
            sendBacklog(id, bytes: caughtUp ? 0 : bytes, to: laggard.hosts)
            if caughtUp { laggards[id] = nil }
        }
        if !laggards.isEmpty { backlogTimer?.schedule(afterMillis: 50) }
    }

    private func sendBacklog(_ client: Int, bytes: Int, to hosts: Set<String>) {
        for host in hosts {
            aggregator.link(for: host)?.notify(ForwardBacklogNotification(client: Int64(client), bytes: Int64(bytes)))
        }
    }
}
