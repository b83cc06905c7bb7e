import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Spawning real child processes for the tests.
enum TestProcesses {
    /// posix_spawn with raw argv bytes (so arguments may be invalid UTF-8). Returns the child pid. `fds` are
    /// further descriptors the child gets: (the parent's fd, the number it has in the child); other descriptors
    /// above those are closed in the child.
    static func spawn(_ argv: [[UInt8]], stdout: Int32? = nil, stdin: Int32? = nil,
                      fds: [(Int32, Int32)] = []) throws -> pid_t {
        signal(SIGPIPE, SIG_IGN)    // a write to a child that died fails the test with EPIPE, not the whole run
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { bytes in
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            for (i, b) in bytes.enumerated() { p[i] = CChar(bitPattern: b) }
            p[bytes.count] = 0
            return p
        }
        cArgs.append(nil)
        defer { for p in cArgs { p?.deallocate() } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdout { posix_spawn_file_actions_adddup2(&actions, stdout, 1) }
        if let stdin { posix_spawn_file_actions_adddup2(&actions, stdin, 0) }
        for (parent, child) in fds { posix_spawn_file_actions_adddup2(&actions, parent, child) }
        // Nothing else: without this the child inherits every descriptor of the test process, among them other
        // tests' pipe ends, and a reader waiting for EOF on such a pipe waits for unrelated children too.
        if let closeFrom = addCloseFrom {
            _ = closeFrom(&actions, max(3, (fds.map { $0.1 }.max() ?? 0) + 1))
        }
        var pid: pid_t = 0
        guard let path = cArgs.first ?? nil else { throw TestSockets.Failure(description: "empty argv") }
        let rc = posix_spawn(&pid, path, &actions, nil, cArgs, environ)
        guard rc == 0 else { throw TestSockets.Failure(description: "posix_spawn: \(rc)") }
        return pid
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which Swift's Glibc module does not export.
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32)
                                      -> Int32)? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map {
        unsafeBitCast($0, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32)
                               -> Int32).self)
    }

    static func spawn(_ args: [String], stdout: Int32? = nil, stdin: Int32? = nil,
                      fds: [(Int32, Int32)] = []) throws -> pid_t {
        try spawn(args.map { Array($0.utf8) }, stdout: stdout, stdin: stdin, fds: fds)
    }

    /// Kills and reaps a child.
    static func kill(_ pid: pid_t) {
        _ = Glibc.kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }

    /// Runs a command to completion; returns exit status (128 + the signal when one killed it) and stdout.
    /// Through ``spawn(_:stdout:stdin:fds:)`` and `waitpid`, not Foundation's `Process`: its
    /// `waitUntilExit()` once waited forever for a child (`ip netns add`) that had exited, in a fresh-clone CI run
    /// (the same stuck `run` as stop 21's TSan hang).
    @discardableResult
    static func run(_ path: String, _ args: [String]) throws -> (status: Int32, output: String) {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw TestSockets.Failure(description: "pipe: \(errno)") }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        let devNull = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { if devNull >= 0 { close(devNull) } }
        let pid: pid_t
        do {
            pid = try spawn([path] + args, stdout: ends[1], fds: devNull >= 0 ? [(devNull, Int32(2))] : [])
        } catch {
            close(ends[0]); close(ends[1])
            throw error
        }
        close(ends[1])
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = read(ends[0], &buffer, buffer.count)
            if n > 0 {
                output.append(contentsOf: buffer[..<n])
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                break
            }
        }
        close(ends[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7f
        return (signal == 0 ? (status >> 8) & 0xff : 128 + signal, String(decoding: output, as: UTF8.self))
    }

    /// Polls `condition` every 50 ms for up to `seconds`.
    static func eventually(seconds: Double = 5, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    /// A fresh network namespace (`ip netns add`) named `prefix` plus a random number, its loopback up, and its
    /// inode; remove it with ``deleteNetns(_:)``. Needs root.
    static func makeNetns(prefix: String) throws -> (name: String, inode: UInt64) {
        let name = "\(prefix)\(UInt32.random(in: 0..<UInt32.max))"
        guard try run("/usr/sbin/ip", ["netns", "add", name]).status == 0 else {
            throw TestSockets.Failure(description: "ip netns add \(name) failed")
        }
        var st = stat()
        guard stat("/var/run/netns/\(name)", &st) == 0 else {
            deleteNetns(name)
            throw TestSockets.fail("stat /var/run/netns/\(name)")
        }
        try run("/usr/sbin/ip", ["netns", "exec", name, "ip", "link", "set", "lo", "up"])
        return (name, UInt64(st.st_ino))
    }

    /// Removes a namespace made by ``makeNetns(prefix:)``.
    static func deleteNetns(_ name: String) {
        _ = try? run("/usr/sbin/ip", ["netns", "del", name])
    }
}
