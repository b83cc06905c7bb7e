/// Keys of container and image nodes (``TopologyKind/container``, ``TopologyKind/containerImage``).
///
/// Shared keys with processes: ``NodeKey/name``, ``NodeKey/command``, ``NodeKey/state``, ``NodeKey/pid``.
public enum ContainerKey {
    /// Full container id.
    public static let containerID = "container_id"
    /// Image reference (`localhost/web:1`).
    public static let image = "image"
    /// Image id (`sha256:…`).
    public static let imageID = "image_id"
    public static let created = "created"
    public static let started = "started"
    public static let restartCount = "restart_count"
    /// Container hostname.
    public static let hostname = "hostname"
    public static let networkMode = "network_mode"
    /// `"true"` for infrastructure containers.
    public static let system = "system"
    /// Set: container IP addresses.
    public static let ips = "ips"
    /// Set: published ports, `0.0.0.0:8080->80/tcp`.
    public static let ports = "ports"
    /// Set: labels, `key=value`.
    public static let labels = "labels"
    /// Set (image nodes): container node ids of the image.
    public static let containers = "containers"
}

extension NodeID {
    /// `container:FULLID`.
    public static func container(_ id: String) -> String { "container:\(id)" }
    /// `image:REFERENCE`, e.g. `image:localhost/web:1`.
    public static func containerImage(_ reference: String) -> String { "image:\(reference)" }
}

/// Writes the container and image nodes of a snapshot into a report, and makes each container's processes its
/// children (process node parent of kind ``TopologyKind/container``). Metric histories (`cpu`, `memory`) are carried
/// over from the container nodes already in the report (the previous pass).
public enum ContainerNodes {
    public static func apply(_ snapshot: HostSnapshot, hostID: String, to report: inout Report) {
        let previous = report[.container]
        if snapshot.containers.isEmpty && previous.nodes.isEmpty { return }
        let t = snapshot.timestamp
        var containers = Topology(kind: .container)
        var images = Topology(kind: .containerImage)
        var processes = report.take(.process)
        let hostNode = NodeID.host(hostID)
        for c in snapshot.containers {
            var node = Node(id: NodeID.container(c.id), topology: .container)
            node.set(ContainerKey.containerID, c.id, at: t)
            node.set(NodeKey.name, c.name, at: t)
            node.set(ContainerKey.image, c.image, at: t)
            node.set(ContainerKey.imageID, c.imageID, at: t)
            node.set(NodeKey.command, c.command, at: t)
            node.set(NodeKey.state, c.state, at: t)
            node.set(ContainerKey.created, String(c.created), at: t)
            node.set(ContainerKey.started, String(c.started), at: t)
            node.set(ContainerKey.restartCount, String(c.restartCount), at: t)
            node.set(ContainerKey.hostname, c.hostname, at: t)
            node.set(ContainerKey.networkMode, c.networkMode, at: t)
            node.set(NodeKey.pid, String(c.initPID), at: t)
            node.set(ContainerKey.system, c.system ? "true" : "false", at: t)
            node.sets[ContainerKey.ips] = Set(c.ipAddresses)
            node.sets[ContainerKey.ports] = Set(c.ports)
            node.sets[ContainerKey.labels] = Set(c.labels.map { "\($0.key)=\($0.value)" })
            if let cpu = c.cpuPercent { node.record(MetricKey.cpu, cpu, at: t) }
            if let memory = c.memoryBytes { node.record(MetricKey.memory, Double(memory), at: t) }
            node.addParent(.host, hostNode)
            let imageNode = NodeID.containerImage(c.image.isEmpty ? c.imageID : c.image)
            node.addParent(.containerImage, imageNode)
            SnapshotNodes.carry(from: previous.nodes[node.id], into: &node, limit: MetricHistory.capacity)
            if c.isUp {
                for pid in c.pids {
                    processes.nodes[NodeID.process(hostID: hostID, pid: pid)]?.addParent(.container, node.id)
                }
            }
            containers.nodes[node.id] = node

            if images.nodes[imageNode] == nil {
                var image = Node(id: imageNode, topology: .containerImage)
                image.set(ContainerKey.image, c.image, at: t)
                image.set(ContainerKey.imageID, c.imageID, at: t)
                image.addParent(.host, hostNode)
                images.nodes[imageNode] = image
            }
            images.nodes[imageNode]?.sets[ContainerKey.containers, default: []].insert(node.id)
        }
        tieByCgroup(&processes, containers)
        report[.process] = processes
        report[.container] = containers
        report[.containerImage] = images
    }

    /// Gives a container parent to the processes the snapshot did not tie to one but whose cgroup path names a
    /// container of the report: processes of a container that is stopping or restarting (not "up", so the engine
    /// lists no pids for it), and exited processes kept for their closed connections. Without it, a container
    /// restart would draw the old connections through "Uncontained".
    static func tieByCgroup(_ processes: inout Topology, _ containers: Topology) {
        guard !containers.nodes.isEmpty else { return }
        for (id, p) in processes.nodes where p.parent(.container) == nil {
            guard let cgroup = p.latest[NodeKey.cgroup], let cid = containerID(inCgroup: cgroup) else { continue }
            let node = NodeID.container(cid)
            if containers.nodes[node] != nil { processes.nodes[id]?.addParent(.container, node) }
        }
    }

    /// The last run of exactly 64 hex digits in `path` (`/libpod_parent/libpod-<id>`, `…/docker-<id>.scope`).
    public static func containerID(inCgroup path: String) -> String? {
        let bytes = Array(path.utf8)
        var found: String?
        var runStart = -1
        for i in 0...bytes.count {
            let isHex = i < bytes.count && ((bytes[i] >= 48 && bytes[i] <= 57) || (bytes[i] >= 97 && bytes[i] <= 102))
            if isHex {
                if runStart < 0 { runStart = i }
            } else if runStart >= 0 {
                if i - runStart == 64 { found = String(decoding: bytes[runStart..<i], as: UTF8.self) }
                runStart = -1
            }
        }
        return found
    }
}
