import Glibc
import PeriscopeCollectors
import PeriscopeTopology

/// One refresh of the host map, done off the loop: kernel collection, then the report build.
///
/// - Important: confined to the collection queue of ``TopologyService``; never called concurrently.
final class CollectionPipeline: @unchecked Sendable {
    /// What one pass produced, handed to the loop.
    struct Output: Sendable {
        var report: Report
        var names: [String: String]
        var processCount: Int
        var socketCount: Int
        var collectMillis: Double
        var buildMillis: Double
    }

    let collector: HostCollector
    let resolver = ReverseResolver()
    let flows = FlowTracker()
    /// Container discovery, when enabled.
    var containers: ContainerCollector?
    private var builder: ReportBuilder
    private var lastSnapshot: HostSnapshot?
    private var lastNames: [String: String] = [:]
    private var passes = 0

    init(hostID: String, retention: Double) {
        collector = HostCollector()
        builder = ReportBuilder(hostID: hostID, retention: retention)
    }

    /// A full pass: the kernel's state, plus flows that started during it.
    func pass() -> Output {
        let start = monotonicMillis()
        let passStart = ServerCore.now()
        var snapshot = collector.collect()
        if let containers { snapshot.containers = containers.collect(processes: snapshot.processes) }
        let collected = monotonicMillis()
        lastSnapshot = snapshot
        if let patched = flows.patch(snapshot, now: snapshot.timestamp) { snapshot = patched }
        flows.fullPassDone(passStart: passStart)
        let report = builder.ingest(snapshot)
        let built = monotonicMillis()
        lastNames = names(for: snapshot)
        passes += 1
        if passes % 10 == 0 { MemoryTuning.trim() }  // hand back what renders and dumps freed
        return Output(report: report, names: lastNames, processCount: snapshot.processes.count,
                      socketCount: snapshot.sockets.count, collectMillis: collected - start, buildMillis: built - collected)
    }

    /// An event-driven update: the last full snapshot patched with the flows seen since, without
    /// asking the kernel again. `nil` when there is nothing new.
    func patchPass() -> Output? {
        guard let last = lastSnapshot else { return nil }
        let start = monotonicMillis()
        guard let patched = flows.patch(last, now: ServerCore.now()) else { return nil }
        let report = builder.ingest(patched)
        let built = monotonicMillis()
        return Output(report: report, names: lastNames, processCount: patched.processes.count,
                      socketCount: patched.sockets.count, collectMillis: 0, buildMillis: built - start)
    }

    /// Reverse-DNS names of remote peers that are already cached; unknown ones are queued for lookup
    /// (the resolver never blocks), so names appear on a later pass.
    private func names(for snapshot: HostSnapshot) -> [String: String] {
        var local: Set<String> = []
        for address in snapshot.host.addresses { local.insert(address.address) }
        var names: [String: String] = [:]
        var asked: Set<String> = []
        for socket in snapshot.sockets where socket.remotePort != 0 {
            let address = socket.remoteAddress
            guard !local.contains(address), !isLoopbackOrUnspecified(address), asked.insert(address).inserted else { continue }
            if let name = resolver.name(for: address) { names[address] = name }
            if asked.count >= 4096 { break }
        }
        return names
    }

    private func isLoopbackOrUnspecified(_ address: String) -> Bool {
        address.hasPrefix("127.") || address == "::1" || address == "0.0.0.0" || address == "::"
    }
}
