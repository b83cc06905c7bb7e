import CPeriscopeHTTP

/// One HTTP request and its answer (an `evhttp_request`).
///
/// Answer exactly once: ``reply(status:reason:contentType:body:)``, or start a stream with ``HTTPStream``.
/// After that the exchange must not be used (libevent frees the request once the reply is sent).
///
/// - Important: loop thread only.
public final class HTTPExchange {
    /// The request method.
    public enum Method: Sendable { case get, post, head, other }

    let request: OpaquePointer
    private(set) var answered = false
    public let method: Method
    /// The URI's path, still percent-encoded (e.g. `/app.js`).
    public let path: String
    /// The URI's raw query (after `?`), or "".
    public let query: String

    init(_ request: OpaquePointer) {
        self.request = request
        switch periscope_http_method(request) {
        case 1: method = .get
        case 2: method = .post
        case 4: method = .head
        default: method = .other
        }
        path = String(cString: periscope_http_path(request))
        query = String(cString: periscope_http_query(request))
    }

    /// A request header by case-insensitive name.
    public func header(_ name: String) -> String? {
        periscope_http_header(request, name).map { String(cString: $0) }
    }

    /// The request body (libevent has already limited its size).
    public func body() -> [UInt8] {
        let length = periscope_http_body_length(request)
        guard length > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: length)
        let copied = bytes.withUnsafeMutableBufferPointer { periscope_http_body_copy(request, $0.baseAddress, length) }
        return Array(bytes.prefix(copied))
    }

    /// Adds a response header; before the answer only.
    public func addHeader(_ name: String, _ value: String) {
        guard !answered else { return }
        periscope_http_add_header(request, name, value)
    }

    /// Sends the whole answer.
    public func reply(status: Int, reason: String? = nil, contentType: String = "text/plain; charset=utf-8", body: [UInt8]) {
        guard !answered else { return }
        answered = true
        periscope_http_add_header(request, "Content-Type", contentType)
        body.withUnsafeBytes { raw in
            periscope_http_reply(request, Int32(status), reason ?? HTTPExchange.reason(status), raw.baseAddress, raw.count)
        }
    }

    /// Marks the exchange as answered by a stream (``HTTPStream`` takes the request over).
    func takeForStream() -> OpaquePointer? {
        guard !answered else { return nil }
        answered = true
        return request
    }

    /// The standard reason phrase of the codes this server uses.
    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 204: return "No Content"
        case 302: return "Found"
        case 400: return "Bad Request"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 409: return "Conflict"
        case 413: return "Payload Too Large"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        default: return "Status \(status)"
        }
    }
}
