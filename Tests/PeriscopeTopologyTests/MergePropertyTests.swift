import PeriscopeFixtures
import Testing
@testable import PeriscopeTopology

@Suite struct MergePropertyTests {
    static let seeds: [UInt64] = Array(1...300)

    @Test(arguments: seeds) func mergeIsCommutativeAssociativeIdempotent(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let a = RandomReports.report(&rng), b = RandomReports.report(&rng), c = RandomReports.report(&rng)
        #expect(a.merged(with: b) == b.merged(with: a))
        #expect(a.merged(with: b).merged(with: c) == a.merged(with: b.merged(with: c)))
        #expect(a.merged(with: a) == a)
        #expect(a.merged(with: Report()) == a)
        let ab = a.merged(with: b)
        #expect(ab.merged(with: b) == ab)
    }

    @Test func latestTiesAreBrokenByValue() {
        var x = LatestMap(), y = LatestMap()
        x.set("k", "apple", at: 5)
        y.set("k", "pear", at: 5)
        var xy = x; xy.merge(y)
        var yx = y; yx.merge(x)
        #expect(xy == yx)
        #expect(xy["k"] == "pear")
        var older = LatestMap(); older.set("k", "zzz", at: 4)
        xy.merge(older)
        #expect(xy["k"] == "pear")
    }

    @Test func metricHistoryKeepsNewestSixtyAndMaxOnTies() {
        var h = MetricHistory()
        for t in 0..<100 { h.append(MetricSample(timestamp: Double(t), value: Double(t))) }
        #expect(h.samples.count == 60)
        #expect(h.samples.first?.timestamp == 40)
        #expect(h.samples.last?.timestamp == 99)
        var other = MetricHistory([MetricSample(timestamp: 99, value: 1000), MetricSample(timestamp: 10, value: 1)])
        other.merge(h)
        #expect(other.samples.count == 60)
        #expect(other.last?.value == 1000)
        #expect(other.samples.first?.timestamp == 40)
        h.append(MetricSample(timestamp: .nan, value: 1))
        #expect(h.samples.count == 60)
    }

    @Test func rateIsPerSecondBetweenTheNewestTwo() {
        let h = MetricHistory([MetricSample(timestamp: 1, value: 100), MetricSample(timestamp: 3, value: 500)])
        #expect(h.ratePerSecond == 200)
        let reset = MetricHistory([MetricSample(timestamp: 1, value: 500), MetricSample(timestamp: 2, value: 5)])
        #expect(reset.ratePerSecond == nil)
    }
}
