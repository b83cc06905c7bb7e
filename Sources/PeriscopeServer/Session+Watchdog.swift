import PeriscopeEventLoop
import PeriscopeProtocol

/// The per-session watchdog: the authentication deadline, clients that stop reading, and clients that
/// closed for good after a half-close. It runs only while one of those can happen, every
/// ``watchdogMillis``.
extension Session {
    static let watchdogMillis = 250

    /// Schedules the next check unless one is pending.
    func armWatchdog() {
        guard !isClosed else { return }
        if watchdog == nil {
            watchdog = LoopTimer(loop: core.loop) { [weak self] in self?.watch() }
        }
        if let watchdog, !watchdog.isPending { watchdog.schedule(afterMillis: Self.watchdogMillis) }
    }

    private func watch() {
        guard !isClosed else { return }
        let configuration = core.configuration
        let now = monotonicMillis()
        if !authenticated, now - connectedAt > Double(configuration.authTimeoutMillis) {
            core.counters.authTimeouts += 1
            closeAfterNextSend = "no authentication within \(configuration.authTimeoutMillis) ms"
            sendError(id: nil, RPCError(code: ErrorCode.unauthorized,
                                        message: "authentication required within \(configuration.authTimeoutMillis / 1000) s of connecting"))
            return
        }
        if connection.bytesDrained != drainedAtProgress { noteProgress() }
        let queued = outputBufferedCount
        if queued > 0 {
            if now - lastProgress > Double(configuration.stallMillis) {
                core.counters.droppedStalled += 1
                logger.warning("dropping client \(peer): read nothing for \(configuration.stallMillis / 1000) s with \(queued) bytes waiting")
                disconnect(reason: "client stopped reading for \(configuration.stallMillis / 1000) s")
                return
            }
            if queued > configuration.maxOutputBytes, now - lastProgress > Double(configuration.slowGraceMillis) {
                dropSlow(queued)
                return
            }
        }
        if inputEnded, !pending.isEmpty, connection.peerHasHungUp {
            disconnect(reason: "client closed the connection with requests in flight")
            return
        }
        if !authenticated || queued > 0 || readingPaused || (inputEnded && !pending.isEmpty) {
            armWatchdog()
        }
    }
}
