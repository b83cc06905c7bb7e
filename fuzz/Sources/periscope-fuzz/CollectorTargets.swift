import CPeriscopeLinux
import PeriscopeProtocol
@testable import PeriscopeCollectors
#if canImport(Glibc)
import Glibc
#endif

/// `engine`: byte 0 picks the reader, the rest is what the container engine sent.
/// 0: a whole response (`request`: head, chunked/sized/read-to-close body), its body as JSON, an inspect record;
/// 1: a followed stream (`EngineStream`: head, then chunks or raw reads, optionally multiplexed) split into
///    event lines; 2: the multiplexed framing alone, whole and in pieces (same payload either way);
/// 3: an RFC 3339 time.
func fuzzEngine(_ input: [UInt8]) {
    guard let selector = input.first else { return }
    let data = Array(input.dropFirst())
    switch selector % 4 {
    case 0:
        var reader = HTTPReader(bytes: data)
        guard let response = try? UnixHTTPClient.readResponse(&reader, method: "GET") else { return }
        _ = ContainerEngine.message(response.body)
        if let json = try? JSONParser().parse(response.body) {
            _ = ContainerEngine.record(fromInspect: json)
            for item in json.arrayValue ?? [] { _ = ContainerEngine.record(fromInspect: item) }
        }
    case 1:
        var reader = HTTPReader(bytes: data)
        guard let (_, headers) = try? reader.readHead() else { return }
        let chunked = headers["transfer-encoding"]?.lowercased().contains("chunked") == true
        let stream = EngineStream(fd: -1, reader: reader, chunked: chunked, multiplexed: selector & 4 != 0)
        var pending: [UInt8] = []
        var total = 0
        while let bytes = try? stream.read() {
            total += bytes.count
            fuzzCheck(total <= data.count, "a stream gave more payload than the engine sent")
            pending += bytes
            while let newline = pending.firstIndex(of: 0x0A) {
                _ = ContainerEngine.event(fromLine: Array(pending[..<newline]))
                pending.removeSubrange(...newline)
            }
        }
    case 2:
        var whole = MultiplexDemuxer()
        let once = whole.feed(data)
        var split = MultiplexDemuxer()
        var many: [UInt8] = []
        for piece in pieces(of: data[...], seed: selector) { many += split.feed(Array(piece)) }
        fuzzCheck(once == many, "demultiplexing depends on the read boundaries")
        fuzzCheck(once.count <= data.count, "demultiplexing made up bytes")
    default:
        _ = ContainerEngine.parseTime(String(decoding: data, as: UTF8.self))
    }
}

/// Copies `bytes` into 8-byte aligned memory (netlink headers are read in place, as from a recv buffer).
private func withAligned<R>(_ bytes: ArraySlice<UInt8>, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    let storage = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 8)
    defer { storage.deallocate() }
    bytes.withUnsafeBytes { if let base = $0.baseAddress { storage.copyMemory(from: base, byteCount: $0.count) } }
    return body(UnsafeRawBufferPointer(start: storage, count: bytes.count))
}

/// `netlink`: byte 0 picks the parser, byte 1 the dump's sequence number; the rest is one received buffer.
/// 0/1: a sock_diag dump of TCP/UDP sockets, then turned into records as the collector does;
/// 2: an rtnetlink link + address dump; 3: a process connector datagram.
func fuzzNetlink(_ input: [UInt8]) {
    guard input.count >= 2 else { return }
    let seq = UInt32(input[1])
    let names = AddressNames()
    withAligned(input[2...]) { raw in
        switch input[0] % 4 {
        case 0, 1:
            var list = psc_sock_list()
            defer { psc_sock_list_free(&list) }
            let proto = input[0] % 4 == 0 ? UInt8(IPPROTO_TCP) : UInt8(IPPROTO_UDP)
            let rc = psc_sockdiag_parse(raw.baseAddress, raw.count, seq, proto, &list)
            fuzzCheck(rc <= 1, "sock_diag parse returned \(rc)")
            fuzzCheck(list.count * 88 <= raw.count, "more sockets than messages")  // nlmsghdr + inet_diag_msg
            guard let items = list.items else { return }
            for i in 0..<list.count { _ = SocketDiag.record(items[i], netns: 1, names: names) }
        case 2:
            var list = psc_addr_list()
            defer { psc_addr_list_free(&list) }
            _ = psc_route_parse(raw.baseAddress, raw.count, seq, &list)
            guard let items = list.items else { return }
            for i in 0..<list.count {
                let a = items[i]
                _ = withUnsafeBytes(of: a.addr) { AddressText.format(family: Int32(a.family), bytes: $0) }
                fuzzCheck(withUnsafeBytes(of: a.name) { $0.contains(0) }, "interface name not terminated")
            }
        default:
            var events = [psc_proc_event](repeating: psc_proc_event(), count: 16)
            let n = psc_proc_connector_parse(raw.baseAddress, raw.count, &events, Int32(events.count))
            fuzzCheck(n >= 0 && n <= 16, "process connector parse returned \(n)")
        }
    }
}

