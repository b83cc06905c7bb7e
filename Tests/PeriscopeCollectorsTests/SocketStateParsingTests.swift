import Testing
@testable import PeriscopeCollectors
import PeriscopeTopology

private let sampleFormat = """
name: inet_sock_set_state
ID: 2287
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:const void * skaddr;\toffset:8;\tsize:8;\tsigned:0;
\tfield:int oldstate;\toffset:16;\tsize:4;\tsigned:1;
\tfield:int newstate;\toffset:20;\tsize:4;\tsigned:1;
\tfield:__u16 sport;\toffset:24;\tsize:2;\tsigned:0;
\tfield:__u16 dport;\toffset:26;\tsize:2;\tsigned:0;
\tfield:__u16 family;\toffset:28;\tsize:2;\tsigned:0;
\tfield:__u16 protocol;\toffset:30;\tsize:2;\tsigned:0;
\tfield:__u8 saddr[4];\toffset:32;\tsize:4;\tsigned:0;
\tfield:__u8 daddr[4];\toffset:36;\tsize:4;\tsigned:0;
\tfield:__u8 saddr_v6[16];\toffset:40;\tsize:16;\tsigned:0;
\tfield:__u8 daddr_v6[16];\toffset:56;\tsize:16;\tsigned:0;

print fmt: "family=%s protocol=%s", REC->family, REC->protocol
"""

/// The pure parts of the socket state monitor: format parsing, pid trust, per-socket tracking.
extension KernelTests.SocketStateMonitorTests {
    @Test func tracepointFormatParsesFieldsAndPidTrust() throws {
        let fields = TracepointFormat.parse(sampleFormat)
        #expect(fields["skaddr"] == TracepointField(offset: 8, size: 8, signed: false))
        #expect(fields["oldstate"] == TracepointField(offset: 16, size: 4, signed: true))
        #expect(fields["saddr_v6"] == TracepointField(offset: 40, size: 16, signed: false))
        let layout = try InetSockSetStateLayout(fields: fields)
        #expect(layout.daddr.offset == 36 && layout.flags?.offset == 2)
        var missing = fields
        missing["dport"] = nil
        #expect(throws: CollectorError.self) { try InetSockSetStateLayout(fields: missing) }

        // connect in process context: trusted; the same transition flagged as softirq: not.
        #expect(SocketStateDecoder.pidIsTrustworthy(old: 7, new: 2, flags: 0))
        #expect(!SocketStateDecoder.pidIsTrustworthy(old: 7, new: 2, flags: 0x10))
        #expect(!SocketStateDecoder.pidIsTrustworthy(old: 2, new: 1, flags: 0))        // handshake: softirq
        #expect(SocketStateDecoder.pidIsTrustworthy(old: 1, new: 4, flags: nil))
        #expect(!SocketStateDecoder.pidIsTrustworthy(old: 1, new: 7, flags: nil))       // RST or abort: unknown
    }

    @Test func socketStateTrackerFillsConnectPortAndCarriesOwner() {
        func event(_ old: String, _ new: String, port: UInt16, pid: Int32?) -> SocketStateEvent {
            SocketStateEvent(timestamp: 0, pid: pid, family: .ipv4, proto: .tcp, localAddress: "10.0.0.1",
                             localPort: port, remoteAddress: "10.0.0.2", remotePort: 80, oldState: old, newState: new)
        }
        let tracker = SocketStateTracker(holdNanos: 1000)
        var out: [SocketStateTracker.Held] = []
        // Held until the follow-up, then delivered first with its port.
        tracker.process(socket: 1, time: 10, event: event("close", "syn-sent", port: 0, pid: 42), into: &out)
        #expect(out.isEmpty && tracker.nextDeadline(now: 10) == 1)
        tracker.process(socket: 1, time: 20, event: event("syn-sent", "established", port: 5555, pid: nil), into: &out)
        #expect(out.map(\.event.localPort) == [5555, 5555])
        #expect(out.map(\.event.pid) == [42, 42])
        out.removeAll()
        tracker.process(socket: 1, time: 30, event: event("established", "close", port: 5555, pid: nil), into: &out)
        #expect(out.first?.event.pid == 42)
        out.removeAll()
        // The address is free again: a new socket there has no owner.
        tracker.process(socket: 1, time: 40, event: event("syn-recv", "established", port: 80, pid: nil), into: &out)
        #expect(out.first?.event.pid == nil)
        out.removeAll()
        // Follow-up read before its syn-sent (another CPU's ring): the late syn-sent still gets the port.
        tracker.process(socket: 2, time: 60, event: event("syn-sent", "established", port: 6000, pid: nil), into: &out)
        tracker.process(socket: 2, time: 50, event: event("close", "syn-sent", port: 0, pid: 7), into: &out)
        #expect(out.map(\.event.localPort) == [6000, 6000] && out.last?.event.pid == 7)
        out.removeAll()
        // No follow-up within the hold: delivered with port 0.
        tracker.process(socket: 3, time: 100, event: event("close", "syn-sent", port: 0, pid: 9), into: &out)
        tracker.flush(before: 500, into: &out)
        #expect(out.isEmpty)
        tracker.flush(before: 1100, into: &out)
        #expect(out.map(\.event.localPort) == [0] && tracker.nextDeadline(now: 1100) == nil)
    }
}
