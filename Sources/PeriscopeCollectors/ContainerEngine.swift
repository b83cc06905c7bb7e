import PeriscopeProtocol
import PeriscopeTopology
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The Docker-compatible engine API (Docker, or `podman system service`) on a Unix socket: list, inspect,
/// lifecycle actions, and the events stream. Stateless apart from the socket path; blocking calls, worker threads.
public struct ContainerEngine: Sendable {
    /// API version prefix of every path.
    public static let apiPrefix = "/v1.41"
    public let socketPath: String

    public init(socketPath: String) {
        self.socketPath = socketPath
    }

    /// The engine socket: `override` when given; else `DOCKER_HOST` when it is `unix://…`; else the first of
    /// `/var/run/docker.sock`, `/run/podman/podman.sock` that exists (else `/var/run/docker.sock`).
    /// Returns the path and where it came from.
    public static func resolveSocket(override: String?) -> (path: String, source: String) {
        if let override, !override.isEmpty {
            return (override.hasPrefix("unix://") ? String(override.dropFirst(7)) : override, "--docker-socket")
        }
        if let host = getenv("DOCKER_HOST").map({ String(cString: $0) }), host.hasPrefix("unix://") {
            return (String(host.dropFirst(7)), "DOCKER_HOST")
        }
        for candidate in ["/var/run/docker.sock", "/run/podman/podman.sock"] where access(candidate, F_OK) == 0 {
            return (candidate, "default")
        }
        return ("/var/run/docker.sock", "default")
    }

    var client: UnixHTTPClient { UnixHTTPClient(socketPath: socketPath) }

    func getJSON(_ path: String) throws(EngineError) -> JSONValue {
        let response = try client.request("GET", Self.apiPrefix + path)
        guard response.status == 200 else {
            throw EngineError("GET \(path): HTTP \(response.status) \(Self.message(response.body))", status: response.status)
        }
        do {
            return try JSONParser().parse(response.body)
        } catch {
            throw EngineError("GET \(path): bad JSON: \(error)")
        }
    }

    /// One entry of `GET /containers/json?all=1`.
    public struct Summary: Sendable, Hashable {
        public var id: String
        public var state: String
    }

    /// Every container, running or not.
    public func list() throws(EngineError) -> [Summary] {
        guard let items = try getJSON("/containers/json?all=1").arrayValue else {
            throw EngineError("GET /containers/json: not an array")
        }
        return items.compactMap { item in
            guard let id = item["Id"]?.stringValue else { return nil }
            return Summary(id: id, state: item["State"]?.stringValue ?? "")
        }
    }

    /// `GET /containers/{id}/json`, as a record (without pids and metrics). `nil` when the container is gone.
    public func inspect(_ id: String) throws(EngineError) -> ContainerRecord? {
        let json: JSONValue
        do {
            json = try getJSON("/containers/\(id)/json")
        } catch {
            if error.status == 404 { return nil }
            throw error
        }
        return Self.record(fromInspect: json)
    }

    /// Lifecycle actions: `start`, `stop`, `restart`, `pause`, `unpause`, `kill`, and `remove` (DELETE).
    public func perform(_ action: String, id: String) throws(EngineError) {
        let method: String, path: String
        switch action {
        case "remove": method = "DELETE"; path = "/containers/\(id)?force=1"
        case "stop", "restart": method = "POST"; path = "/containers/\(id)/\(action)?t=5"
        case "start", "pause", "unpause", "kill": method = "POST"; path = "/containers/\(id)/\(action)"
        default: throw EngineError("unknown container action '\(action)'")
        }
        var client = self.client
        client.timeoutSeconds = 30
        let response = try client.request(method, Self.apiPrefix + path)
        guard (200..<300).contains(response.status) || response.status == 304 else {
            throw EngineError("\(action) \(id.prefix(12)): HTTP \(response.status) \(Self.message(response.body))",
                              status: response.status)
        }
    }

    /// Follows `/events` (containers only), calling `onOpen` with the connection's fd once the engine accepted
    /// the request and `event` for every event, until the stream ends or fails.
    public func followEvents(onOpen: (Int32) -> Void, onClose: (Int32) -> Void, event: (ContainerEvent) -> Void,
                             headers: () -> Void) throws(EngineError) {
        // {"type":["container"]}
        let filters = "%7B%22type%22%3A%5B%22container%22%5D%7D"
        try client.stream(Self.apiPrefix + "/events?filters=\(filters)", opened: onOpen, closing: onClose, head: headers) { line in
            if let parsed = Self.event(fromLine: line) { event(parsed) }
            return true
        }
    }

    /// One line of the `/events` stream as a container event; nil for other types and lines that are not JSON.
    static func event(fromLine line: [UInt8]) -> ContainerEvent? {
        guard let json = try? JSONParser().parse(line) else { return nil }
        let type = json["Type"]?.stringValue ?? json["type"]?.stringValue ?? "container"
        guard type == "container" else { return nil }
        let action = json["Action"]?.stringValue ?? json["status"]?.stringValue ?? ""
        let id = json["Actor"]?["ID"]?.stringValue ?? json["id"]?.stringValue ?? ""
        return ContainerEvent(action: action, id: id)
    }

