import PeriscopeProtocol

/// A filter on view nodes (`filter` of `topology/get`), parsed from text such as
/// `name:postgres !user:root cpu>50 port:5432 "my app"`.
///
/// Grammar: terms separated by spaces, all of which must hold (AND). A term is
/// - `word` — case-insensitive substring of the node's label or command;
/// - `key:value` — substring of a text field, or equality of a number field (`pid:123`, `port:5432`);
/// - `key~value` — substring (also on number fields' text); `key=value` — whole-value equality;
/// - `key>N`, `key>=N`, `key<N`, `key<=N` — numeric comparison; `N` may end in `%`, or in `K`, `M`, `G`,
///   `T` (powers of 1024, for memory);
/// - `!term` — negation.
/// Double quotes group spaces into a value or word (`command:"-m http.server"`, `"a:b"` as a plain word).
/// A field holding a list (a group's `pid`s, a node's `port`s) matches when any element does.
/// `under:/dir` matches nodes whose working directory or executable is `/dir` or below it (by path
/// components); `workspace:/dir` matches the same and makes the expression also keep the **direct
/// peers** of every node it matches — what an editor shows for "this workspace" (``includesPeers``).
/// Keys are case-insensitive and `_`/`-` are ignored (`connections_in` = `connectionsIn`); see ``keys``.
public struct FilterExpression: Sendable, Hashable, CustomStringConvertible {
    enum Op: String, Sendable, Hashable { case colon = ":", tilde = "~", equals = "=", gt = ">", ge = ">=", lt = "<", le = "<=" }

    enum Predicate: Sendable, Hashable {
        /// Lowercased substring of label or command.
        case text(String)
        /// `value` is lowercased; `number` is set for numeric operators and numeric fields.
        case field(FilterField, Op, value: String, number: Double?)
    }

    struct Term: Sendable, Hashable {
        var negated: Bool
        var predicate: Predicate
    }

    /// The text the expression was parsed from.
    public let text: String
    let terms: [Term]

    public var description: String { text }

    /// Whether the expression also keeps the direct peers (nodes one edge away) of the nodes it matches:
    /// true when it has a non-negated `workspace:` term.
    public var includesPeers: Bool {
        terms.contains { term in
            if case .field(.workspace, _, _, _) = term.predicate { return !term.negated }
            return false
        }
    }

    /// The keys a term may use (canonical spelling).
    public static var keys: [String] { FilterField.allCases.map(\.rawValue) }

    /// Longest filter text accepted, in UTF-8 bytes: filters run per node on every render and change,
    /// so their cost is bounded up front.
    public static let maxLength = 4096
    /// Most terms in one filter.
    public static let maxTerms = 64

    /// Parses `text`. An empty or all-space text is a filter that matches everything.
    /// - Throws: ``ViewError`` with code `invalidFilter` and a message naming the bad term, or the
    ///   limit exceeded (``maxLength``, ``maxTerms``).
    public static func parse(_ text: String) throws -> FilterExpression {
        guard text.utf8.count <= maxLength else {
            throw ViewError(.invalidFilter, "filter of \(text.utf8.count) bytes is longer than the limit of \(maxLength)")
        }
        let tokens = try FilterTokenizer.tokens(text)
        guard tokens.count <= maxTerms else {
            throw ViewError(.invalidFilter, "filter of \(tokens.count) terms has more than the limit of \(maxTerms)")
        }
        var terms: [Term] = []
        for token in tokens {
            terms.append(try parseTerm(token))
        }
        return FilterExpression(text: text, terms: terms)
    }

