import Dispatch
import PeriscopeProtocol
import PeriscopeSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The engine side of one pipe: a container's followed logs, or an interactive exec session with a TTY.
///
/// The engine I/O runs on the worker's own thread (blocking reads), which hands each block of output to
/// ``Events/data``. Flow control: at most ``window`` bytes are handed over and not yet ``acknowledge(_:)``d, and
/// nothing is read while ``setPaused(_:)`` is on — a consumer that does not keep up stops the reads from the
/// engine (the engine and the kernel buffer, not the daemon). Writes (exec stdin) and resizes run in order on
/// small serial queues. ``close()`` ends everything; for an exec it also hangs up the process (SIGHUP, then
/// SIGKILL after 2 s) since engines keep an exec running when its attach connection closes.
public final class ContainerPipeWorker: Sendable {
    public enum Kind: Sendable {
        case logs(tail: Int, follow: Bool)
        case exec(command: [String], environment: [String], rows: Int?, cols: Int?)
    }

    /// Callbacks, all called on the worker's thread, in this order: `opened` once (or `ended` with an error
    /// if the stream could not be opened), `data` any number of times, `ended` once.
    public struct Events: Sendable {
        public var opened: @Sendable () -> Void
        public var data: @Sendable ([UInt8]) -> Void
        /// `error` is nil at a clean end of stream or after ``close()``; `exitCode` is the exec's, when known.
        public var ended: @Sendable (_ error: EngineError?, _ exitCode: Int?) -> Void

        public init(opened: @escaping @Sendable () -> Void, data: @escaping @Sendable ([UInt8]) -> Void,
                    ended: @escaping @Sendable (EngineError?, Int?) -> Void) {
            self.opened = opened
            self.data = data
            self.ended = ended
        }
    }

    private struct State {
        var inFlight = 0
        var paused = false
        var closed = false
        var stream: EngineStream?
        var execID: String?
    }

    public let engine: ContainerEngine
    public let containerID: String
    public let kind: Kind
    /// Most bytes handed over and not yet acknowledged.
    public let window: Int
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    private let writer: DispatchQueue
    private let control: DispatchQueue

    public init(engine: ContainerEngine, containerID: String, kind: Kind, window: Int = 256 << 10) {
        self.engine = engine
        self.containerID = containerID
        self.kind = kind
        self.window = max(4096, window)
        writer = DispatchQueue(label: "periscope.pipe.write")
        control = DispatchQueue(label: "periscope.pipe.control")
    }

    /// Starts the worker thread; false when no thread could be started.
    public func start(_ events: Events) -> Bool {
        // Nobody joins it: detached, so its stack is freed when it ends (TSan reported the leak).
        SystemThread.detach(name: "periscope-pipe") { [self] in self.run(events) }
    }

    /// The consumer has taken `bytes` of output.
    public func acknowledge(_ bytes: Int) {
        state.withLock { $0.inFlight = max(0, $0.inFlight - bytes) }
        wake.signal()
    }

    /// Pauses (or resumes) reading from the engine.
    public func setPaused(_ paused: Bool) {
        state.withLock { $0.paused = paused }
        if !paused { wake.signal() }
    }

    /// Sends `bytes` to the exec's terminal, after any earlier writes; `done` runs on the writer queue.
    public func write(_ bytes: [UInt8], done: @escaping @Sendable (EngineError?) -> Void) {
        writer.async { [self] in
            guard let stream = state.withLock({ $0.closed ? nil : $0.stream }) else {
                done(EngineError("the pipe is closed"))
                return
            }
            do throws(EngineError) { try stream.write(bytes); done(nil) } catch { done(error) }
        }
    }

