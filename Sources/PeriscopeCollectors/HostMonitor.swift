import Dispatch
import Logging

/// The host's kernel event sources, wired to the collection pipeline: the process connector (exec
/// notes the pid for the next pass) and the TCP state tracepoint (events go into the pipeline's flows
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
    private let logger = Logger(label: "periscope.topology")

    /// Monitors for `pipeline`, which is confined to the serial `queue`.
    public init(pipeline: CollectionPipeline, queue: DispatchQueue) {
        self.pipeline = pipeline
        self.queue = queue
    }

    /// Starts both sources. `onProcessEvent` runs (on the connector's thread) after an exec or exit;
    /// `onSocketEvent` runs (on the tracepoint's thread) after TCP state changes were queued for the
    /// pipeline, so a ``CollectionPipeline/patchPass()`` queued after it sees them.
    public func start(onProcessEvent: @escaping @Sendable () -> Void, onSocketEvent: @escaping @Sendable () -> Void) {
        let collector = pipeline.collector
        do {
            try processEvents.start { event in
                if case .exec(let pid) = event { collector.processExecuted(pid) }
                if case .fork = event { return }  // the exec or exit that follows is what shows
                onProcessEvent()
            }
        } catch {
            processEventsError = "\(error)"
            logger.warning("process events unavailable, relying on the periodic refresh: \(error)")
        }
        let pipeline = self.pipeline
        let queue = self.queue
        do {
            try socketEvents.start { events in
                queue.async { pipeline.record(events) }
                onSocketEvent()
            }
        } catch {
            socketEventsError = "\(error)"
            logger.warning("socket events unavailable, new connections appear on the next refresh: \(error)")
        }
    }

    /// Stops both sources (waits for their threads). Idempotent.
    public func stop() {
        processEvents.stop()
        socketEvents.stop()
    }

    /// `daemon/status` → `collectors` → `process-events`.
    public var processEventsHealth: SourceHealth {
        .events("process connector", seen: processEvents.eventsSeen, lost: processEvents.eventsLost,
                startError: processEventsError)
    }

    /// `daemon/status` → `collectors` → `socket-events`.
    public var socketEventsHealth: SourceHealth {
        .events("tcp state tracepoint", seen: socketEvents.eventsSeen, lost: socketEvents.eventsLost,
                startError: socketEventsError)
    }
}
