/// Carries a loop-confined value across a `@Sendable` boundary, to be unwrapped only on its loop.
///
/// The loop's classes (connections, sessions) are not thread-safe; they may only be touched on the
/// loop thread. A closure handed to ``EventLoop/execute(_:)`` from a worker thread captures them
/// through `LoopBound`, and the `value` accessor checks (in debug builds) that it runs on the loop.
public struct LoopBound<Value>: @unchecked Sendable {
    private let stored: Value
    private let loop: EventLoop

    public init(_ value: Value, loop: EventLoop) {
        self.stored = value
        self.loop = loop
    }

    /// The value. - Important: loop thread only.
    public var value: Value {
        assert(loop.isInLoopThread, "LoopBound value used off its loop thread")
        return stored
    }
}
