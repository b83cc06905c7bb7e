import Dispatch
import Glibc
import PeriscopeEventLoop

/// Runs renders on worker threads, at most ``concurrency`` at once and one per lane at a time, taking
/// turns between lanes (one lane per client, one per shared subscription view, one per view's node
/// details), so a client that asks for many or costly renders delays only itself.
///
/// A job whose requester has gone (cancelled, disconnected) is skipped when its turn comes. A queued
/// job with the same `key` as a newer one in its lane is replaced by the newer (subscription refreshes:
/// only the latest report matters). A lane's jobs run in order, one after the other, which keeps each
/// shared view's diffs chained.
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

    /// Renders running at once at most (the machine's cores, up to 2: the loop and the collectors need
    /// the rest).
    let concurrency: Int
    private let queue = DispatchQueue(label: "periscope.render", attributes: .concurrent)
    private let loop: EventLoop
    private var lanes: [Int: [Job]] = [:]
    /// Lanes with queued work, in turn order.
    private var turns: [Int] = []
    /// Lanes with a job running now.
    private var running: Set<Int> = []

    init(loop: EventLoop, concurrency: Int = min(2, max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))) {
        self.loop = loop
        self.concurrency = concurrency
    }

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
        while running.count < concurrency, let job = next() {
            if job.isCancelled() { continue }
            running.insert(job.lane)
            let work = job.work
            let lane = job.lane
            let bound = LoopBound(self, loop: loop)
            let loop = self.loop
            queue.async {
                work()
                loop.execute { bound.value.finished(lane) }
            }
        }
    }

    /// The next job in turn order from a lane with nothing running.
    private func next() -> Job? {
        for (position, lane) in turns.enumerated() where !running.contains(lane) {
            turns.remove(at: position)
            guard var jobs = lanes[lane], !jobs.isEmpty else {
                lanes[lane] = nil
                return next()
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

    private func finished(_ lane: Int) {
        running.remove(lane)
        pump()
    }
}