    /// Resizes the exec's terminal; `done` runs on the control queue.
    public func resize(rows: Int, cols: Int, done: @escaping @Sendable (EngineError?) -> Void) {
        control.async { [self] in
            guard let execID = state.withLock({ $0.closed ? nil : $0.execID }) else {
                done(EngineError("the pipe is closed"))
                return
            }
            do throws(EngineError) { try engine.resizeExec(execID, rows: rows, cols: cols); done(nil) } catch { done(error) }
        }
    }

    /// Ends the pipe: stops reading, closes the engine connection; the thread then reports `ended` (an exec is
    /// hung up first). Any thread; idempotent.
    public func close() {
        let stream = state.withLock { s -> EngineStream? in
            s.closed = true
            return s.stream
        }
        stream?.shutdown()
        wake.signal()
    }

    public var isClosed: Bool { state.withLock { $0.closed } }

    /// Waits until the consumer has room (or the pipe is closed); false when closed.
    private func waitForRoom() -> Bool {
        while true {
            let (closed, ready) = state.withLock { ($0.closed, !$0.paused && $0.inFlight < window) }
            if closed { return false }
            if ready { return true }
            _ = wake.wait(timeout: .now() + .milliseconds(500))
        }
    }

    /// Installs the stream unless the pipe was closed meanwhile (then shuts it down); false when closed.
    private func attach(_ stream: EngineStream, execID: String?) -> Bool {
        let closed = state.withLock { s -> Bool in
            s.stream = stream
            s.execID = execID
            return s.closed
        }
        if closed { stream.shutdown() }
        return !closed
    }

    private func run(_ events: Events) {
        var execID: String?
        let stream: EngineStream
        do throws(EngineError) {
            switch kind {
            case .logs(let tail, let follow):
                stream = try engine.openLogs(id: containerID, tail: tail, follow: follow)
            case .exec(let command, let environment, let rows, let cols):
                let id = try engine.createExec(id: containerID, command: command, environment: environment)
                execID = id
                stream = try engine.startExec(id)
                if let rows, let cols { try? engine.resizeExec(id, rows: rows, cols: cols) }
            }
        } catch {
            if let execID { hangUp(execID) }
            events.ended(isClosed ? nil : error, nil)
            return
        }
        guard attach(stream, execID: execID) else {
            if let execID { hangUp(execID) }
            events.ended(nil, nil)
            return
        }
        events.opened()
        var failure: EngineError?
        while waitForRoom() {
            let chunk: [UInt8]?
            do throws(EngineError) { chunk = try stream.read() } catch { failure = error; break }
            guard let chunk else { break }
            state.withLock { $0.inFlight += chunk.count }
            events.data(chunk)
        }
        stream.shutdown()
        let closedByConsumer = isClosed
        var exitCode: Int?
        if let execID {
            if closedByConsumer {
                hangUp(execID)
            } else {
                // The stream ended: the process exited; the engine records its code a moment later.
                for _ in 0..<20 {
                    guard let state = try? engine.inspectExec(execID) else { break }
                    if !state.running { exitCode = state.exitCode; break }
                    usleep(50_000)
                }
            }
        }
        events.ended(closedByConsumer ? nil : failure, exitCode)
    }

    /// Ends a still-running exec process: SIGHUP (its terminal went away), SIGKILL after 2 s. Signals only a
    /// process that is in this container's cgroup, so a pid from another namespace is never hit by mistake.
    private func hangUp(_ execID: String) {
        for attempt in 0..<25 {
            guard let exec = try? engine.inspectExec(execID), exec.running else { return }
            guard exec.pid > 1, Self.process(exec.pid, isIn: containerID) else { return }
            if attempt == 0 { kill(exec.pid, SIGHUP) } else if attempt == 20 { kill(exec.pid, SIGKILL) }
            usleep(100_000)
        }
    }

    /// Whether `/proc/PID/cgroup` names the container.
    static func process(_ pid: Int32, isIn containerID: String) -> Bool {
        guard containerID.count >= 12, let text = ProcReader().text("/proc/\(pid)/cgroup") else { return false }
        return text.contains(containerID)
    }
}
