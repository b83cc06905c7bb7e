import Foundation
import PeriscopeTopology
import Testing
@testable import PeriscopeCollectors
#if canImport(Glibc)
import Glibc
#endif

/// The owner search against real processes and sockets: a socket that one process gets after the pass read its
/// fd count, then hands to another process and closes (what `nc -ll -e cat` does with each accepted connection:
/// the listener accepts, its child serves, the listener closes its copy) ends up owned by the process that holds
/// it, not by the one that held it when it was first found.
@Suite struct OwnerHandoverTests {
    /// A child that holds fds on command (one line on stdin, one line of answer on stdout): `open` a UDP socket
    /// as fd 100 (prints its inode), `give` fd 100 to the peer over fd 3, `take` it from the peer as fd 100,
    /// `drop` fd 100.
    static let script = """
        import os, socket, sys
        peer = socket.socket(fileno=3)
        while True:
            cmd = sys.stdin.readline().strip()
            if not cmd:
                break
            if cmd == "open":
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(("127.0.0.1", 0))
                os.dup2(s.fileno(), 100)
                s.close()
                print(os.fstat(100).st_ino, flush=True)
                continue
            if cmd == "give":
                socket.send_fds(peer, [b"x"], [100])
            elif cmd == "take":
                _, fds, _, _ = socket.recv_fds(peer, 1, 1)
                os.dup2(fds[0], 100)
                os.close(fds[0])
            elif cmd == "drop":
                os.close(100)
            print("ok", flush=True)
        """

    final class Child {
        let pid: pid_t
        let input: FileHandle
        let output: FileHandle

        init(peerEnd: Int32) throws {
            let toChild = Pipe(), fromChild = Pipe()
            pid = try TestProcesses.spawn(["/usr/bin/python3", "-c", OwnerHandoverTests.script],
                                          stdout: fromChild.fileHandleForWriting.fileDescriptor,
                                          stdin: toChild.fileHandleForReading.fileDescriptor, fds: [(peerEnd, 3)])
            input = toChild.fileHandleForWriting
            output = fromChild.fileHandleForReading
        }

        /// Sends one command and returns the answer line.
        func send(_ command: String) -> String {
            write(command)
            return answer()
        }

        func write(_ command: String) {
            input.write(Data((command + "\n").utf8))
        }

        func answer() -> String {
            var line = Data()
            while true {
                let byte = output.readData(ofLength: 1)
                if byte.isEmpty || byte == Data("\n".utf8) { break }
                line.append(byte)
            }
            return String(decoding: line, as: UTF8.self)
        }

        /// This process as a pass reads it now (its open-fd count and network namespace).
        var record: ProcessRecord {
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
            return ProcessRecord(pid: pid, ppid: getpid(), name: "python3", command: "python3", startTime: 1,
                                 openFDs: fds, netns: OwnerHandoverTests.netns(pid))
        }

        deinit { TestProcesses.kill(pid) }
    }

    static func netns(_ pid: pid_t) -> UInt64 {
        var st = stat()
        return stat("/proc/\(pid)/ns/net", &st) == 0 ? UInt64(st.st_ino) : 0
    }

    static func socket(_ inode: UInt64, netns: UInt64) -> SocketRecord {
        SocketRecord(proto: .udp, family: .ipv4, state: "unconnected", localAddress: "127.0.0.1",
                     localPort: UInt16(inode % 60000), remoteAddress: "0.0.0.0", remotePort: 0, inode: inode, uid: 0,
                     netns: netns)
    }

    @Test func socketHandedOverAfterTheCountWasReadIsOwnedByItsNewHolder() throws {
        var pair: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0)
        let pairInodes = pair.map { fd in
            var st = stat()
            return fstat(fd, &st) == 0 ? UInt64(st.st_ino) : 0
        }
        let a = try Child(peerEnd: pair[0]), b = try Child(peerEnd: pair[1])
        close(pair[0])
        close(pair[1])
        // The roles go by pid (the owner search prefers the lowest pid of a socket's holders).
        let (first, second) = a.pid < b.pid ? (a, b) : (b, a)
        #expect(first.send("ping") == "ok" && second.send("ping") == "ok")
        let netns = Self.netns(first.pid)
        let resolver = OwnerResolver(procRoot: "/proc")
        var sockets = pairInodes.map { Self.socket($0, netns: netns) }
        resolver.resolve(sockets: &sockets, processes: [first.record, second.record].sorted { $0.pid < $1.pid })
        #expect(Set(sockets.compactMap(\.pid)) == [first.pid, second.pid])

        // The pass reads the processes, then `first` opens a socket (its count was read without it) before the
        // fd search runs: found in `first`.
        let listed = [first.record, second.record].sorted { $0.pid < $1.pid }
        let inode = try #require(UInt64(first.send("open")))
        for _ in 0..<2 {  // a new unknown socket is searched for from its second pass
            sockets = (pairInodes + [inode]).map { Self.socket($0, netns: netns) }
            resolver.resolve(sockets: &sockets, processes: listed)
        }
        #expect(sockets.last?.pid == first.pid)

        // `first` hands it to `second` and closes its copy: `first` is back at the count the last pass listed.
        second.write("take")
        #expect(first.send("give") == "ok")
        #expect(second.answer() == "ok")
        #expect(first.send("drop") == "ok")
        var owners: [Int32?] = []
        for _ in 0..<2 {
            sockets = (pairInodes + [inode]).map { Self.socket($0, netns: netns) }
            resolver.resolve(sockets: &sockets, processes: [first.record, second.record].sorted { $0.pid < $1.pid })
            owners.append(sockets.last?.pid)
        }
        #expect(owners.last == second.pid, "owners over two passes: \(owners), first \(first.pid), second \(second.pid)")
    }
}
