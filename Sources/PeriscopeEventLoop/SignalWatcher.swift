import Glibc
import CLibevent

/// Delivers a Unix signal to a handler on the loop thread (libevent's self-pipe signal handling).
///
/// - Important: create and cancel only on the loop thread.
public final class SignalWatcher {
    private var event: OpaquePointer?
    private let handler: (Int32) -> Void
    public let signal: Int32
    /// Held so the `event_base` outlives this object's libevent resources (they are freed in `deinit`).
    private let loop: EventLoop

    public init(loop: EventLoop, signal: Int32, handler: @escaping (Int32) -> Void) throws {
        self.loop = loop
        self.signal = signal
        self.handler = handler
        let context = Unmanaged.passUnretained(self).toOpaque()
        guard let event = periscope_evsignal_new(loop.base, signal, { fd, _, context in
            guard let context else { return }
            let watcher = Unmanaged<SignalWatcher>.fromOpaque(context).takeUnretainedValue()
            watcher.handler(Int32(fd))
        }, context) else {
            throw EventLoopError("could not watch signal \(signal)")
        }
        self.event = event
        event_add(event, nil)
    }

    deinit { cancel() }

    /// Stops watching; the signal's default disposition is restored by libevent.
    public func cancel() {
        if let event {
            event_del(event)
            event_free(event)
        }
        event = nil
    }
}
