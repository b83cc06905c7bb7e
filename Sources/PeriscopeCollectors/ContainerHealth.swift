import PeriscopeProtocol

/// Health of container discovery (`daemon/status` → `containers`). Plain value.
public struct ContainerHealth: Sendable, Hashable {
    /// Engine socket in use.
    public var socketPath = ""
    /// Where the path came from: `--docker-socket`, `DOCKER_HOST`, `default`.
    public var socketSource = ""
    /// `starting`, `ok`, `unavailable` (no engine: views empty, retrying with backoff).
    public var state = "starting"
    public var lastError: String?
    /// Containers in the last successful listing (all states) and running ones.
    public var containersSeen = 0
    public var containersRunning = 0
    /// Engine events received since start, and whether the events stream is connected.
    public var eventsSeen: UInt64 = 0
    public var eventsConnected = false
    /// Listings and inspects done since start.
    public var listings: UInt64 = 0
    public var inspects: UInt64 = 0
    /// Seconds until the next attempt while the engine is unavailable.
    public var retryInSeconds: Double?

    public init() {}
}

extension ContainerHealth {
    /// As `daemon/status` shows it: the figures, and a summary that says what the views will show.
    public var source: SourceHealth {
        let summary: String
        switch state {
        case "ok": summary = "engine \(socketPath): \(containersRunning) running of \(containersSeen) containers, "
            + "\(eventsSeen) events" + (eventsConnected ? "" : " (events stream reconnecting)")
        case "unavailable": summary = "no container engine at \(socketPath) (\(lastError ?? "unknown error")); "
            + "container views are empty; retrying"
        default: summary = "connecting to \(socketPath)"
        }
        var figures: [String: JSONValue] = [
            "socket": .string(socketPath),
            "socketSource": .string(socketSource),
            "containersSeen": JSONValue(containersSeen),
            "containersRunning": JSONValue(containersRunning),
            "eventsSeen": JSONValue(eventsSeen),
            "eventsConnected": .bool(eventsConnected),
            "listings": JSONValue(listings),
            "inspects": JSONValue(inspects),
        ]
        if let retryInSeconds { figures["retryInSeconds"] = .double(retryInSeconds) }
        return SourceHealth(state: state, summary: summary, lastError: lastError, figures: figures)
    }
}
