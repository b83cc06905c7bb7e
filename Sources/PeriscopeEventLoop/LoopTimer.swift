import CLibevent

/// A one-shot or repeating timer on an ``EventLoop``.
///
/// - Important: create, schedule and cancel only on the loop thread. The timer holds its handler
///   until ``cancel()``; a repeating timer keeps firing until then.
public final class LoopTimer {
    private var event: OpaquePointer?
    private let handler: () -> Void
    private var intervalMillis: Int?
    /// Held so the `event_base` outlives this object's libevent resources (they are freed in `deinit`).
    private let loop: EventLoop

    /// Creates a timer that calls `handler` on the loop thread when it fires.
    public init(loop: EventLoop, handler: @escaping () -> Void) {
        self.loop = loop
        self.handler = handler
        let context = Unmanaged.passUnretained(self).toOpaque()
        event = periscope_evtimer_new(loop.base, { _, _, context in
            guard let context else { return }
            Unmanaged<LoopTimer>.fromOpaque(context).takeUnretainedValue().fire()
        }, context)
    }

    deinit {
        if let event { event_free(event) }
    }

    /// Fires once after `millis` milliseconds (replacing any earlier schedule).
    public func schedule(afterMillis millis: Int) {
        intervalMillis = nil
        guard let event else { return }
        periscope_event_add_ms(event, max(0, millis))
    }

    /// Fires every `millis` milliseconds, the first time after `millis`.
    public func scheduleRepeating(everyMillis millis: Int) {
        intervalMillis = max(1, millis)
        guard let event else { return }
        periscope_event_add_ms(event, max(1, millis))
    }

    /// Whether the timer is scheduled.
    public var isPending: Bool {
        guard let event else { return false }
        return event_pending(event, Int16(EV_TIMEOUT), nil) != 0
    }

    /// Stops the timer; it can be scheduled again.
    public func cancel() {
        intervalMillis = nil
        if let event { event_del(event) }
    }

    private func fire() {
        if let interval = intervalMillis, let event { periscope_event_add_ms(event, interval) }
        handler()
    }
}
