import Foundation
import PeriscopeTopology
import Testing
@testable import PeriscopeCollectors

/// The owner search over a `/proc`-like tree of real symlinks (`PID/fd/N -> socket:[INODE]`): a search for an
/// inode no process holds, larger than one pass's readlink budget, completes over a few passes and then backs off
/// instead of spending the budget on every pass.
@Suite struct OwnerSearchTests {
    static let processes = 60, fdsEach = 100

    /// A temporary proc root with `processes` processes of `fdsEach` socket fds each.
    static func makeRoot() throws -> String {
        let root = NSTemporaryDirectory() + "owner-search-\(getpid())-\(UInt64.random(in: 0..<UInt64.max))"
        let fm = FileManager.default
        for p in 0..<processes {
            let fd = "\(root)/\(1000 + p)/fd"
            try fm.createDirectory(atPath: fd, withIntermediateDirectories: true)
            for n in 0..<fdsEach {
                try fm.createSymbolicLink(atPath: "\(fd)/\(n)", withDestinationPath: "socket:[\(inode(p, n))]")
            }
        }
        return root
    }

    static func inode(_ p: Int, _ n: Int) -> UInt64 { UInt64(100_000 + p * 1000 + n) }

    static func socket(_ inode: UInt64) -> SocketRecord {
        SocketRecord(proto: .tcp, family: .ipv4, state: "established", localAddress: "127.0.0.1",
                     localPort: UInt16(inode % 60000), remoteAddress: "127.0.0.1", remotePort: 80, inode: inode,
                     uid: 0, netns: 1)
    }

    @Test func searchLargerThanTheBudgetCompletesThenBacksOff() throws {
        let root = try Self.makeRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let resolver = OwnerResolver(procRoot: root)
        let records = (0..<Self.processes).map {
            ProcessRecord(pid: Int32(1000 + $0), ppid: 1, name: "p", command: "p", startTime: 1, openFDs: Self.fdsEach,
                          netns: 1)
        }
        var held: [SocketRecord] = []
        for p in 0..<Self.processes { for n in 0..<Self.fdsEach { held.append(Self.socket(Self.inode(p, n))) } }
        var sockets = held
        resolver.resolve(sockets: &sockets, processes: records)  // every process is new: all scanned once
        #expect(sockets.allSatisfy { $0.pid != nil })
        #expect(sockets[150].pid == 1001)
        let total = Self.processes * Self.fdsEach
        #expect(resolver.lastReadlinks == total)

        // A socket nobody holds appears: the search waits a pass (step 1 finds most new sockets then), takes two
        // passes (budget), then stops.
        var readlinks: [Int] = []
        for _ in 0..<5 {
            sockets = held + [Self.socket(999_999)]
            resolver.resolve(sockets: &sockets, processes: records)
            readlinks.append(resolver.lastReadlinks)
            #expect(sockets.last?.pid == nil)
            #expect(sockets.dropLast().allSatisfy { $0.pid != nil })
        }
        #expect(readlinks[0] == 0)
        #expect(readlinks[1] >= OwnerResolver.stepTwoReadlinkBudget && readlinks[1] < total)
        #expect(readlinks[1] + readlinks[2] == total)  // every process once, none twice
        #expect(readlinks[3] == 0 && readlinks[4] == 0)  // given up until its retry time
    }
}
