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

    /// The processes of a tree, as a pass lists them (open-fd counts read from the tree now).
    static func records(_ root: String) throws -> [ProcessRecord] {
        let fm = FileManager.default
        return try fm.contentsOfDirectory(atPath: root).compactMap(Int32.init).sorted().map { pid in
            let fds = try fm.contentsOfDirectory(atPath: "\(root)/\(pid)/fd").count
            return ProcessRecord(pid: pid, ppid: 1, name: "p", command: "p", startTime: 1, openFDs: fds, netns: 1)
        }
    }

    /// A socket found in one process (the busiest), which then exits while another process, scanned after the
    /// search began and before it got the socket (by a dup over one of its fds: same count), holds it: the search
    /// starts afresh and finds the new holder within two passes (a search resumed from its old start would skip it
    /// and give up until the retry, 10 s later).
    @Test func anOwnerThatExitsRestartsTheSearch() throws {
        let root = try Self.makeRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let fm = FileManager.default
        let a = 1000, b = 1001
        for n in Self.fdsEach..<(Self.fdsEach + 50) {  // `a` is the busiest socket holder, then `b`
            try fm.createSymbolicLink(atPath: "\(root)/\(a)/fd/\(n)", withDestinationPath: "socket:[\(Self.inode(0, n))]")
            if n < Self.fdsEach + 20 {
                try fm.createSymbolicLink(atPath: "\(root)/\(b)/fd/\(n)", withDestinationPath: "socket:[\(Self.inode(1, n))]")
            }
        }
        var held: [SocketRecord] = []
        for name in try fm.contentsOfDirectory(atPath: root) {
            for fd in try fm.contentsOfDirectory(atPath: "\(root)/\(name)/fd") {
                let link = try fm.destinationOfSymbolicLink(atPath: "\(root)/\(name)/fd/\(fd)")
                held.append(Self.socket(UInt64(link.dropFirst(8).dropLast())!))
            }
        }
        let resolver = OwnerResolver(procRoot: root)
        var sockets = held
        resolver.resolve(sockets: &sockets, processes: try Self.records(root))
        #expect(sockets.allSatisfy { $0.pid != nil })

        // A new socket in `a` (over fd 0: same count), while `b` opens another file (read again by step 1).
        let x: UInt64 = 999_999
        try fm.removeItem(atPath: "\(root)/\(a)/fd/0")
        try fm.createSymbolicLink(atPath: "\(root)/\(a)/fd/0", withDestinationPath: "socket:[\(x)]")
        try fm.createSymbolicLink(atPath: "\(root)/\(b)/fd/\(Self.fdsEach + 50)", withDestinationPath: "/dev/null")
        held = held.filter { $0.inode != Self.inode(0, 0) } + [Self.socket(x)]
        var owner: Int32?
        for _ in 0..<3 where owner == nil {
            sockets = held
            resolver.resolve(sockets: &sockets, processes: try Self.records(root))
            owner = sockets.last?.pid
        }
        #expect(owner == Int32(a))

        // `b` takes the socket over (over its fd 0) and `a` exits.
        try fm.removeItem(atPath: "\(root)/\(b)/fd/0")
        try fm.createSymbolicLink(atPath: "\(root)/\(b)/fd/0", withDestinationPath: "socket:[\(x)]")
        try fm.removeItem(atPath: "\(root)/\(a)")
        let gone = Set(held.filter { $0.inode / 1000 == 100 }.map(\.inode)).union([Self.inode(1, 0)])
        held = held.filter { !gone.contains($0.inode) }
        var owners: [Int32?] = []
        for _ in 0..<2 {
            sockets = held
            resolver.resolve(sockets: &sockets, processes: try Self.records(root))
            owners.append(sockets.last?.pid)
        }
        #expect(owners.last == Int32(b), "owners over two passes after the exit: \(owners)")
    }
}
