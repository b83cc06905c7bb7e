import ArgumentParser
import Glibc
import PeriscopeClient
import PeriscopeProtocol

/// `periscope dot VIEW`: the view as Graphviz DOT, or an SVG picture with `--svg FILE`.
struct Dot: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a view as Graphviz DOT (or SVG with --svg, when `dot` is installed).")

    @OptionGroup var options: ClientOptions
    @OptionGroup var selection: ViewSelection


    @Option(help: "Render to this SVG file with Graphviz's `dot` instead of printing DOT.")
    var svg: String?

    func run() throws {
        let client = try options.connect()
        let result = try reportingErrors { try client.call(TopologyGetRequest.self, .init(selection.query())) }
        let text = Dot.render(TerminalText.sanitized(result))
        guard let svg else {
            print(text, terminator: "")
            return
        }
        let dotFile = svg + ".dot"
        guard let file = fopen(dotFile, "w") else { throw ValidationError("cannot write \(dotFile)") }
        fputs(text, file)
        fclose(file)
        defer { unlink(dotFile) }
        var pid: pid_t = 0
        let words: [String] = ["dot", "-Tsvg", dotFile, "-o", svg]
        let args = words.map { strdup($0) } + [nil]
        defer { args.forEach { free($0) } }
        guard posix_spawnp(&pid, "dot", nil, nil, args, environ) == 0 else {
            printError("periscope: Graphviz `dot` is not installed (apt-get install graphviz); use `periscope dot` for DOT text")
            throw ExitCode(1)
        }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        guard (status >> 8) & 0xFF == 0 else {
            printError("periscope: dot failed")
            throw ExitCode(1)
        }
        printError("wrote \(svg)")
    }

    static func render(_ view: JSONValue) -> String {
        var out = "digraph periscope {\n  rankdir=TB;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
        out += "  label=\(quote("\(view["view"]?.stringValue ?? "") (revision \(view["revision"]?.intValue ?? 0))"));\n"
        for node in view["nodes"]?.arrayValue ?? [] {
            guard let id = node["id"]?.stringValue else { continue }
            var label = TopologyText.label(node)
            if let minor = node["labelMinor"]?.stringValue, !minor.isEmpty { label += "\n" + TopologyText.truncate(minor, 40) }
            let pseudo = node["pseudo"]?.boolValue == true
            out += "  \(quote(id)) [label=\(quote(label))\(pseudo ? ", shape=ellipse, style=dashed" : "")];\n"
        }
        for edge in view["edges"]?.arrayValue ?? [] {
            guard let source = edge["source"]?.stringValue, let target = edge["target"]?.stringValue else { continue }
            let ports = edge["ports"]?.arrayValue?.compactMap { $0.intValue.map(String.init) }.joined(separator: ",") ?? ""
            let protocols = edge["protocols"]?.arrayValue?.compactMap(\.stringValue).joined(separator: ",") ?? ""
            let closed = edge["closed"]?.boolValue == true ? ", style=dashed" : ""
            out += "  \(quote(source)) -> \(quote(target)) [label=\(quote("\(protocols) \(ports)"))\(closed)];\n"
        }
        return out + "}\n"
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
