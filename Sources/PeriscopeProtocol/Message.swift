/// One JSON-RPC 2.0 message, classified. Pure value.
public enum Message: Sendable, Hashable {
    case request(id: RequestID, method: String, params: JSONValue?)
    case notification(method: String, params: JSONValue?)
    case response(id: RequestID?, result: Result<JSONValue, RPCError>)

    /// The JSON form of the message, with `"jsonrpc": "2.0"`.
    public var json: JSONValue {
        var members: [String: JSONValue] = ["jsonrpc": "2.0"]
        switch self {
        case .request(let id, let method, let params):
            members["id"] = id.json
            members["method"] = .string(method)
            if let params { members["params"] = params }
        case .notification(let method, let params):
            members["method"] = .string(method)
            if let params { members["params"] = params }
        case .response(let id, let result):
            members["id"] = id?.json ?? .null
            switch result {
            case .success(let value): members["result"] = value
            case .failure(let error): members["error"] = error.json
            }
        }
        return .object(members)
    }

    /// A failed decode: the error to answer with, and the id recovered from the message, if any,
    /// so the peer can match the error to its request.
    public struct DecodeFailure: Error, Sendable, Hashable {
        public var id: RequestID?
        public var error: RPCError
    }

    /// Classifies one JSON value (not a batch) as a request, notification or response.
    public static func decode(_ value: JSONValue) -> Result<Message, DecodeFailure> {
        guard case .object(let members) = value else {
            return .failure(DecodeFailure(id: nil, error: .invalidRequest("a message must be a JSON object, got \(value.typeName)")))
        }
        var id: RequestID?
        if let rawID = members["id"] {
            if rawID.isNull {
                id = nil
            } else if let parsed = RequestID(json: rawID) {
                id = parsed
            } else {
                return .failure(DecodeFailure(id: nil, error: .invalidRequest("\"id\" must be a string or an integer")))
            }
        }
        guard members["jsonrpc"] == .string("2.0") else {
            return .failure(DecodeFailure(id: id, error: .invalidRequest("\"jsonrpc\" must be \"2.0\"")))
        }
        if let method = members["method"] {
            guard case .string(let name) = method else {
                return .failure(DecodeFailure(id: id, error: .invalidRequest("\"method\" must be a string")))
            }
            // `"params": null` is read as absent: some LSP clients send it for shutdown and exit.
            let params = members["params"].flatMap { $0.isNull ? nil : $0 }
            if let params {
                switch params {
                case .array, .object: break
                default:
                    return .failure(DecodeFailure(id: id, error: .invalidRequest("\"params\" must be an object or an array")))
                }
            }
            if members["id"] == nil { return .success(.notification(method: name, params: params)) }
            if members["id"] == .null {
                return .failure(DecodeFailure(id: nil, error: .invalidRequest("\"id\" must not be null in a request")))
            }
            guard let id else { return .failure(DecodeFailure(id: nil, error: .invalidRequest("invalid \"id\""))) }
            return .success(.request(id: id, method: name, params: params))
        }
        if let result = members["result"], members["error"] == nil {
            return .success(.response(id: id, result: .success(result)))
        }
        if let errorValue = members["error"], members["result"] == nil, let error = RPCError(json: errorValue) {
            return .success(.response(id: id, result: .failure(error)))
        }
        return .failure(DecodeFailure(id: id, error: .invalidRequest("a message needs \"method\", or exactly one of \"result\" and \"error\"")))
    }
}