    static func message(_ body: [UInt8]) -> String {
        if let json = try? JSONParser().parse(body), let m = json["message"]?.stringValue { return m }
        return String(decoding: body.prefix(200), as: UTF8.self)
    }

    /// Builds a record from an inspect document (Docker and Podman compatible shapes).
    public static func record(fromInspect j: JSONValue) -> ContainerRecord? {
        guard let id = j["Id"]?.stringValue else { return nil }
        var name = j["Name"]?.stringValue ?? ""
        if name.hasPrefix("/") { name.removeFirst() }
        let config = j["Config"]
        let state = j["State"]
        var labels: [String: String] = [:]
        for (k, v) in config?["Labels"]?.objectValue ?? [:] { labels[k] = v.stringValue ?? "" }
        var command = [j["Path"]?.stringValue ?? ""]
        command += (j["Args"]?.arrayValue ?? []).compactMap(\.stringValue)
        var ips: [String] = []
        for (_, net) in j["NetworkSettings"]?["Networks"]?.objectValue ?? [:] {
            for key in ["IPAddress", "GlobalIPv6Address"] {
                if let ip = net[key]?.stringValue, !ip.isEmpty, !ips.contains(ip) { ips.append(ip) }
            }
        }
        if let ip = j["NetworkSettings"]?["IPAddress"]?.stringValue, !ip.isEmpty, !ips.contains(ip) { ips.append(ip) }
        var ports: [String] = []
        for (port, bindings) in j["NetworkSettings"]?["Ports"]?.objectValue ?? [:] {
            let list = bindings.arrayValue ?? []
            if list.isEmpty { ports.append(port) }
            for b in list {
                let hostIP = b["HostIp"]?.stringValue ?? ""
                let hostPort = b["HostPort"]?.stringValue ?? ""
                ports.append("\(hostIP.isEmpty ? "0.0.0.0" : hostIP):\(hostPort)->\(port)")
            }
        }
        var status = state?["Status"]?.stringValue ?? ""
        if status == "configured" { status = "created" }
        if status == "stopped" { status = "exited" }
        let system = labels["periscope.system"] == "true" || labels["io.kubernetes.container.name"] == "POD"
            || j["IsInfra"]?.boolValue == true
        return ContainerRecord(
            id: id, name: name, image: config?["Image"]?.stringValue ?? j["ImageName"]?.stringValue ?? "",
            imageID: j["Image"]?.stringValue ?? "", command: command.filter { !$0.isEmpty }.joined(separator: " "),
            labels: labels, state: status, created: parseTime(j["Created"]?.stringValue),
            started: parseTime(state?["StartedAt"]?.stringValue),
            restartCount: Int(j["RestartCount"]?.intValue ?? 0), hostname: config?["Hostname"]?.stringValue ?? "",
            networkMode: j["HostConfig"]?["NetworkMode"]?.stringValue ?? "", ipAddresses: ips.sorted(),
            ports: ports.sorted(), initPID: Int32(truncatingIfNeeded: state?["Pid"]?.intValue ?? 0), system: system)
    }

    /// RFC 3339 (`2026-11-27T00:23:42.887373477Z`, or with a `+hh:mm` offset) → seconds since the epoch; 0 when
    /// absent or the zero time.
    static func parseTime(_ text: String?) -> Double {
        guard let text, text.count >= 19 else { return 0 }
        let b = Array(text.utf8)
        func num(_ from: Int, _ count: Int) -> Int? {
            var v = 0
            for i in from..<(from + count) {
                guard i < b.count, b[i] >= 48, b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2), let mi = num(14, 2),
              let s = num(17, 2), y > 1970 else { return 0 }
        var tm = Glibc.tm()
        tm.tm_year = Int32(y - 1900)
        tm.tm_mon = Int32(mo - 1)
        tm.tm_mday = Int32(d)
        tm.tm_hour = Int32(h)
        tm.tm_min = Int32(mi)
        tm.tm_sec = Int32(s)
        var seconds = Double(timegm(&tm))
        var i = 19
        if i < b.count, b[i] == UInt8(ascii: ".") {
            var scale = 0.1
            i += 1
            while i < b.count, b[i] >= 48, b[i] <= 57 { seconds += Double(b[i] - 48) * scale; scale /= 10; i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-"), let oh = num(i + 1, 2),
           let om = num(i + 4, 2) {
            let offset = Double(oh * 3600 + om * 60)
            seconds += b[i] == UInt8(ascii: "+") ? -offset : offset
        }
        return seconds
    }
}

/// One engine event about a container.
public struct ContainerEvent: Sendable, Hashable {
    /// `start`, `stop`, `die`, `pause`, `unpause`, `destroy`, `remove`, `create`, …
    public var action: String
    /// Full container id.
    public var id: String

    public init(action: String, id: String) {
        self.action = action
        self.id = id
    }

    /// Actions that change what the container views show.
    public var changesState: Bool {
        switch action {
        case "create", "start", "restart", "stop", "die", "kill", "pause", "unpause", "destroy", "remove", "rename",
             "died", "cleanup", "init":
            return true
        default:
            return action.hasPrefix("health_status")
        }
    }
}
