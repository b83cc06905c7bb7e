/// Reading text that a C call wrote into a fixed buffer (`inet_ntop`, `gethostname`, `mkstemp`, OpenSSL's error
/// strings): the bytes before the first NUL, as UTF-8 (invalid bytes replaced). Pure; any thread.
extension String {
    public init(nulTerminated buffer: [CChar]) {
        self.init(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
