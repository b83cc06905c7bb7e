import Logging
import PeriscopeSystem

extension MergeQueue {
    /// Ages `hosts` (loop thread): a host silent past ``MultiHostConfiguration/hostExpiryMillis`` is removed, one
    /// silent for ``MultiHostConfiguration/staleAfterIntervals`` of its own refresh intervals (plus one timer tick)
    /// is marked stale; both are handed to the merger. Hosts in `busy` are not silent whatever their clocks say
    /// (their messages wait on this queue). The rule both ``ReportAggregator`` and ``RemoteHostTable`` apply.
    func age(_ hosts: inout [String: RemoteHost], settings: MultiHostConfiguration, busy: Set<String> = [], logger: Logger) {
        let now = monotonicMillis()
        let timestamp = SystemClock.realtime()
        for (host, state) in hosts where !busy.contains(host) {
            let silent = now - state.lastSeen
            if settings.isExpired(silentMillis: silent) {
                hosts[host] = nil
                submit { $0.remove(host) }
                logger.info("host \(host) expired after \(Int(silent)) ms of silence")
            } else if !state.stale, settings.isStale(silentMillis: silent, refreshMillis: state.refreshMillis) {
                hosts[host]?.stale = true
                submit { $0.setStale(host, true, at: timestamp) }
                logger.info("host \(host) is stale (silent for \(Int(silent)) ms)")
            }
        }
    }
}
