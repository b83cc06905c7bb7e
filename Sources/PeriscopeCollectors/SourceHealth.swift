import PeriscopeProtocol

/// How one data source is doing, as `daemon/status` shows it under `collectors`: a state, a line for
/// people, the last error, and the source's own figures. Every collector's health becomes JSON through
/// this one value. Plain value; any thread.
public struct SourceHealth: Sendable, Hashable {
    /// `starting`, `ok`, `degraded`, `unavailable` or `disabled`.
    public var state: String
    /// One line for people (`periscope status`), when the source has one.
    public var summary: String?
    /// What went wrong last, nil when all went well.
    public var lastError: String?
    /// The source's own figures (counters, timings), by name.
    public var figures: [String: JSONValue]

    public init(state: String, summary: String? = nil, lastError: String? = nil, figures: [String: JSONValue] = [:]) {
        self.state = state
        self.summary = summary
        self.lastError = lastError
        self.figures = figures
    }

    /// The figures plus `state`, `summary` and `lastError` (the last two only when set), as one object.
    public var json: JSONValue {
        var members = figures
        members["state"] = .string(state)
        if let summary { members["summary"] = .string(summary) }
        if let lastError { members["lastError"] = .string(lastError) }
        return .object(members)
    }

    /// A kernel event source (process connector, socket state tracepoint): `ok` with its counters and the
    /// CPU time of its thread (`cpuMillis`) and the batches it read (`batches`: its wake-ups with events),
    /// or `unavailable` with the reason it could not start.
    public static func events(_ name: String, seen: UInt64, lost: UInt64, batches: UInt64 = 0, cpuNanos: UInt64 = 0,
                              startError: String?) -> SourceHealth {
        SourceHealth(state: startError == nil ? "ok" : "unavailable",
                     summary: "\(name): \(seen) events in \(batches) batches, \(lost) lost",
                     lastError: startError, figures: ["eventsSeen": JSONValue(seen), "eventsLost": JSONValue(lost),
                                                      "batches": JSONValue(batches),
                                                      "cpuMillis": JSONValue(millis(cpuNanos))])
    }

    /// Nanoseconds as milliseconds with two decimals.
    static func millis(_ nanos: UInt64) -> Double { (Double(nanos) / 10_000).rounded() / 100 }
}

extension CollectorHealth {
    /// The host map's health: the kernel collector's last pass, with the size and cost of the last
    /// report when there is one.
    public func source(lastOutput output: CollectionPipeline.Output?) -> SourceHealth {
        var health = SourceHealth(state: passes == 0 ? "starting" : (isRoot ? "ok" : "degraded"), lastError: lastError, figures: [
            "passes": JSONValue(passes),
            "lastPassMillis": JSONValue((lastPassMillis * 100).rounded() / 100),
            "isRoot": .bool(isRoot),
            "namespaces": JSONValue(namespacesScanned),
            "processes": JSONValue(processesSeen),
            "sockets": JSONValue(socketsSeen),
            "socketsWithOwner": JSONValue(socketsWithOwner),
            "fdReadlinksLastPass": JSONValue(fdReadlinks),
            "counterPasses": JSONValue(counterPasses),
            "lastCounterPassMillis": JSONValue((lastCounterPassMillis * 100).rounded() / 100),
            "countersSource": .string(countersSource),
            "countersSourceReason": countersSourceReason.map(JSONValue.string) ?? .null,
            "countersTrackerRunTimeNs": JSONValue(countersTrackerRunTimeNs),
            "countersTrackerRuns": JSONValue(countersTrackerRuns),
        ])
        if let output {
            health.figures["buildMillis"] = JSONValue((output.buildMillis * 100).rounded() / 100)
            health.summary = "\(output.processCount) processes, \(output.socketCount) sockets, "
                + "pass \(Int(output.collectMillis + output.buildMillis)) ms"
        }
        return health
    }
}