/// A scratch /proc-like directory for the `proc` target (files rewritten for every input).
private let procScratch: String = {
    var template = Array("/tmp/periscope-fuzz-proc-XXXXXX".utf8CString)
    let path = template.withUnsafeMutableBufferPointer { buffer -> String in
        guard let base = buffer.baseAddress, let made = mkdtemp(base) else { return "/tmp" }
        return String(cString: made)
    }
    return path
}()

private func writeFile(_ path: String, _ bytes: ArraySlice<UInt8>) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return }
    defer { close(fd) }
    bytes.withUnsafeBytes { raw in
        var done = 0
        while done < raw.count {
            let n = write(fd, raw.baseAddress.map { $0 + done }, raw.count - done)
            if n <= 0 { break }
            done += n
        }
    }
}

/// `proc`: byte 0 picks the parser; the rest is file content.
/// 0: /proc/PID/stat; 1: field scanning (ints, doubles, words) and text escaping; 2: a tracefs format file
///    then integer and array fields read from the same bytes as a payload; 3: host files (uptime, loadavg,
///    meminfo, stat) read twice through ``HostFacts`` with ``ProcReader`` (small buffer, so it grows).
func fuzzProc(_ input: [UInt8]) {
    guard let selector = input.first else { return }
    let data = Array(input.dropFirst())
    switch selector % 4 {
    case 0:
        data.withUnsafeBytes { raw in
            if let stat = ProcStat.parse(raw) { fuzzCheck(stat.rssPages >= 0, "negative RSS") }
        }
    case 1:
        data.withUnsafeBytes { raw in
            var scanner = FieldScanner(raw)
            var steps = 0
            while scanner.index < raw.count, steps < 64 {
                switch (selector >> 2 &+ UInt8(truncatingIfNeeded: steps)) % 4 {
                case 0: _ = scanner.int()
                case 1: _ = scanner.double()
                case 2: _ = scanner.word()
                default: scanner.skip(2)
                }
                steps += 1
            }
            let escaped = TextDecoding.escaped(raw)
            fuzzCheck(raw.isEmpty || !escaped.isEmpty, "escaping lost the text")
            _ = TextDecoding.commandLine(raw)
        }
    case 2:
        let fields = TracepointFormat.parse(String(decoding: data, as: UTF8.self))
        data.withUnsafeBytes { raw in
            for field in fields.values {
                _ = TracepointFormat.integer(field, in: raw)
                if let bytes = TracepointFormat.bytes(field, in: raw) { fuzzCheck(bytes.count == field.size, "field size") }
            }
        }
    default:
        // The content is split into the four files at 0xFF bytes.
        let parts = data.split(separator: 0xFF, maxSplits: 3, omittingEmptySubsequences: false)
        let files = ["uptime", "loadavg", "meminfo", "stat"]
        for (n, file) in files.enumerated() { writeFile("\(procScratch)/\(file)", n < parts.count ? parts[n] : []) }
        let facts = HostFacts(procRoot: procScratch, reader: ProcReader(capacity: 16))
        _ = facts.read()
        _ = facts.read()
        ProcReader(capacity: 16).withFile("\(procScratch)/meminfo") { raw in
            fuzzCheck(Array(raw) == Array(parts.count > 2 ? parts[2] : []), "ProcReader changed the bytes")
        }
    }
}
