import PeriscopeProtocol
#if canImport(Glibc)
import Glibc
#endif

/// Streams through the engine API: followed logs and interactive exec sessions (a hijacked connection with a
/// TTY). Blocking calls, for a pipe's own thread.
extension ContainerEngine {
    /// `GET /containers/{id}/logs?follow=1&stdout=1&stderr=1&tail=N`, de-multiplexed unless the container has a
    /// TTY (then the engine sends raw output). A 404 (no such container) throws with `status` 404.
    public func openLogs(id: String, tail: Int, follow: Bool) throws(EngineError) -> EngineStream {
        let info = try getJSON("/containers/\(id)/json")
        let tty = info["Config"]?["Tty"]?.boolValue ?? false
        let path = "/containers/\(id)/logs?follow=\(follow ? 1 : 0)&stdout=1&stderr=1&tail=\(tail < 0 ? "all" : String(tail))"
        return try openStream("GET", path, body: nil, upgrade: false) { contentType in
            contentType.contains("multiplexed") || !tty
        }
    }

    /// `POST /containers/{id}/exec` with stdin/stdout/stderr attached and a TTY; returns the exec id.
    public func createExec(id: String, command: [String], environment: [String]) throws(EngineError) -> String {
        let body: JSONValue = [
            "AttachStdin": true, "AttachStdout": true, "AttachStderr": true, "Tty": true,
            "Cmd": JSONValue(command), "Env": JSONValue(environment),
        ]
        let response = try client.request("POST", Self.apiPrefix + "/containers/\(id)/exec", body: JSONWriter.bytes(body))
        guard (200..<300).contains(response.status) else {
            throw EngineError("exec in \(id.prefix(12)): HTTP \(response.status) \(Self.message(response.body))",
                              status: response.status)
        }
        guard let json = try? JSONParser().parse(response.body), let execID = json["Id"]?.stringValue,
              !execID.isEmpty, execID.allSatisfy({ $0.isLetter || $0.isNumber }) else {
            throw EngineError("exec in \(id.prefix(12)): the engine returned no exec id")
        }
        return execID
    }

    /// `POST /exec/{id}/start {Detach: false, Tty: true}` with `Upgrade: tcp`: the engine answers 101 (or 200)
    /// and the connection becomes the raw, bidirectional terminal stream.
    public func startExec(_ execID: String) throws(EngineError) -> EngineStream {
        let body = JSONWriter.bytes(["Detach": false, "Tty": true])
        return try openStream("POST", "/exec/\(execID)/start", body: body, upgrade: true) { contentType in
            contentType.contains("multiplexed")
        }
    }

    /// `POST /exec/{id}/resize?h=ROWS&w=COLS`.
    public func resizeExec(_ execID: String, rows: Int, cols: Int) throws(EngineError) {
        let response = try client.request("POST", Self.apiPrefix + "/exec/\(execID)/resize?h=\(rows)&w=\(cols)")
        guard (200..<300).contains(response.status) else {
            throw EngineError("resize: HTTP \(response.status) \(Self.message(response.body))", status: response.status)
        }
    }

    /// What `GET /exec/{id}/json` says about an exec session.
    public struct ExecState: Sendable {
        public var running: Bool
        /// Host pid of the exec'd process (0 when unknown).
        public var pid: Int32
        public var exitCode: Int?
    }

    public func inspectExec(_ execID: String) throws(EngineError) -> ExecState {
        let json = try getJSON("/exec/\(execID)/json")
        let running = json["Running"]?.boolValue ?? false
        return ExecState(running: running, pid: Int32(truncatingIfNeeded: json["Pid"]?.intValue ?? 0),
                         exitCode: running ? nil : json["ExitCode"]?.intValue.map { Int($0) })
    }

    /// Sends a request and reads the response head; on success the connection is handed to an ``EngineStream``
    /// (no receive timeout from then on). `multiplexed` decides the framing from the response's content type.
    private func openStream(_ method: String, _ path: String, body: [UInt8]?, upgrade: Bool,
                            multiplexed: (String) -> Bool) throws(EngineError) -> EngineStream {
        let client = self.client
        let fd = try client.connect(timeout: 10)
        var head = "\(method) \(Self.apiPrefix)\(path) HTTP/1.1\r\nHost: docker\r\nUser-Agent: periscoped\r\n"
        head += upgrade ? "Connection: Upgrade\r\nUpgrade: tcp\r\n" : "Connection: close\r\n"
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        else if method == "POST" { head += "Content-Length: 0\r\n" }
        head += "\r\n"
        var reader = HTTPReader(fd: fd)
        let stream: EngineStream
        do throws(EngineError) {
            var bytes = Array(head.utf8)
            if let body { bytes += body }
            var sent = 0
            while sent < bytes.count {
                let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw EngineError("send to \(socketPath): \(UnixHTTPClient.errnoText())")
                }
                sent += n
            }
            let (status, headers) = try reader.readHead()
            guard status == 101 || (200..<300).contains(status) else {
                var text: [UInt8] = []
                if let length = headers["content-length"].flatMap({ Int($0) }), length <= 1 << 16 {
                    text = (try? reader.readExactly(length)) ?? []
                } else if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
                    text = ((try? reader.readChunk()) ?? nil) ?? []
                }
                throw EngineError("\(method) \(path.prefix(60)): HTTP \(status) \(Self.message(text))", status: status)
            }
            let chunked = status != 101 && headers["transfer-encoding"]?.lowercased().contains("chunked") == true
            UnixHTTPClient.setTimeout(fd, 0)
            stream = EngineStream(fd: fd, reader: reader, chunked: chunked,
                                  multiplexed: multiplexed(headers["content-type"]?.lowercased() ?? ""))
        } catch {
            close(fd)
            throw error
        }
        return stream
    }
}
