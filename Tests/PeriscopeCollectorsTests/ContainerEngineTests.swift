import PeriscopeProtocol
import PeriscopeTopology
import Testing
@testable import PeriscopeCollectors

@Suite struct ContainerEngineTests {
    @Test func containerIDFromCgroupPaths() {
        let id = String(repeating: "0123456789abcdef", count: 4)
        #expect(ContainerCollector.containerID(inCgroup: "/libpod_parent/libpod-\(id)") == id)
        #expect(ContainerCollector.containerID(inCgroup: "/system.slice/docker-\(id).scope") == id)
        #expect(ContainerCollector.containerID(inCgroup: "/machine.slice/libpod-\(id).scope/container") == id)
        #expect(ContainerCollector.containerID(inCgroup: "/user.slice/session-3.scope") == nil)
        #expect(ContainerCollector.containerID(inCgroup: "/x/\(id)f") == nil)
    }

    /// Found by the `engine` fuzzer: a negative Content-Length or chunk size trapped on an invalid range
    /// (fuzz/corpus/engine/regression-negative-*).
    @Test func negativeBodyLengthsAreErrors() {
        for response in ["HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n{}",
                         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nabcdefgh\r\n0\r\n\r\n"] {
            var reader = HTTPReader(bytes: Array(response.utf8))
            #expect(throws: EngineError.self) { try UnixHTTPClient.readResponse(&reader, method: "GET") }
        }
        var reader = HTTPReader(bytes: Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n".utf8))
        #expect((try? UnixHTTPClient.readResponse(&reader, method: "GET"))?.body == Array("{}".utf8))
    }

    @Test func timestamps() {
        #expect(ContainerEngine.parseTime("1970-01-02T00:00:00Z") == 0)  // before 1971 counts as unknown
        #expect(ContainerEngine.parseTime("2026-11-27T00:23:42.5Z") == 1_795_739_022.5)
        #expect(ContainerEngine.parseTime("2026-11-27T01:23:42+01:00") == 1_795_739_022)
        #expect(ContainerEngine.parseTime("0001-01-01T00:00:00Z") == 0)
    }

    @Test func inspectDocument() throws {
        let json = try JSONParser().parse("""
            {"Id":"abc","Name":"/web","Image":"sha256:1","Path":"nc","Args":["-l","-p","80"],
             "Created":"2026-11-27T00:23:42Z","RestartCount":2,
             "State":{"Status":"running","Pid":42,"StartedAt":"2026-11-27T00:23:43Z"},
             "Config":{"Hostname":"web","Image":"localhost/web:1","Labels":{"tier":"lb"}},
             "HostConfig":{"NetworkMode":"bridge"},
             "NetworkSettings":{"Networks":{"podman":{"IPAddress":"10.88.0.5"}},
                                "Ports":{"80/tcp":[{"HostIp":"","HostPort":"8080"}],"443/tcp":null}}}
            """)
        let r = try #require(ContainerEngine.record(fromInspect: json))
        #expect(r.name == "web" && r.image == "localhost/web:1" && r.imageID == "sha256:1")
        #expect(r.command == "nc -l -p 80" && r.state == "running" && r.initPID == 42 && r.restartCount == 2)
        #expect(r.ipAddresses == ["10.88.0.5"] && r.ports == ["0.0.0.0:8080->80/tcp", "443/tcp"])
        #expect(r.labels == ["tier": "lb"] && r.hostname == "web" && r.networkMode == "bridge")
        #expect(r.started == r.created + 1)
    }

    @Test func noEngineMeansEmptyAndAReason() {
        let collector = ContainerCollector(socketOverride: "/nonexistent/engine.sock")
        #expect(collector.collect(processes: []).isEmpty)
        let health = collector.health
        #expect(health.state == "unavailable" && health.lastError?.contains("/nonexistent/engine.sock") == true)
        #expect(health.retryInSeconds == 1)
    }
}
