/// A small seeded random generator (SplitMix64) for property tests: the same seed gives the same
/// sequence on every run and machine, so a failure names the seed that reproduces it.
public struct SplitMix64: RandomNumberGenerator {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// A number in `0..<n` (0 when `n` is 0 or less).
    public mutating func int(_ n: Int) -> Int { Int(next() % UInt64(max(1, n))) }

    public mutating func bool() -> Bool { next() & 1 == 1 }

    /// One element of `xs`, which must not be empty.
    public mutating func pick<T>(_ xs: [T]) -> T { xs[int(xs.count)] }
}
