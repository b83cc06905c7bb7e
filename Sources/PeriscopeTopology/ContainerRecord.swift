/// One container as the engine (Docker-compatible API) reports it, with the processes tied to it and its
/// cgroup figures. Part of ``HostSnapshot/containers``.
public struct ContainerRecord: Sendable, Hashable, Codable {
    /// Full container id (64 hex digits).
    public var id: String
    /// Name without the leading `/`.
    public var name: String
    /// Image reference as the container was created from (`localhost/web:1`).
    public var image: String
    /// Image id (`sha256:…`).
    public var imageID: String
    /// Entrypoint and command joined by spaces.
    public var command: String
    public var labels: [String: String]
    /// Engine state: `created`, `running`, `paused`, `restarting`, `removing`, `exited`, `dead`.
    public var state: String
    /// Seconds since the Unix epoch (0 when unknown).
    public var created: Double
    public var started: Double
    public var restartCount: Int
    public var hostname: String
    public var networkMode: String
    /// Addresses on the container's networks.
    public var ipAddresses: [String]
    /// Published ports, `HOSTIP:HOSTPORT->PORT/PROTO` (or `PORT/PROTO` when exposed only).
    public var ports: [String]
    /// The container's init process on the host (`State.Pid`), 0 when not running.
    public var initPID: Int32
    /// Host pids of the processes inside (cgroup path, else pid ancestry to ``initPID``).
    public var pids: [Int32]
    /// CPU use since the previous sample, percent of one core (from the cgroup).
    public var cpuPercent: Double?
    /// Memory charged to the cgroup, bytes.
    public var memoryBytes: UInt64?
    /// True for infrastructure containers (pod infra / pause containers, or labelled `periscope.system`).
    public var system: Bool

    public init(id: String, name: String, image: String = "", imageID: String = "", command: String = "",
                labels: [String: String] = [:], state: String = "running", created: Double = 0, started: Double = 0,
                restartCount: Int = 0, hostname: String = "", networkMode: String = "", ipAddresses: [String] = [],
                ports: [String] = [], initPID: Int32 = 0, pids: [Int32] = [], cpuPercent: Double? = nil,
                memoryBytes: UInt64? = nil, system: Bool = false) {
        self.id = id
        self.name = name
        self.image = image
        self.imageID = imageID
        self.command = command
        self.labels = labels
        self.state = state
        self.created = created
        self.started = started
        self.restartCount = restartCount
        self.hostname = hostname
        self.networkMode = networkMode
        self.ipAddresses = ipAddresses
        self.ports = ports
        self.initPID = initPID
        self.pids = pids
        self.cpuPercent = cpuPercent
        self.memoryBytes = memoryBytes
        self.system = system
    }

    /// Running or paused: the container has processes.
    public var isUp: Bool { state == "running" || state == "paused" || state == "restarting" }
}
