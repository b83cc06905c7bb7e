import Foundation
import Testing
@testable import PeriscopeCollectors
#if canImport(Glibc)
import Glibc
#endif

/// Pure parsing: no kernel needed.
@Suite struct ParsingTests {
    @Test func validUTF8PassesThrough() {
        #expect(TextDecoding.escaped(Array("héllo ✓ 🚀".utf8)) == "héllo ✓ 🚀")
    }

    @Test func invalidBytesAreEscaped() {
        #expect(TextDecoding.escaped([0x61, 0xFF, 0x62]) == "a\\xFFb")
        #expect(TextDecoding.escaped([0xC3]) == "\\xC3")                       // truncated sequence
        #expect(TextDecoding.escaped([0xED, 0xA0, 0x80]) == "\\xED\\xA0\\x80")  // surrogate
        #expect(TextDecoding.escaped([0xC0, 0xAF]) == "\\xC0\\xAF")             // overlong
        #expect(TextDecoding.escaped([0xE2, 0x9C, 0x93, 0x80]) == "✓\\x80")
        // A literal backslash is doubled, so the text `\xFF` differs from the byte 0xFF.
        #expect(TextDecoding.escaped(Array("a\\xFF".utf8)) == "a\\\\xFF")
        #expect(TextDecoding.escaped(Array("a\\xFF".utf8)) != TextDecoding.escaped([0x61, 0xFF]))
    }

    @Test func commandLineJoinsArguments() {
        let raw: [UInt8] = Array("/bin/sleep".utf8) + [0] + Array("30".utf8) + [0, 0xFE, 0x41, 0]
        let text = raw.withUnsafeBytes { TextDecoding.commandLine($0) }
        #expect(text == "/bin/sleep 30 \\xFEA")
        #expect([UInt8]().withUnsafeBytes { TextDecoding.commandLine($0) } == "")
    }

    @Test func statLineWithParenthesesInName() throws {
        let line = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 98765 "
            + "123456 789 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
        let stat = try #require(Array(line.utf8).withUnsafeBytes { ProcStat.parse($0) })
        #expect(stat.name == "my (odd) name")
        #expect(stat.state == "S")
        #expect(stat.ppid == 1)
        #expect(stat.cpuTicks == 300)
        #expect(stat.threads == 3)
        #expect(stat.startTicks == 98765)
        #expect(stat.rssPages == 789)
        #expect(Array("garbage".utf8).withUnsafeBytes { ProcStat.parse($0) } == nil)
    }

    /// Found with the `proc` fuzz target: huge utime + stime, tracepoint offsets and /proc/stat CPU counters
    /// overflowed and trapped (fuzz/corpus/proc/regression-*).
    @Test func absurdNumbersDoNotTrap() throws {
        let line = "42 (x) S 1 0 0 0 0 0 0 0 0 0 9223372036854775807 1 0 0 20 0 4 0 1 1 1\n"
        let stat = try #require(Array(line.utf8).withUnsafeBytes { ProcStat.parse($0) })
        #expect(stat.cpuTicks == .max)

        let fields = TracepointFormat.parse("\tfield:int a;\toffset:9223372036854775807;\tsize:4;\tsigned:1;\n")
        let field = try #require(fields["a"])
        [UInt8](repeating: 1, count: 16).withUnsafeBytes { raw in
            #expect(TracepointFormat.integer(field, in: raw) == nil)
            #expect(TracepointFormat.bytes(field, in: raw) == nil)
        }

        let root = FileManager.default.temporaryDirectory.appendingPathComponent("periscope-\(getpid())-absurd").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try "cpu  9223372036854775807 9223372036854775807 0 0 0 0 0 0\nbtime 5\n"
            .write(toFile: "\(root)/stat", atomically: false, encoding: .utf8)
        try "MemTotal: 9223372036854775807 kB\n".write(toFile: "\(root)/meminfo", atomically: false, encoding: .utf8)
        let facts = HostFacts(procRoot: root, reader: ProcReader())
        _ = facts.read()
        let record = facts.read()
        #expect((0...100).contains(record.cpuPercent))
        #expect(record.memoryTotalBytes == .max)
        #expect(facts.bootTime == 5)
    }

    @Test func socketLinkParsing() {
        #expect(Array("socket:[12345]".utf8).withUnsafeBytes { OwnerResolver.socketInode($0) } == 12345)
        #expect(Array("pipe:[12345]".utf8).withUnsafeBytes { OwnerResolver.socketInode($0) } == nil)
        #expect(Array("socket:[]".utf8).withUnsafeBytes { OwnerResolver.socketInode($0) } == nil)
        #expect(Array("/dev/null".utf8).withUnsafeBytes { OwnerResolver.socketInode($0) } == nil)
    }

    @Test func v4MappedAddressesBecomeIPv4() {
        let mapped: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 10, 1, 2, 3]
        #expect(mapped.withUnsafeBytes { AddressText.format(family: AF_INET6, bytes: $0) } == "10.1.2.3")
        let loopback: [UInt8] = Array(repeating: 0, count: 15) + [1]
        #expect(loopback.withUnsafeBytes { AddressText.format(family: AF_INET6, bytes: $0) } == "::1")
        #expect(([127, 0, 0, 1] as [UInt8]).withUnsafeBytes { AddressText.format(family: AF_INET, bytes: $0) } == "127.0.0.1")
    }

    @Test func cgroupPathPrefersV2() {
        let v2 = Array("0::/system.slice/ssh.service\n".utf8)
        #expect(v2.withUnsafeBytes { ProcessScanner.cgroupPath($0) } == "/system.slice/ssh.service")
        let v1 = Array("12:pids:/user.slice\n11:cpu:/x\n".utf8)
        #expect(v1.withUnsafeBytes { ProcessScanner.cgroupPath($0) } == "/user.slice")
    }

    @Test func tcpStateNames() {
        #expect(SocketDiag.tcpStateName(1) == "established")
        #expect(SocketDiag.tcpStateName(10) == "listen")
        #expect(SocketDiag.tcpStateName(6) == "time-wait")
    }
}
