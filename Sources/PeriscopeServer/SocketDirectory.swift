import Glibc

/// The directory that holds the daemon's Unix socket, and the rule that keeps other users out of it.
///
/// Whoever can write to that directory can rename the daemon's socket away and put their own in its
/// place, then read every client's requests and answer them. So the daemon refuses to serve from a
/// directory, or from under a directory, that is not owned by root or by the daemon's user, or that
/// group or others may write to (unless its sticky bit stops them from renaming files they do not own,
/// as on `/tmp`).
enum SocketDirectory {
    /// Creates the socket's directory when it is missing (one level: owner-only under `/tmp`, else
    /// 0755), then checks it and each of its ancestors. Throws an operator-readable ``ServerError``.
    static func prepare(forSocket path: String) throws {
        let directory = directoryName(path)
        var info = stat()
        if stat(directory, &info) != 0 {
            // A private fallback directory (/tmp/periscope-UID) is owner-only; /run/periscope is 0755.
            let mode: mode_t = directory.hasPrefix("/tmp/") ? 0o700 : 0o755
            guard mkdir(directory, mode) == 0 || errno == EEXIST else {
                throw ServerError("cannot create \(directory): \(String(cString: strerror(errno)))")
            }
        }
        // The real location first (it names the culprit best), then the path as written, whose
        // symbolic links live in directories that must be safe too.
        var chains: [[String]] = []
        if let resolved = realpath(directory, nil) {
            chains.append(ancestors(of: String(cString: resolved)))
            free(resolved)
        }
        chains.append(ancestors(of: directory))
        for chain in chains {
            for candidate in chain { try check(candidate, socketPath: path) }
        }
    }

    /// The directory part of a socket path (`.` for a bare file name).
    static func directoryName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// `directory` and every directory above it, outermost first (`a/b` → `a`, `a/b`; `/x/y` → `/`, `/x`, `/x/y`).
    static func ancestors(of directory: String) -> [String] {
        let absolute = directory.hasPrefix("/")
        var chain = absolute ? ["/"] : []
        var prefix = absolute ? "" : nil as String?
        for part in directory.split(separator: "/") {
            let next = prefix.map { $0 + "/" + part } ?? String(part)
            chain.append(next)
            prefix = next
        }
        return chain
    }

    /// Throws unless `directory` is owned by root or the daemon's user and only they may write to it.
    static func check(_ directory: String, socketPath: String) throws {
        var info = stat()
        guard stat(directory, &info) == 0 else {
            throw ServerError("cannot inspect \(directory): \(String(cString: strerror(errno)))")
        }
        let me = geteuid()
        let mode = info.st_mode & 0o7777
        let modeText = "0" + String(mode, radix: 8)
        let ownedWell = info.st_uid == 0 || info.st_uid == me
        let othersMayRename = mode & 0o022 != 0 && mode & S_ISVTX == 0
        guard ownedWell, !othersMayRename else {
            let problem = ownedWell ? "is writable by group or others (mode \(modeText), owner uid \(info.st_uid))"
                : "belongs to uid \(info.st_uid) (mode \(modeText)), not to root or to the daemon's user (uid \(me))"
            throw ServerError("refusing to serve \(socketPath): the directory \(directory) \(problem), so another user "
                + "could replace the socket; use a directory only root or uid \(me) can write to (e.g. chmod 0755, or --socket elsewhere)")
        }
    }
}
