import ArgumentParser
import SelfHealHTTP

/// `--http ADDR:PORT` and `--http-token-file FILE`: the HTTP API of `serve` and of `central`.
struct HTTPOptions: ParsableArguments {
    @Option(help: "Serve the HTTP API on ADDR:PORT, e.g. 127.0.0.1:8470 (default off).")
    var http: String?

    @Option(help: "The tokens of the HTTP API, one a line; needed for HTTP ingest and non-loopback addresses.")
    var httpTokenFile: String?

    func validate() throws {
        if let http {
            do { _ = try ListenAddress(parsing: http) } catch { throw ValidationError(error.message) }
        } else if httpTokenFile != nil {
            throw ValidationError("--http-token-file needs --http ADDR:PORT")
        }
    }

    /// The HTTP side's settings, the token file read; nil without `--http`.
    func configuration(queueWait: Duration = .seconds(5)) throws -> HTTPConfiguration? {
        guard let http else { return nil }
        let tokens = try httpTokenFile.map { path throws(HTTPSetupError) in try AccessTokens(contentsOfFile: path) }
        let settings = HTTPConfiguration(
            address: try ListenAddress(parsing: http),
            tokens: tokens ?? AccessTokens(),
            queueWait: queueWait
        )
        try settings.validate()
        return settings
    }
}
