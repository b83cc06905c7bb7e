// swift-tools-version:6.0
import PackageDescription

let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")

let package = Package(
    name: "Periscope",
    products: [
        .executable(name: "periscoped", targets: ["periscoped"]),
        .executable(name: "periscope", targets: ["periscope"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // libevent, from Debian's libevent-dev.
        .systemLibrary(
            name: "CLibevent",
            pkgConfig: "libevent_pthreads",
            providers: [.apt(["libevent-dev"])]
        ),
        // TLS 1.3 bufferevents (Debian's libevent_openssl, libssl-dev) and zlib (zlib1g-dev) behind plain C types.
        .target(
            name: "CPeriscopeTLS",
            linkerSettings: [.linkedLibrary("event_openssl"), .linkedLibrary("ssl"), .linkedLibrary("crypto"), .linkedLibrary("z")]
        ),
        // The NATS C client (Debian's libnats-dev) for the report bus (issue 15), and the bus behind plain C types:
        // a connection on the daemon's libevent loop (the client's libevent adapter), JetStream stream and consumer.
        .systemLibrary(name: "CNats", pkgConfig: "libnats", providers: [.apt(["libnats-dev"])]),
        .target(name: "CPeriscopeNATS", dependencies: ["CNats"],
                linkerSettings: [.linkedLibrary("nats"), .linkedLibrary("event_core"), .linkedLibrary("event_pthreads")]),
        // Thin C shims over Linux kernel headers (netlink, sock_diag, proc connector).
        .target(name: "CPeriscopeLinux"),
        // Threads and clocks: the few POSIX helpers every side (daemon, collectors, benchmark) shares.
        .target(name: "PeriscopeSystem", dependencies: ["CPeriscopeLinux"]),
        // libevent's HTTP server (evhttp, libevent_extra) behind plain C types, for `periscope ui`.
        .target(name: "CPeriscopeHTTP", linkerSettings: [.linkedLibrary("event_extra")]),
        // The libevent loop: listeners, buffered connections, timers, signals, cross-thread wake-ups, an HTTP server.
        .target(name: "PeriscopeEventLoop", dependencies: ["CLibevent", "CPeriscopeTLS", "CPeriscopeHTTP", "PeriscopeSystem", logging]),
        // JSON-RPC 2.0 values, LSP framing, and one type per method (Methods/). Pure: no I/O.
        .target(name: "PeriscopeProtocol"),
        // The topology model: reports, nodes, merges. Pure.
        .target(name: "PeriscopeTopology"),
        // Linux collection: procfs, sock_diag, host facts, containers, kernel event monitors, the collection pipeline.
        .target(name: "PeriscopeCollectors", dependencies: ["CPeriscopeLinux", "PeriscopeSystem", "PeriscopeTopology", "PeriscopeProtocol", logging,
                                                          "CPeriscopeBPF"],
                plugins: ["BPFObjectPlugin"]),
        // L7 (issue 14): libbpf (Debian's libbpf-dev) behind plain C calls; the BPF C itself is bpf/*.bpf.c, compiled
        // with clang -target bpf and embedded by the BPFObjectPlugin (scripts/bpf-embed.sh).
        .target(name: "CPeriscopeBPF", linkerSettings: [.linkedLibrary("bpf")]),
        .plugin(name: "BPFObjectPlugin", capability: .buildTool()),
        // Renderers from a report to the views clients see. Pure.
        .target(name: "PeriscopeViews", dependencies: ["PeriscopeTopology", "PeriscopeProtocol"]),
        // Sessions, methods, subscriptions, transports.
        .target(
            name: "PeriscopeServer",
            dependencies: ["PeriscopeEventLoop", "PeriscopeProtocol", "PeriscopeTopology",
                           "PeriscopeCollectors", "PeriscopeViews", "PeriscopeSystem", "CPeriscopeTLS", logging,
                           "PeriscopeHistory", "CPeriscopeNATS"]
        ),
        // SQLite 3, from Debian's libsqlite3-dev: the history log's store.
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // History and time travel: the topology's changes in an embedded SQLite log (intervals, checkpoints).
        // zlib (zlib1g-dev) alone, for the history log (CPeriscopeTLS would bring libevent's TLS along).
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "PeriscopeHistory", dependencies: ["CSQLite", "CZlib", "PeriscopeTopology", "PeriscopeSystem"]),
        // A small blocking client used by the shell client, the benchmark and tests.
        .target(name: "PeriscopeClient", dependencies: ["PeriscopeProtocol", "PeriscopeSystem"]),
        .executableTarget(name: "periscoped", dependencies: ["PeriscopeServer", "PeriscopeProtocol", argumentParser, logging,
                                                            "PeriscopeHistory"]),
        .executableTarget(name: "periscope", dependencies: ["PeriscopeClient", "PeriscopeProtocol", "PeriscopeSystem", argumentParser,
                                                            "PeriscopeEventLoop"]),
        .executableTarget(
            name: "periscope-bench",
            dependencies: ["PeriscopeClient", "PeriscopeProtocol", "PeriscopeCollectors", "PeriscopeSystem", argumentParser,
                           "PeriscopeHistory", "PeriscopeViews", "PeriscopeTopology"]
        ),

        .testTarget(name: "PeriscopeProtocolTests", dependencies: ["PeriscopeProtocol", "PeriscopeFixtures"]),
        // Hand-made snapshots shared by the topology and view tests.
        .target(name: "PeriscopeFixtures", dependencies: ["PeriscopeTopology"], path: "Tests/PeriscopeFixtures"),
        .testTarget(name: "PeriscopeTopologyTests", dependencies: ["PeriscopeTopology", "PeriscopeFixtures"]),
        .testTarget(name: "PeriscopeCollectorsTests", dependencies: ["PeriscopeCollectors", "PeriscopeTopology", "PeriscopeSystem"]),
        .testTarget(name: "PeriscopeViewsTests", dependencies: ["PeriscopeViews", "PeriscopeTopology", "PeriscopeProtocol", "PeriscopeFixtures"]),
        // A socket-free transport and an embedded daemon for protocol unit tests.
        .target(name: "PeriscopeServerTesting", dependencies: ["PeriscopeServer", "PeriscopeEventLoop", "PeriscopeProtocol", "PeriscopeSystem"],
                path: "Tests/PeriscopeServerTesting"),
        .testTarget(name: "PeriscopeHistoryTests",
                    dependencies: ["PeriscopeHistory", "PeriscopeViews", "PeriscopeTopology", "PeriscopeProtocol", "PeriscopeFixtures"]),
        .testTarget(
            name: "PeriscopeServerTests",
            dependencies: ["PeriscopeServer", "PeriscopeServerTesting", "PeriscopeClient", "PeriscopeProtocol", "PeriscopeEventLoop",
                           "PeriscopeTopology", "PeriscopeViews", "PeriscopeFixtures", "PeriscopeSystem", "PeriscopeHistory"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// Fuzzing harnesses (fuzz/README.md): declared only when PERISCOPE_FUZZ is set, as scripts/fuzz.sh does, so
// ordinary builds and `swift test` never compile them. libFuzzer supplies `main`, hence -parse-as-library.
if Context.environment["PERISCOPE_FUZZ"] != nil {
    package.targets.append(.executableTarget(
        name: "periscope-fuzz",
        dependencies: ["PeriscopeProtocol", "PeriscopeViews", "PeriscopeCollectors", "CPeriscopeLinux"],
        path: "fuzz/Sources/periscope-fuzz",
        swiftSettings: [.unsafeFlags(["-parse-as-library"])]
    ))
}
