/// Why a past instant cannot be answered.
public enum HistoryError: Error, Sendable {
    /// History is off (the reason: not configured, or the file failed).
    case off(String)
    /// Nothing recorded yet.
    case empty
    /// The instant is older than the oldest data kept.
    case beforeWindow(Double, oldest: Double)
    /// Reading the file failed.
    case failed(String)

    static func wrap<T>(_ body: () throws(SQLiteError) -> T) throws(HistoryError) -> T {
        do throws(SQLiteError) {
            return try body()
        } catch {
            throw HistoryError.failed(error.message)
        }
    }

    /// A sentence for the client.
    public var message: String {
        switch self {
        case .off(let reason): return "history is off: \(reason)"
        case .empty: return "history has recorded nothing yet"
        case .beforeWindow(let t, let oldest):
            return "\(HistoryTime.format(t)) is before the oldest history kept (\(HistoryTime.format(oldest)))"
        case .failed(let message): return "reading history failed: \(message)"
        }
    }
}
