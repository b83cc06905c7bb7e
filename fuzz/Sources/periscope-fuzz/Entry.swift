#if canImport(Glibc)
import Glibc
#endif

/// One fuzz target: a name (`fuzz/corpus/<name>/`) and a function that must neither crash nor break an
/// invariant (a broken invariant calls ``fuzzCheck(_:_:)``, which aborts so libFuzzer keeps the input).
struct FuzzTarget: Sendable {
    let name: String
    let run: @Sendable ([UInt8]) -> Void
}

/// Every target, by name.
let fuzzTargets: [FuzzTarget] = [
    FuzzTarget(name: "frame", run: fuzzFrameDecoder),
    FuzzTarget(name: "json", run: fuzzJSON),
    FuzzTarget(name: "filter", run: fuzzFilter),
    FuzzTarget(name: "engine", run: fuzzEngine),
    FuzzTarget(name: "netlink", run: fuzzNetlink),
    FuzzTarget(name: "proc", run: fuzzProc),
]

/// The target this process runs, chosen once in `LLVMFuzzerInitialize` before any input is run
/// (libFuzzer calls both on its one main thread).
nonisolated(unsafe) var selectedTarget: FuzzTarget?

/// Writes `text` to standard error (unbuffered, no shared `FILE *`).
func printError(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.append(0x0A)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

/// Aborts with `message` when `condition` is false: an invariant of a parser does not hold.
func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() {
        printError("fuzz invariant broken: \(message())")
        abort()
    }
}

/// Picks the target from the program name (`fuzz-json` → `json`, the links scripts/fuzz.sh makes) or,
/// failing that, from `PERISCOPE_FUZZ_TARGET`.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<CInt>,
                             _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    var name = getenv("PERISCOPE_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    if let args = argv.pointee, argc.pointee > 0, let program = args[0] {
        let base = String(cString: program).split(separator: "/").last.map(String.init) ?? ""
        if base.hasPrefix("fuzz-") { name = String(base.dropFirst(5)) }
    }
    guard let target = fuzzTargets.first(where: { $0.name == name }) else {
        let names = fuzzTargets.map(\.name).joined(separator: " ")
        printError("periscope-fuzz: run as fuzz-NAME or set PERISCOPE_FUZZ_TARGET=NAME, NAME one of: \(names)")
        exit(2)
    }
    selectedTarget = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    selectedTarget?.run(bytes)
    return 0
}

/// Splits `bytes` into pieces whose sizes come from a seed byte, to replay the same stream with other
/// read boundaries.
func pieces(of bytes: ArraySlice<UInt8>, seed: UInt8) -> [ArraySlice<UInt8>] {
    var out: [ArraySlice<UInt8>] = []
    var state = UInt32(seed) &* 2_654_435_761 &+ 1
    var i = bytes.startIndex
    while i < bytes.endIndex {
        state = state &* 1_103_515_245 &+ 12_345
        let size = 1 + Int((state >> 16) % (seed % 2 == 0 ? 7 : 97))
        let end = min(i + size, bytes.endIndex)
        out.append(bytes[i..<end])
        i = end
    }
    return out
}
