import Glibc
import PeriscopeClient
import PeriscopeProtocol
import Testing

/// The daemon started for real and exercised over each transport.
@Suite("Real daemon process over each transport", .serialized)
struct RealDaemonTransportTests {
    @Test func unixSocketServesStatusAndIsOwnerOnly() throws {
        let daemon = try DaemonProcess()
        var info = stat()
        #expect(stat(daemon.socketPath, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        let client = try daemon.client()
        let status = try client.call(DaemonStatusRequest.self)
        #expect(status["pid"]?.intValue == Int64(daemon.pid))
        #expect(status["clients"]?["connected"]?.intValue == 1)
        #expect(try client.call(DaemonPingRequest.self, .init()) == .init())
        #expect(daemon.stop() == 0)
        #expect(access(daemon.socketPath, F_OK) != 0, "socket file removed on shutdown")
    }

    @Test func tcpNeedsTheRightToken() throws {
        let daemon = try DaemonProcess(tcp: true)
        let port = try #require(daemon.tcpPort, "the daemon was started with TCP")
        let token = try #require(daemon.token)
        let good = try RPCClient(host: "127.0.0.1", port: port)
        try good.initialize(clientName: "tcp", token: token)
        #expect(try good.call(DaemonPingRequest.self, .init()) == .init())

        let wrong = try RPCClient(host: "127.0.0.1", port: port)
        #expect(throws: RPCError(code: ErrorCode.unauthorized, message: "invalid or missing token")) {
            try wrong.initialize(clientName: "tcp", token: token + "x")
        }
        #expect(throws: ClientError.self) { try wrong.call(DaemonPingRequest.self, .init()) }  // closed by the daemon

        let missing = try RPCClient(host: "127.0.0.1", port: port)
        #expect(throws: RPCError.self) { try missing.call(DaemonStatusRequest.self) }
        #expect(try good.call(DaemonPingRequest.self, .init()) == .init(), "other clients unaffected")
        #expect(daemon.stop() == 0)
    }

    @Test func stdioServesOneClientAndExitsCleanlyAfterShutdown() throws {
        var toDaemon: [Int32] = [0, 0]
        var fromDaemon: [Int32] = [0, 0]
        #expect(pipe(&toDaemon) == 0 && pipe(&fromDaemon) == 0)
        let pid = try spawnProcess([DaemonProcess.binaryDirectory + "/periscoped", "--stdio", "--no-collectors", "--log-level", "error"],
                                   stdinFD: toDaemon[0], stdoutFD: fromDaemon[1])
        close(toDaemon[0])
        close(fromDaemon[1])
        func send(_ message: Message) {
            let bytes = FrameEncoder.frame(message.json, mode: .headers)
            _ = bytes.withUnsafeBytes { write(toDaemon[1], $0.baseAddress, $0.count) }
        }
        var decoder = FrameDecoder()
        func receive() throws -> JSONValue {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                if let body = try decoder.next() { return try JSONParser().parse(body) }
                let count = read(fromDaemon[0], &buffer, buffer.count)
                guard count > 0 else { throw ClientError(.io, "stdout closed") }
                decoder.append(buffer[0..<count])
            }
        }
        send(.request(id: .number(1), method: "daemon/status", params: nil))
        #expect(try receive()["error"]?["code"]?.intValue == Int64(ErrorCode.serverNotInitialized))
        send(.request(id: .number(2), method: "initialize", params: ["capabilities": [:]]))
        #expect(try receive()["result"]?["serverInfo"]?["name"] == "periscoped")
        send(.request(id: .number(3), method: "daemon/status", params: nil))
        #expect(try receive()["result"]?["endpoints"] == ["stdio"])
        send(.request(id: .number(4), method: "shutdown", params: nil))
        #expect(try receive()["result"] == .null)
        send(.notification(method: "exit", params: nil))
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect((status >> 8) & 0xFF == 0)
        close(toDaemon[1])
        close(fromDaemon[0])
    }

    @Test func shutdownAnswersInFlightRequests() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        try client.send(Message.request(id: .number(99), method: "daemon/ping", params: ["delayMs": 300]).json)
        usleep(50_000)
        kill(daemon.pid, SIGTERM)
        guard case .response(let id, let result) = try client.readMessage() else {
            Issue.record("expected a response")
            return
        }
        #expect(id == .number(99))
        #expect((try? result.get()) == ["pong": true], "a short in-flight request completes during shutdown")
        #expect(daemon.stop() == 0)
    }

    @Test func secondDaemonDoesNotStealALiveSocketButReplacesAStaleOne() throws {
        let daemon = try DaemonProcess()
        let second = try spawnProcess([DaemonProcess.binaryDirectory + "/periscoped", "--socket", daemon.socketPath, "--no-collectors", "--log-level", "critical"])
        var status: Int32 = 0
        waitpid(second, &status, 0)
        #expect((status >> 8) & 0xFF != 0)
        #expect(try daemon.client().call(DaemonPingRequest.self, .init()) == .init())
        kill(daemon.pid, SIGKILL)  // crash: leaves the socket file behind
        waitpid(daemon.pid, &status, 0)
        #expect(access(daemon.socketPath, F_OK) == 0)
        let restarted = try spawnProcess([DaemonProcess.binaryDirectory + "/periscoped", "--socket", daemon.socketPath, "--no-collectors", "--log-level", "error"])
        defer { kill(restarted, SIGTERM); waitpid(restarted, &status, 0) }
        var answered = false
        for _ in 0..<200 where !answered {
            usleep(25_000)
            if let client = try? RPCClient(socketPath: daemon.socketPath), (try? client.initialize(clientName: "t")) != nil,
               (try? client.call(DaemonPingRequest.self, .init())) != nil { answered = true }
        }
        #expect(answered)
    }
}
