import Testing
@testable import PeriscopeServer

/// The report bus's rule for host ids: a host publishes to `periscope.report.<host id>`, so its id must be a
/// valid NATS subject token sequence (no wildcards, no spaces, no empty tokens).
@Suite struct BusConfigurationTests {
    @Test func hostnamesAndDottedNamesAreSubjects() {
        for host in ["web1", "db-2", "node_3", "web1.example.com", "A9"] {
            #expect(BusConfiguration.subjectViolation(host: host) == nil, "\(host)")
        }
    }

    @Test func wildcardsSpacesAndEmptyTokensAreRefused() {
        for host in ["", "a b", "*", "web>", "web.*", ".web", "web.", "a..b", "tab\there", "émile",
                     String(repeating: "a", count: 254)] {
            #expect(BusConfiguration.subjectViolation(host: host) != nil, "\(host)")
        }
    }

    @Test func defaultsMatchTheSpec() {
        let bus = BusConfiguration()
        #expect(!bus.isEnabled && !bus.aggregate)
        #expect(bus.stream == "PERISCOPE_REPORTS" && bus.subjectPrefix == "periscope.report")
        #expect(bus.replicas == 3 && bus.keepPerHost == 30 && bus.maxAgeSeconds == 3600 && bus.maxPendingPublishes == 16)
    }

    @Test func fullReportsComeAtLeastAsOftenAsTheStreamKeepsMessages() {
        #expect(BusConfiguration.fullEvery(kept: 1) == 1)  // a stream of the first bus version: full reports only
        #expect(BusConfiguration.fullEvery(kept: 8) == 8)
        #expect(BusConfiguration.fullEvery(kept: 0) == BusConfiguration.defaultKeep)  // no limit: the default cadence
    }

    @Test func refusedLoginsWaitDoublingFromOneSecondToAMinute() {
        let waits = (0..<9).map { BusConfiguration.refusalWaitMillis(after: $0) }
        #expect(waits == [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000])
        #expect(BusConfiguration.refusalWaitMillis(after: 1_000_000) == 60_000)
    }
}
