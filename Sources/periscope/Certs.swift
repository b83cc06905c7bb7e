import PeriscopeSystem
import ArgumentParser
import Glibc

/// `periscope certs init DIR` and `periscope certs issue DIR HOSTNAME`: a small CA and host certificates for
/// mutual TLS between publishers and an aggregator, for people without a PKI. The work is done by the
/// `openssl` command (P-256 keys, SHA-256 signatures); keys are written owner-only and nothing is overwritten.
struct Certs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a CA and host certificates for --publish / --accept-reports (uses the openssl command).",
        subcommands: [Init.self, Issue.self]
    )

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write DIR/ca.crt and DIR/ca.key (a new CA, 10 years).")
        @Argument(help: "Directory for the CA (created if missing).") var directory: String

        func run() throws {
            try Certs.prepare(directory, files: ["ca.crt", "ca.key"])
            try Certs.openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                               "-sha256", "-days", "3650", "-subj", "/CN=Periscope CA",
                               "-addext", "basicConstraints=critical,CA:TRUE",
                               "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                               "-keyout", "\(directory)/ca.key", "-out", "\(directory)/ca.crt"])
            print("wrote \(directory)/ca.crt and \(directory)/ca.key (keep ca.key private)")
        }
    }

    struct Issue: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write DIR/HOSTNAME.crt and DIR/HOSTNAME.key, signed by DIR's CA; the name is the host id a publisher may report.")
        @Argument(help: "Directory holding ca.crt and ca.key.") var directory: String
        @Argument(help: "Host name (the daemon's hostname), used as CN and DNS subject alternative name.") var hostname: String

        func validate() throws {
            let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_".utf8)
            guard !hostname.isEmpty, hostname.utf8.count <= 253, hostname.utf8.allSatisfy(allowed.contains),
                  !hostname.hasPrefix("."), !hostname.hasPrefix("-") else {
                throw ValidationError("HOSTNAME must be 1-253 characters of letters, digits, '.', '-' and '_'")
            }
        }

        func run() throws {
            guard access("\(directory)/ca.crt", R_OK) == 0, access("\(directory)/ca.key", R_OK) == 0 else {
                throw ValidationError("no CA in \(directory): run `periscope certs init \(directory)` first")
            }
            try Certs.prepare(directory, files: ["\(hostname).crt", "\(hostname).key"])
            let base = "\(directory)/\(hostname)"
            let extensions = "\(base).ext"
            guard let file = fopen(extensions, "w") else { throw ValidationError("cannot write \(extensions)") }
            fputs("subjectAltName=DNS:\(hostname)\nbasicConstraints=CA:FALSE\n"
                  + "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n", file)
            fclose(file)
            defer { unlink(extensions); unlink("\(base).csr") }
            do {
                try Certs.openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                   "-subj", "/CN=\(hostname)", "-keyout", "\(base).key", "-out", "\(base).csr"])
                try Certs.openssl(["x509", "-req", "-sha256", "-days", "825", "-in", "\(base).csr",
                               "-CA", "\(directory)/ca.crt", "-CAkey", "\(directory)/ca.key", "-CAcreateserial",
                                   "-extfile", extensions, "-out", "\(base).crt"])
            } catch {
                unlink("\(base).key")  // no half-made pair left behind
                unlink("\(base).crt")
                throw error
            }
            print("wrote \(base).crt and \(base).key")
        }
    }

    /// Creates `directory` and its parents (0700) and refuses to overwrite any of `files` in it.
    static func prepare(_ directory: String, files: [String]) throws {
        var path = directory.hasPrefix("/") ? "" : "."
        for part in directory.split(separator: "/") {
            path += "/\(part)"
            if mkdir(path, 0o700) != 0, errno != EEXIST {
                throw ValidationError("cannot create \(path): \(String(cString: strerror(errno)))")
            }
        }
        for name in files where access("\(directory)/\(name)", F_OK) == 0 {
            throw ValidationError("\(directory)/\(name) exists; not overwriting it")
        }
    }

    /// Runs `openssl ARGS` with an owner-only umask (keys are created 0600); throws when it fails.
    static func openssl(_ arguments: [String]) throws {
        var pid: pid_t = 0
        let args = (["openssl"] + arguments).map { strdup($0) } + [nil]
        defer { args.forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // openssl's chatter goes to a scratch file, shown only when it fails.
        var template = Array("/tmp/periscope-openssl.XXXXXX".utf8CString)
        let log = mkstemp(&template)
        let logPath = String(nulTerminated: template)
        defer { if log >= 0 { close(log); unlink(logPath) } }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        if log >= 0 { posix_spawn_file_actions_adddup2(&actions, log, 2) }
        let previous = umask(0o077)
        let spawned = posix_spawnp(&pid, "openssl", &actions, nil, args, environ)
        umask(previous)
        guard spawned == 0 else { throw ValidationError("the openssl command is not installed (apt-get install openssl)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        guard status & 0x7F == 0, (status >> 8) & 0xFF == 0 else {
            var detail = [UInt8](repeating: 0, count: 2048)
            let count = log >= 0 ? pread(log, &detail, detail.count, 0) : 0
            throw ValidationError("openssl \(arguments[0]) failed: \(String(decoding: detail.prefix(max(0, count)), as: UTF8.self))")
        }
    }
}