    private static func parseTerm(_ token: FilterTokenizer.Token) throws -> Term {
        var chars = Array(token.text)
        var quoteStart = token.quoteStart
        var negated = false
        if chars.first == "!", quoteStart != 0 {
            negated = true
            chars.removeFirst()
            quoteStart = quoteStart.map { $0 - 1 }
            if chars.isEmpty { throw ViewError(.invalidFilter, "'!' must be followed by a term") }
            if chars.first == "!", quoteStart != 0 {
                throw ViewError(.invalidFilter, "'\(token.text)': use a single '!' to negate a term")
            }
        }
        let limit = quoteStart ?? chars.count
        guard let opIndex = chars[..<limit].firstIndex(where: { ":~=<>".contains($0) }), opIndex > 0,
              chars[0].isLetter,
              chars[..<opIndex].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" })
        else {
            return Term(negated: negated, predicate: .text(String(chars).lowercased()))
        }
        let keyText = String(chars[..<opIndex])
        var valueStart = opIndex + 1
        var op = Op(rawValue: String(chars[opIndex])) ?? .colon
        if (op == .gt || op == .lt), valueStart < limit, chars[valueStart] == "=" {
            op = op == .gt ? .ge : .le
            valueStart += 1
        }
        let value = String(chars[valueStart...])
        let term = token.text
        guard let field = FilterField(key: keyText) else {
            throw ViewError(.invalidFilter, "unknown filter key '\(keyText)' in '\(term)'; known keys: "
                + keys.joined(separator: ", ") + " (quote the term to search for it as text)")
        }
        if value.isEmpty { throw ViewError(.invalidFilter, "filter term '\(term)' has no value after '\(op.rawValue)'") }
        let numericOp = [.gt, .ge, .lt, .le].contains(op)
        if numericOp && !field.isNumeric {
            throw ViewError(.invalidFilter, "'\(term)': \(field.rawValue) is not a number, so '\(op.rawValue)' does not apply")
        }
        var number: Double?
        if numericOp || (field.isNumeric && op != .tilde) {
            guard let n = parseNumber(value) else {
                throw ViewError(.invalidFilter, "'\(term)': '\(value)' is not a number")
            }
            number = n
        }
        return Term(negated: negated, predicate: .field(field, op, value: value.lowercased(), number: number))
    }

    /// A decimal number, optionally ending in `%` or a 1024-based `K`/`M`/`G`/`T` suffix.
    static func parseNumber(_ text: String) -> Double? {
        var body = Substring(text)
        var scale = 1.0
        if body.hasSuffix("%") { body = body.dropLast() }
        if let last = body.last, let power = ["k": 1, "m": 2, "g": 3, "t": 4][Character(last.lowercased())] {
            body = body.dropLast()
            scale = (0..<power).reduce(1.0) { r, _ in r * 1024 }
        }
        guard let n = Double(body), n.isFinite else { return nil }
        return n * scale
    }

    /// Whether `node` satisfies every term.
    public func matches(_ node: NodeSummary) -> Bool {
        var text: (label: String, command: String?)?
        for term in terms {
            let holds: Bool
            if case .text(let word) = term.predicate {
                // Lowercased once per node, whatever the number of words.
                let lowered = text ?? (node.label.lowercased(), node.metadata["command"]?.stringValue?.lowercased())
                text = lowered
                holds = lowered.label.contains(word) || (lowered.command?.contains(word) ?? false)
            } else {
                holds = evaluate(term.predicate, node)
            }
            if holds == term.negated { return false }
        }
        return true
    }

    private func evaluate(_ predicate: Predicate, _ node: NodeSummary) -> Bool {
        switch predicate {
        case .text(let word):
            if node.label.lowercased().contains(word) { return true }
            if let command = node.metadata["command"]?.stringValue { return command.lowercased().contains(word) }
            return false
        case .field(let field, _, let value, _) where field == .under || field == .workspace:
            return field.values(of: node).contains { Self.isPath($0.text.lowercased(), under: value) }
        case .field(let field, let op, let value, let number):
            return field.values(of: node).contains { v in Self.compare(v, op, value, number) }
        }
    }

    /// `path` is `directory` or inside it, by whole path components (`/src/app` is not under `/src/a`).
    static func isPath(_ path: String, under directory: String) -> Bool {
        var base = directory
        while base.count > 1, base.hasSuffix("/") { base.removeLast() }
        if base == "/" { return path.hasPrefix("/") }
        return path == base || path.hasPrefix(base + "/")
    }

    private static func compare(_ v: FilterField.Value, _ op: Op, _ value: String, _ number: Double?) -> Bool {
        switch (op, v) {
        case (.tilde, _): return v.text.lowercased().contains(value)
        case (.colon, .number(let n)), (.equals, .number(let n)):
            if let number { return n == number }
            return v.text.lowercased() == value
        case (.colon, .text(let s)): return s.lowercased().contains(value)
        case (.equals, .text(let s)): return s.lowercased() == value
        case (.gt, .number(let n)): return number.map { n > $0 } ?? false
        case (.ge, .number(let n)): return number.map { n >= $0 } ?? false
        case (.lt, .number(let n)): return number.map { n < $0 } ?? false
        case (.le, .number(let n)): return number.map { n <= $0 } ?? false
        default: return false
        }
    }
}
