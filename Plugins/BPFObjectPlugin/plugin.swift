import Foundation
import PackagePlugin

/// Compiles the package's BPF programs (bpf/*.bpf.c, clang -target bpf) and embeds each object in the target as a
/// generated Swift file (scripts/bpf-embed.sh), so `swift build` alone produces a daemon that carries them and a
/// change to the C source or the shared header rebuilds them.
@main
struct BPFObjectPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let root = context.package.directoryURL
        let script = root.appending(path: "scripts/bpf-embed.sh")
        // Each program with the header it shares with the daemon and the headers of bpf/ it includes.
        let programs = [("l7", "periscope_l7.h", [String]()),
                        ("tcp_counters", "periscope_tcp_counters.h", ["tcp_kernel_types.h"])]
        var environment: [String: String] = [:]
        if let clang = try? context.tool(named: "clang") { environment["CLANG"] = clang.url.path }
        if let path = ProcessInfo.processInfo.environment["PATH"] { environment["PATH"] = path }
        return programs.map { name, headerName, includes in
            let source = root.appending(path: "bpf/\(name).bpf.c")
            let header = root.appending(path: "Sources/CPeriscopeBPF/include/\(headerName)")
            let output = context.pluginWorkDirectoryURL.appending(path: "\(name)_bpf_object.swift")
            return .buildCommand(displayName: "Compiling BPF program \(name).bpf.c",
                                 executable: URL(fileURLWithPath: "/bin/bash"),
                                 arguments: [script.path, source.path, output.path],
                                 environment: environment,
                                 inputFiles: [script, source, header] + includes.map { root.appending(path: "bpf/\($0)") },
                                 outputFiles: [output])
        }
    }
}
