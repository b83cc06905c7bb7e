import Dispatch
import PeriscopeEventLoop

/// Runs renders one at a time on a worker queue, taking turns between lanes (one lane per client, one
/// per shared subscription view), so a client that asks for many or costly renders delays only itself.
///
/// A job whose requester has gone (cancelled, disconnected) is skipped when its turn comes. A queued
/// job with the same `key` as a newer one in its lane is replaced by the newer (subscription refreshes:
/// only the latest report matters). Renders stay serial, which keeps each shared view's diffs in order.
///
/// - Important: loop thread only; `work` runs on the render queue.
final class RenderScheduler {
    struct Job {
        /// Whose turn this job takes: a session id, or a negative id for a shared view.
        let lane: Int
        /// Jobs in the same lane with the same key replace each other while queued.
        let key: String?
        /// Checked on the loop just before the job would start.
        let isCancelled: () -> Bool
        /// The render; it hands its result back with `loop.execute`.
        let work: @Sendable () -> Void
    }

    private let queue = DispatchQueue(label: "periscope.render")
    private let loop: EventLoop
    private var lanes: [Int: [Job]] = [:]
    /// Lanes with queued work, in turn order.
    private var turns: [Int] = []
    private var running = false
    /// Renders run, and jobs skipped because nobody wanted them any more.
    private(set) var completed = 0
    private(set) var skipped = 0

    init(loop: EventLoop) {
        self.loop = loop
    }

    /// Jobs waiting for their turn.
    var queuedCount: Int { lanes.values.reduce(0) { $0 + $1.count } }

    func submit(_ job: Job) {
        var jobs = lanes[job.lane] ?? []
        if jobs.isEmpty { turns.append(job.lane) }
        if let key = job.key, let index = jobs.firstIndex(where: { $0.key == key }) {
            jobs[index] = job
        } else {
            jobs.append(job)
        }
        lanes[job.lane] = jobs
        pump()
    }

    private func pump() {
        while !running, let job = next() {
            if job.isCancelled() {
                skipped += 1
                continue
            }
            running = true
            let work = job.work
            let bound = LoopBound(self, loop: loop)
            let loop = self.loop
            queue.async {
                work()
                loop.execute { bound.value.finished() }
            }
        }
    }

    private func next() -> Job? {
        while !turns.isEmpty {
            let lane = turns.removeFirst()
            guard var jobs = lanes[lane], !jobs.isEmpty else {
                lanes[lane] = nil
                continue
            }
            let job = jobs.removeFirst()
            if jobs.isEmpty {
                lanes[lane] = nil
            } else {
                lanes[lane] = jobs
                turns.append(lane)
            }
            return job
        }
        return nil
    }

    private func finished() {
        running = false
        completed += 1
        pump()
    }
}
