/// Frames outgoing message bodies for a connection's ``FramingMode``. Pure; any thread.
public enum FrameEncoder {
    /// Appends `value` framed for `mode` to `output`: `Content-Length: N\r\n\r\n` + body, or body + `\n`.
    public static func append(_ value: JSONValue, mode: FramingMode, into output: inout [UInt8]) {
        switch mode {
        case .lines:
            JSONWriter.write(value, into: &output)
            output.append(0x0A)
        case .headers:
            appendEncoded(JSONWriter.bytes(value), mode: .headers, into: &output)
        }
    }

    /// Appends a message body that is JSON text already, framed for `mode`.
    public static func appendEncoded(_ body: [UInt8], mode: FramingMode, into output: inout [UInt8]) {
        switch mode {
        case .lines:
            output.append(contentsOf: body)
            output.append(0x0A)
        case .headers:
            output.append(contentsOf: "Content-Length: ".utf8)
            JSONWriter.appendInteger(Int64(body.count), into: &output)
            output.append(contentsOf: [0x0D, 0x0A, 0x0D, 0x0A])
            output.append(contentsOf: body)
        }
    }

    /// `value` framed for `mode`.
    public static func frame(_ value: JSONValue, mode: FramingMode) -> [UInt8] {
        var output: [UInt8] = []
        append(value, mode: mode, into: &output)
        return output
    }
}
