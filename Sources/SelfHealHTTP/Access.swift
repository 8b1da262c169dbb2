import Foundation
import HTTPTypes

/// The tokens of `--http-token-file` (SPEC section 9): one a line, `#` starts a comment, blank lines ignored.
/// Compared in constant time; never printed (its description hides them).
public struct AccessTokens: Sendable, CustomStringConvertible {
    private let tokens: [[UInt8]]

    /// No tokens: the HTTP side serves loopback only and refuses ingest.
    public init() { tokens = [] }

    /// Tokens given directly (tests, embedding).
    public init(_ tokens: [String]) { self.tokens = tokens.map { Array($0.utf8) } }

    /// Reads a token file; unreadable, or holding no token, is an error naming the file.
    public init(contentsOfFile path: String) throws(HTTPSetupError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HTTPSetupError("cannot read the token file \(path)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw HTTPSetupError("the token file \(path) is not UTF-8 text")
        }
        var tokens: [String] = []
        for line in text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline) {
            let token = line.trimmingCharacters(in: .whitespaces)
            if token.isEmpty || token.hasPrefix("#") { continue }
            guard !token.contains(where: { $0.isWhitespace }) else {
                throw HTTPSetupError("a token in \(path) contains a space; put one token on each line")
            }
            tokens.append(token)
        }
        guard !tokens.isEmpty else { throw HTTPSetupError("the token file \(path) holds no token") }
        self.init(tokens)
    }

    /// Whether there are no tokens.
    public var isEmpty: Bool { tokens.isEmpty }

    /// How many tokens, never which.
    public var description: String { "\(tokens.count) token(s)" }

    /// Whether `candidate` is one of the tokens, in time that depends on neither the candidate's content nor
    /// which token it matches: every token is compared over its whole length.
    func contains(_ candidate: some Collection<UInt8>) -> Bool {
        let given = Array(candidate)
        var found: UInt8 = 0
        for token in tokens {
            var difference = UInt8(truncatingIfNeeded: token.count ^ given.count)
            for index in token.indices {
                let byte = index < given.count ? given[index] : 0
                difference |= token[index] ^ byte
            }
            found |= difference == 0 ? 1 : 0
        }
        return found == 1
    }

    /// Whether a request's `Authorization` header carries a token: `Bearer TOKEN`, or HTTP Basic with the
    /// token as the password (any user name).
    func admits(_ authorization: String?) -> Bool {
        guard let authorization else { return false }
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2 else { return false }
        let scheme = parts[0].lowercased()
        let credentials = parts[1].trimmingCharacters(in: .whitespaces)
        if scheme == "bearer" { return contains(credentials.utf8) }
        if scheme == "basic" {
            guard let decoded = Data(base64Encoded: credentials), let colon = decoded.firstIndex(of: UInt8(ascii: ":"))
            else { return false }
            return contains(decoded[decoded.index(after: colon)...])
        }
        return false
    }
}
