/// Who may use `periscope ui`: whoever presents the one-time token of the printed URL, once, and from then on the
/// browser that did (its session cookie).
///
/// The token and session ids are 256-bit values from the system's secure generator. The token is spent by its
/// first use, so a URL seen later (shell history, another user reading a terminal) opens nothing. Other local
/// users can reach 127.0.0.1:4040 too; without the cookie they get 403.
///
/// - Important: loop thread only (the UI server's).
final class UiAuth {
    /// The one-time token of the printed URL; `nil` once spent.
    private(set) var token: String?
    private var sessions: Set<String> = []
    static let cookieName = "periscope_ui"

    init() { token = UiAuth.randomHex() }

    /// Spends the token when `candidate` matches it: returns a new session id for the cookie, else nil.
    func exchange(token candidate: String) -> String? {
        guard let token, UiAuth.constantTimeEqual(candidate, token) else { return nil }
        self.token = nil
        let session = UiAuth.randomHex()
        sessions.insert(session)
        return session
    }

    /// The session named by the request's `Cookie` header, if it is one of ours.
    func session(cookieHeader: String?) -> String? {
        guard let cookieHeader else { return nil }
        for part in cookieHeader.split(separator: ";") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces() }
            guard pair.count == 2, pair[0] == UiAuth.cookieName else { continue }
            if let match = sessions.first(where: { UiAuth.constantTimeEqual($0, pair[1]) }) { return match }
        }
        return nil
    }

    /// The `Set-Cookie` value for `session`: not readable by scripts, sent only to this origin's own pages.
    static func cookie(_ session: String) -> String {
        "\(cookieName)=\(session); Path=/; HttpOnly; SameSite=Strict"
    }

    static func randomHex() -> String {
        var generator = SystemRandomNumberGenerator()
        var text = ""
        for _ in 0..<4 {
            let word = generator.next()
            let hex = String(word, radix: 16)
            text += String(repeating: "0", count: 16 - hex.count) + hex
        }
        return text
    }

    /// Compares without stopping at the first difference (the time taken does not tell how much matched).
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<x.count { difference |= x[i] ^ y[i] }
        return difference == 0
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
