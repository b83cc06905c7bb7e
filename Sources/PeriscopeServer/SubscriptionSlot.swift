/// One of a session's subscription slots (``ServerConfiguration/maxSubscriptionsPerSession``), taken when
/// a subscribe request arrives and given back once, when the subscription ends or fails to start.
///
/// - Important: loop thread only.
final class SubscriptionSlot {
    private weak var session: Session?
    private var held = true

    init(_ session: Session) {
        self.session = session
        session.subscriptionSlots += 1
    }

    /// Gives the slot back (idempotent).
    func release() {
        guard held else { return }
        held = false
        session?.subscriptionSlots -= 1
    }

    deinit { release() }
}
