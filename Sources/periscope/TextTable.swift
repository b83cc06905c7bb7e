/// A plain left-aligned text table for terminal output.
struct TextTable {
    private let header: [String]
    private var rows: [[String]] = []

    init(_ header: [String]) { self.header = header }

    mutating func add(_ row: [String]) { rows.append(row) }

    var isEmpty: Bool { rows.isEmpty }

    func render() -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (n, cell) in row.enumerated() where n < widths.count { widths[n] = max(widths[n], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            var out = ""
            for (n, cell) in cells.enumerated() {
                let last = n == cells.count - 1
                out += last ? cell : cell + String(repeating: " ", count: max(0, widths[n] - cell.count) + 2)
            }
            return out
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}
