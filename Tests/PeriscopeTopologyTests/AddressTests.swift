import PeriscopeFixtures
import Testing
@testable import PeriscopeTopology

@Suite struct AddressTests {
    @Test func parsesAndClassifies() throws {
        let v4 = try #require(IPAddress("192.168.1.20"))
        #expect(v4.family == .ipv4 && v4.isPrivate && !v4.isLoopback)
        #expect(IPAddress("::ffff:10.0.0.1") == IPAddress("10.0.0.1"))
        #expect(IPAddress("::1")?.isLoopback == true)
        #expect(IPAddress("fe80::1%eth0")?.isLinkLocal == true)
        #expect(IPAddress("fd00::5")?.isPrivate == true)
        #expect(IPAddress("2001:db8::1")?.isPrivate == false)
        #expect(IPAddress("93.184.216.34")?.isPrivate == false)
        #expect(IPAddress("100.64.1.1")?.isPrivate == true)
        #expect(IPAddress("2001:db8::1")?.description == "2001:db8:0:0:0:0:0:1")
        for bad in ["", "1.2.3", "1.2.3.256", "::1::", "1:2:3:4:5:6:7:8:9", "abc", "12345::", "1.2.3.4.5"] {
            #expect(IPAddress(bad) == nil, "\(bad)")
        }
        let net = try #require(IPNetwork(cidr: "10.200.0.1/24"))
        #expect(net.contains(try #require(IPAddress("10.200.0.77"))))
        #expect(!net.contains(try #require(IPAddress("10.200.1.1"))))
        let v6net = try #require(IPNetwork(cidr: "fd00:1::1/64"))
        #expect(v6net.contains(try #require(IPAddress("fd00:1::abcd"))))
        #expect(IPNetwork(cidr: "10.0.0.0/33") == nil)
    }

    @Test func scopesFollowTheRule() {
        let scoper = AddressScoper(hostID: "h1", snapshot: Fixtures.scenario())
        // Namespace-local: host and namespace.
        #expect(scoper.scope(of: "127.0.0.1", netns: 1) == "h1/1")
        #expect(scoper.scope(of: "::1", netns: 2) == "h1/2")
        #expect(scoper.scope(of: "fe80::1", netns: 1) == "h1/1")
        // Host-internal: an address of another namespace, and the root side of its subnet.
        #expect(scoper.scope(of: "10.200.0.2", netns: 1) == "h1")
        #expect(scoper.scope(of: "10.200.0.1", netns: 1) == "h1")
        #expect(scoper.scope(of: "10.200.0.1", netns: 2) == "h1")
        // Global: the host's own root-namespace address and remote peers.
        #expect(scoper.scope(of: "192.168.1.10", netns: 1) == "")
        #expect(scoper.scope(of: "192.168.1.20", netns: 1) == "")
        #expect(scoper.scope(of: "93.184.216.34", netns: 1) == "")
    }

    @Test func endpointIDsRoundTrip() {
        let ids = [EndpointID(scope: "", address: "10.0.0.1", port: 80, proto: .tcp),
                   EndpointID(scope: "h;odd/4", address: "::1", port: 9000, proto: .udp)]
        for id in ids { #expect(EndpointID(id.id) == id) }
        #expect(EndpointID("nonsense") == nil)
        #expect(EndpointID(";1.2.3.4;99999;tcp") == nil)
        #expect(ids[1].scopeHost == "h;odd")
        #expect(ids[1].addressAndPort == "[::1]:9000")
    }
}
