import Dispatch
import Logging
import Synchronization

/// The host's kernel event sources, wired to the collection pipeline: the process connector (each event
/// notes the pid for the next patch, see ``ProcessChanges``) and the TCP state tracepoint (events go into the pipeline's flows
/// on its queue). The owner hears only "a process event" and "a socket event", to pace its passes.
///
/// A source that cannot start (not root, no tracefs) is logged and shown in its health; the periodic
/// passes cover for it.
///
/// - Important: ``start(onProcessEvent:onSocketEvent:)``, ``stop()`` and the health properties from one
///   thread (the owner's, the event loop). The callbacks run on the monitors' private threads.
public final class HostMonitor {
    private let pipeline: CollectionPipeline
    private let queue: DispatchQueue
    private let processEvents = ProcessEventMonitor()
    private let socketEvents = SocketStateMonitor()
    private var processEventsError: String?
    private var socketEventsError: String?
    /// As last set by ``setInDemand(_:)`` (the sources start with the short hold-off).
    private var inDemand = true
    private let logger = Logger(label: "periscope.topology")
    /// Set when the owner was told of socket events and no patch has started since: later events ride on it.
    private let socketNoticePending = NoticeFlag()

    /// Monitors for `pipeline`, which is confined to the serial `queue`.
    public init(pipeline: CollectionPipeline, queue: DispatchQueue) {
        self.pipeline = pipeline
        self.queue = queue
    }

    /// Starts both sources. `onProcessEvent` runs (on the connector's thread) after a fork, exec or exit was
    /// noted in the pipeline's ``CollectionPipeline/processChanges`` when none was waiting before (the patch
    /// that the call leads to applies those that follow); `onSocketEvent` runs (on the
    /// tracepoint's thread) after TCP state changes were queued for the pipeline, so a
    /// ``CollectionPipeline/patchPass()`` queued after either sees them. Its argument tells whether a socket
    /// started listening (only a full pass lists a new listener).
    public func start(onProcessEvent: @escaping @Sendable () -> Void,
                      onSocketEvent: @escaping @Sendable (_ listening: Bool) -> Void) {
        let collector = pipeline.collector
        do {
            let changes = pipeline.processChanges
            try processEvents.start { event in
                if case .exec(let pid) = event { collector.processExecuted(pid) }
                if changes.note(event) { onProcessEvent() }  // later ones ride on the same patch
            }
        } catch {
            processEventsError = "\(error)"
            logger.warning("process events unavailable, relying on the periodic refresh: \(error)")
        }
        let pipeline = self.pipeline
        let queue = self.queue
        let notice = socketNoticePending
        do {
            try socketEvents.start { events in
                if pipeline.enqueue(events) { queue.async { pipeline.foldPendingEvents() } }
                // Once per patch (a patch queued after this call sees these events and all recorded before it
                // starts, see ``patchStarting()``): a burst wakes the owner's loop once, not per batch.
                let listening = events.contains { $0.newState == "listen" }
                if listening || !notice.raise() { onSocketEvent(listening) }
            }
        } catch {
            socketEventsError = "\(error)"
            logger.warning("socket events unavailable, new connections appear on the next refresh: \(error)")
        }
    }

    /// Call right before queueing a ``CollectionPipeline/patchPass()`` (or a full pass): socket events recorded
    /// after this tell the owner again. Any thread.
    public func patchStarting() { socketNoticePending.lower() }

    /// Whether someone looks: the process connector's reader then holds off ``WorkerThread/coalesceMillis``
    /// (10 ms) after a batch while events come steadily and the socket-state reader reads its rings every 10 ms;
    /// else both wait ``WorkerThread/idleCoalesceMillis`` (500 ms: updates are a second apart then). A flood
    /// does not wait either out: the connector's 8 MiB buffer holds 500 ms of ~16,000 events a second (and a
    /// batch of 500 or more ends the connector's hold-off), and
    /// the kernel wakes the socket-state reader as soon as a ring holds ``SocketStateMonitor/wakeupSamples``.
    /// Cheap when unchanged. The owner's thread.
    public func setInDemand(_ demand: Bool) {
        guard demand != inDemand else { return }
        inDemand = demand
        let millis = demand ? WorkerThread.coalesceMillis : WorkerThread.idleCoalesceMillis
        processEvents.setHoldOff(millis: millis)
        socketEvents.setHoldOff(millis: millis)
    }

    /// Stops both sources (waits for their threads). Idempotent.
    public func stop() {
        processEvents.stop()
        socketEvents.stop()
    }

    /// Events both sources know they lost (buffer overruns), in total since start: when it grows, only a
    /// full pass can catch up.
    public var eventsLost: UInt64 { processEvents.eventsLost + socketEvents.eventsLost }

    /// Whether both sources started: without them only full passes see changes.
    public var isComplete: Bool { processEventsError == nil && socketEventsError == nil }

    /// `daemon/status` → `collectors` → `process-events`.
    public var processEventsHealth: SourceHealth {
        .events("process connector", seen: processEvents.eventsSeen, lost: processEvents.eventsLost,
                batches: processEvents.batches, cpuNanos: processEvents.cpuNanos, startError: processEventsError)
    }

    /// `daemon/status` → `collectors` → `socket-events`.
    public var socketEventsHealth: SourceHealth {
        .events("tcp state tracepoint", seen: socketEvents.eventsSeen, lost: socketEvents.eventsLost,
                batches: socketEvents.batches, cpuNanos: socketEvents.cpuNanos, startError: socketEventsError)
    }
}

/// A flag two threads share: raised by the event thread when it tells the owner, lowered by the owner when the
/// work that covers those events is queued.
private final class NoticeFlag: Sendable {
    private let raised = Atomic<Bool>(false)

    /// Raises the flag; returns whether it was raised already.
    func raise() -> Bool { raised.exchange(true, ordering: .sequentiallyConsistent) }

    func lower() { raised.store(false, ordering: .sequentiallyConsistent) }
}
