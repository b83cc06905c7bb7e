import Glibc
import PeriscopeClient
import PeriscopeProtocol

/// A real `periscoped` started from the build directory for one test, on a private socket.
final class DaemonProcess {
    let pid: pid_t
    let directory: String
    let socketPath: String
    let tcpPort: UInt16?
    let token: String?

    /// The build directory that holds the executables (next to the test bundle).
    static var binaryDirectory: String {
        if let override = getenv("PERISCOPE_BIN") { return String(cString: override) }
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let exe = count > 0 ? String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
        var directory = exe
        while let slash = directory.lastIndex(of: "/") {
            directory = String(directory[..<slash])
            if access(directory + "/periscoped", X_OK) == 0 { return directory }
        }
        return ".build/debug"
    }

    /// `collectors`: run the host map (topology and subscription methods exist only then).
    init(tcp: Bool = false, collectors: Bool = false, extra: [String] = []) throws {
        var template = Array("/tmp/periscope-swift-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw ClientError(.io, "mkdtemp failed") }
        directory = String(cString: made)
        socketPath = directory + "/d.sock"
        var args = [DaemonProcess.binaryDirectory + "/periscoped", "--socket", socketPath, "--log-level", "error"]
        args += collectors ? ["--refresh-ms", "200"] : ["--no-collectors"]
        if tcp {
            let secret = (0..<4).map { _ in String(UInt32.random(in: 0...UInt32.max), radix: 16) }.joined() + "-token"
            let tokenPath = directory + "/token"
            let file = fopen(tokenPath, "w")
            fputs(secret + "\n", file)
            fclose(file)
            let port = UInt16.random(in: 20000...60000)
            args += ["--listen", "127.0.0.1:\(port)", "--token-file", tokenPath]
            tcpPort = port
            token = secret
        } else {
            tcpPort = nil
            token = nil
        }
        args += extra
        pid = try spawnProcess(args)
        for _ in 0..<400 {
            if access(socketPath, F_OK) == 0 { return }
            usleep(25_000)
        }
        throw ClientError(.io, "periscoped did not create its socket")
    }

    func client(name: String = "swift-test") throws -> RPCClient {
        let client = try RPCClient(socketPath: socketPath)
        try client.initialize(clientName: name)
        return client
    }

    /// Sends SIGTERM and returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return (status >> 8) & 0xFF
    }

    deinit {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, WNOHANG)
    }
}

/// posix_spawn with stdio inherited (or given fds), returns the pid.
func spawnProcess(_ args: [String], stdinFD: Int32? = nil, stdoutFD: Int32? = nil) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if let stdinFD { posix_spawn_file_actions_adddup2(&actions, stdinFD, 0) }
    if let stdoutFD { posix_spawn_file_actions_adddup2(&actions, stdoutFD, 1) }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attributes, &empty)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
    var pid: pid_t = 0
    let cArgs = args.map { strdup($0) } + [nil]
    defer { cArgs.forEach { free($0) } }
    let status = posix_spawn(&pid, args[0], &actions, &attributes, cArgs, environ)
    guard status == 0 else { throw ClientError(.io, "cannot start \(args[0]): \(String(cString: strerror(status)))") }
    return pid
}
