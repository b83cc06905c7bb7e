import Glibc

/// The browser map's files (clients/web: HTML, JS, CSS), read from a directory at each request, so the page is
/// the repository's own copy — the same files the VS Code extension loads.
///
/// Found, in order: `--assets DIR`; `$PERISCOPE_WEB_ASSETS`; `clients/web` of the checkout this binary was built
/// from (its source path is compiled in, so `.build/debug/periscope ui` from a fresh clone finds it); a
/// `clients/web` next to or above the executable; `/usr/share/periscope/web`.
struct UiAssets {
    let directory: String

    /// The first candidate directory that holds `index.html`, or nil.
    static func locate(explicit: String?) -> UiAssets? {
        var candidates: [String] = []
        if let explicit { candidates.append(explicit) }
        if let env = getenv("PERISCOPE_WEB_ASSETS") { candidates.append(String(cString: env)) }
        // #filePath: <checkout>/Sources/periscope/UiAssets.swift
        let source = "\(#filePath)", suffix = "/Sources/periscope/UiAssets.swift"
        if source.hasSuffix(suffix) {
            candidates.append(String(source.dropLast(suffix.count)) + "/clients/web")
        }
        var exe = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &exe, exe.count - 1)
        if n > 0 {
            var dir = String(decoding: exe.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            for _ in 0..<6 {
                guard let slash = dir.lastIndex(of: "/"), slash != dir.startIndex else { break }
                dir = String(dir[..<slash])
                candidates.append(dir + "/clients/web")
            }
        }
        candidates.append("/usr/share/periscope/web")
        if let explicit {
            return access(explicit + "/index.html", R_OK) == 0 ? UiAssets(directory: explicit) : nil
        }
        return candidates.first { access($0 + "/index.html", R_OK) == 0 }.map { UiAssets(directory: $0) }
    }

    /// The file for a URL path: one plain name of a known type directly in the directory (no `..`, no
    /// sub-directories, no hidden files), with its content type; nil otherwise.
    func file(forPath path: String) -> (bytes: [UInt8], contentType: String)? {
        let name = path == "/" ? "index.html" : String(path.dropFirst())
        guard !name.isEmpty, !name.hasPrefix("."),
              name.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x2E || $0 == 0x5F }),
              let type = UiAssets.contentType(name) else { return nil }
        guard let bytes = UiAssets.readFile(directory + "/" + name) else { return nil }
        return (bytes, type)
    }

    static func contentType(_ name: String) -> String? {
        if name.hasSuffix(".html") { return "text/html; charset=utf-8" }
        if name.hasSuffix(".js") { return "text/javascript; charset=utf-8" }
        if name.hasSuffix(".css") { return "text/css; charset=utf-8" }
        if name.hasSuffix(".svg") { return "image/svg+xml" }
        if name.hasSuffix(".png") { return "image/png" }
        return nil
    }

    static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return n == 0 ? out : nil }
            out += chunk.prefix(n)
            if out.count > 8 << 20 { return nil }
        }
    }
}
