/// One sample of a metric.
public struct MetricSample: Sendable, Hashable, Codable {
    /// Seconds since the Unix epoch.
    public var timestamp: Double
    public var value: Double

    public init(timestamp: Double, value: Double) {
        self.timestamp = timestamp
        self.value = value
    }
}

/// A bounded history of samples (the newest ``capacity``), ordered by timestamp, at most one sample per timestamp.
///
/// Merge is the union by timestamp (on equal timestamps the greater value is kept) truncated to the newest
/// ``capacity`` timestamps: associative, commutative and idempotent. Samples with a non-finite timestamp or
/// value are dropped on entry.
public struct MetricHistory: Sendable, Hashable, Codable {
    /// The most samples a history keeps.
    public static let capacity = 60

    /// Samples in ascending timestamp order.
    public private(set) var samples: [MetricSample]

    /// A history of `samples` in any order; duplicates and overflow are resolved as a merge would.
    public init(_ samples: [MetricSample] = []) {
        self.samples = []
        for sample in samples { append(sample) }
    }

    /// A history holding one sample.
    public init(timestamp: Double, value: Double) {
        self.init([MetricSample(timestamp: timestamp, value: value)])
    }

    /// The newest sample.
    public var last: MetricSample? { samples.last }

    /// Adds one sample (cheap when it is the newest, which is the usual case).
    public mutating func append(_ sample: MetricSample) {
        guard sample.timestamp.isFinite, sample.value.isFinite else { return }
        let s = MetricSample(timestamp: sample.timestamp + 0.0, value: sample.value + 0.0)
        if let last = samples.last, last.timestamp < s.timestamp {
            samples.append(s)
        } else {
            merge(MetricHistory(sorted: [s]))
            return
        }
        if samples.count > Self.capacity { samples.removeFirst(samples.count - Self.capacity) }
    }

    private init(sorted: [MetricSample]) { self.samples = sorted }

    /// Merges `other` into this history in O(n).
    public mutating func merge(_ other: MetricHistory) {
        if other.samples.isEmpty { return }
        if samples.isEmpty { samples = other.samples; return }
        var out: [MetricSample] = []
        out.reserveCapacity(min(samples.count + other.samples.count, Self.capacity * 2))
        var i = 0, j = 0
        let a = samples, b = other.samples
        while i < a.count || j < b.count {
            if j == b.count || (i < a.count && a[i].timestamp < b[j].timestamp) {
                out.append(a[i]); i += 1
            } else if i == a.count || b[j].timestamp < a[i].timestamp {
                out.append(b[j]); j += 1
            } else {
                out.append(MetricSample(timestamp: a[i].timestamp, value: max(a[i].value, b[j].value)))
                i += 1; j += 1
            }
        }
        if out.count > Self.capacity { out.removeFirst(out.count - Self.capacity) }
        samples = out
    }

    /// The newest `count` samples (a policy for callers that want shorter histories, e.g. per connection).
    public func suffix(_ count: Int) -> MetricHistory {
        MetricHistory(sorted: Array(samples.suffix(max(0, count))))
    }

    /// Adds `sample` and keeps the newest `limit` samples: `append` then ``keepLast(_:)``, but when the history
    /// is full and the sample is the newest, the samples shift in place instead of reallocating.
    mutating func push(_ sample: MetricSample, keeping limit: Int) {
        let count = samples.count
        guard count > 0, count == limit, limit <= Self.capacity, sample.timestamp.isFinite, sample.value.isFinite,
              let last = samples.last, last.timestamp < sample.timestamp else {
            append(sample)
            keepLast(limit)
            return
        }
        let s = MetricSample(timestamp: sample.timestamp + 0.0, value: sample.value + 0.0)
        samples.withUnsafeMutableBufferPointer { buffer in
            for i in 1..<buffer.count { buffer[i - 1] = buffer[i] }
            buffer[buffer.count - 1] = s
        }
    }

    /// Drops all but the newest `count` samples, in place (``suffix(_:)`` without a new buffer).
    mutating func keepLast(_ count: Int) {
        let excess = samples.count - max(0, count)
        if excess > 0 { samples.removeFirst(excess) }
    }

    /// The rate of change per second between the two newest samples, when it is defined and not negative
    /// (a counter reset gives `nil`).
    public var ratePerSecond: Double? {
        guard samples.count >= 2 else { return nil }
        let a = samples[samples.count - 2], b = samples[samples.count - 1]
        let dt = b.timestamp - a.timestamp
        guard dt > 0, b.value >= a.value else { return nil }
        return (b.value - a.value) / dt
    }
}
