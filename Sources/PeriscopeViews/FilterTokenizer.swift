/// Splits filter text into terms at unquoted spaces, removing the double quotes.
enum FilterTokenizer {
    struct Token {
        var text: String
        /// Offset in `text` of the first character that was inside quotes (operators after it are literal).
        var quoteStart: Int?
    }

    static func tokens(_ text: String) throws -> [Token] {
        var tokens: [Token] = []
        var current: [Character] = []
        var quoteStart: Int?
        var inQuotes = false
        var started = false
        func flush() {
            if started { tokens.append(Token(text: String(current), quoteStart: quoteStart)) }
            current = []; quoteStart = nil; started = false
        }
        for ch in text {
            if ch == "\"" {
                inQuotes.toggle()
                started = true
                if inQuotes, quoteStart == nil { quoteStart = current.count }
            } else if !inQuotes && ch.isWhitespace {
                flush()
            } else {
                current.append(ch)
                started = true
            }
        }
        if inQuotes { throw ViewError(.invalidFilter, "unterminated quote in filter '\(text.prefix(100))'") }
        flush()
        if tokens.contains(where: { $0.text.isEmpty }) {
            throw ViewError(.invalidFilter, "empty quoted term in filter '\(text.prefix(100))'")
        }
        return tokens
    }
}
