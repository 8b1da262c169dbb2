/// The daemon's answer to `{"op":"sync"}` (SPEC section 3), written by the daemon (socket and HTTP ingest) and
/// read by the client library through the same type and keys.
public struct SyncReply: Sendable, Equatable, Decodable {
    /// One rejected line of the connection.
    public struct LineFailure: Sendable, Equatable, Decodable {
        /// 1-based line number on the connection (or in the HTTP body).
        public var line: Int
        /// Why it was rejected.
        public var error: String

        /// Creates a failure.
        public init(line: Int, error: String) {
            self.line = line
            self.error = error
        }
    }

    /// Whether everything before the sync is committed.
    public var ok: Bool
    /// Lines stored since the connection opened.
    public var accepted: Int
    /// Lines that repeated an earlier (service, id), since the connection opened.
    public var duplicates: Int
    /// Lines rejected since the connection opened.
    public var rejected: Int
    /// The highest seq in the log after the commit.
    public var lastSeq: Int64
    /// The lines rejected since the previous sync (at most 100).
    public var errors: [LineFailure]
    /// Why the commit failed, when `ok` is false.
    public var error: String?

    /// A reply after a good commit.
    public init(accepted: Int, duplicates: Int, rejected: Int, lastSeq: Int64, errors: [LineFailure]) {
        ok = true
        self.accepted = accepted
        self.duplicates = duplicates
        self.rejected = rejected
        self.lastSeq = lastSeq
        self.errors = errors
        error = nil
    }

    /// The reply when the store could not commit: nothing since the last good sync may be assumed stored.
    public init(failure: String) {
        ok = false
        accepted = 0
        duplicates = 0
        rejected = 0
        lastSeq = 0
        errors = []
        error = failure
    }

    enum CodingKeys: String, CodingKey {
        case ok, accepted, duplicates, rejected, errors, error
        case lastSeq = "last_seq"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        ok = try container.decode(Bool.self, forKey: .ok)
        accepted = try container.decodeIfPresent(Int.self, forKey: .accepted) ?? 0
        duplicates = try container.decodeIfPresent(Int.self, forKey: .duplicates) ?? 0
        rejected = try container.decodeIfPresent(Int.self, forKey: .rejected) ?? 0
        lastSeq = try container.decodeIfPresent(Int64.self, forKey: .lastSeq) ?? 0
        errors = try container.decodeIfPresent([LineFailure].self, forKey: .errors) ?? []
        error = try container.decodeIfPresent(String.self, forKey: .error)
    }

    /// The reply as its json object (without a line end): `{"op":"sync","ok":true,"accepted":3,...}`, or
    /// `{"op":"sync","ok":false,"error":"..."}`.
    public var json: String {
        var json = JSONText()
        json.string("op", "sync")
        json.bool("ok", ok)
        guard ok else {
            json.string("error", error ?? "the store could not commit")
            return json.finish()
        }
        json.number("accepted", accepted)
        json.number("duplicates", duplicates)
        json.number("rejected", rejected)
        json.number("last_seq", lastSeq)
        let failures = errors.map { failure in
            var item = JSONText()
            item.number("line", failure.line)
            item.string("error", failure.error)
            return item.finish()
        }
        json.raw("errors", JSONText.array(failures))
        return json.finish()
    }
}

/// The daemon's answer to `{"op":"ping"}`: `{"op":"pong","version":"X.Y.Z"}`.
public struct PongReply: Sendable, Equatable, Decodable {
    /// `pong`.
    public var op: String
    /// The daemon's version.
    public var version: String

    /// The reply of a daemon of this version.
    public init(version: String) {
        op = "pong"
        self.version = version
    }

    /// The reply as its json object (without a line end).
    public var json: String {
        var json = JSONText()
        json.string("op", op)
        json.string("version", version)
        return json.finish()
    }
}
