import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import SelfHealStore
import Synchronization

/// Where the central store is: a `postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=MODE&sslrootcert=FILE]`
/// URL (also `postgres://`). `sslmode` has libpq's meanings and default (``TLSMode``); any other parameter is an
/// error, never ignored.
public struct FleetStoreURL: Sendable, Equatable, CustomStringConvertible {
    /// Whether and how the connection is encrypted: libpq's `sslmode`, with its default, `prefer`.
    public enum TLSMode: String, Sendable, CaseIterable {
        /// Plain TCP.
        case disable
        /// TLS when the server offers it, else plain TCP; the certificate is not checked (libpq's default).
        case prefer
        /// TLS or no connection; the certificate is not checked.
        case require
        /// TLS, the server's certificate signed by `sslrootcert` (else the system's roots); any host name.
        case verifyCA = "verify-ca"
        /// As `verify-ca`, and the certificate names the URL's host (a host name, not an IP address).
        case verifyFull = "verify-full"
    }

    /// The URL's `sslmode`.
    public let tlsMode: TLSMode
    /// The URL's `sslrootcert`: the CA certificates (PEM) the server's certificate is checked against.
    public let rootCertificate: String?
    /// The TLS context made from the two at parse time (so that a bad file is an error then), nil for `disable`.
    private let tlsContext: NIOSSLContext?

    /// The server's host name or address.
    public var host: String
    /// The server's TCP port; 5432 unless given.
    public var port: Int
    /// The role to connect as.
    public var user: String
    /// Its password, if the server asks for one.
    public var password: String?
    /// The database.
    public var database: String

    /// Parses a URL; the error names what is wrong with it.
    public init(_ text: String) throws(StoreError) {
        guard let components = URLComponents(string: text), let scheme = components.scheme,
            scheme == "postgresql" || scheme == "postgres"
        else {
            throw StoreError(
                "not a postgresql:// URL: \(Self.redacted(text)) (expected postgresql://USER@HOST:PORT/DB)"
            )
        }
        guard let host = components.host, !host.isEmpty else {
            throw StoreError(
                "the store URL names no host: \(Self.redacted(text)) (expected postgresql://USER@HOST:PORT/DB)"
            )
        }
        guard let user = components.user, !user.isEmpty else {
            throw StoreError(
                "the store URL names no user: \(Self.redacted(text)) (expected postgresql://USER@HOST:PORT/DB)"
            )
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw StoreError(
                "the store URL names no database: \(Self.redacted(text)) (expected postgresql://USER@HOST:PORT/DB)"
            )
        }
        if let port = components.port, !(1...65_535).contains(port) {
            throw StoreError("the store URL's port is out of range: \(port)")
        }
        self.host = host
        self.port = components.port ?? 5432
        self.user = user
        self.password = components.password
        self.database = database
        var mode = TLSMode.prefer
        var rootCertificate: String?
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, let parsed = TLSMode(rawValue: value) else {
                    throw StoreError(
                        "the store URL's sslmode is \(item.value.map { "\"\($0)\"" } ?? "empty"): expected one of "
                            + TLSMode.allCases.map(\.rawValue).joined(separator: ", ")
                    )
                }
                mode = parsed
            case "sslrootcert":
                guard let value = item.value, !value.isEmpty else {
                    throw StoreError("the store URL's sslrootcert is empty: give the path of a PEM file")
                }
                rootCertificate = value
            default:
                throw StoreError(
                    "the store URL has a parameter selfheal does not know: \(item.name) (known: sslmode, sslrootcert)"
                )
            }
        }
        if rootCertificate != nil, mode != .verifyCA, mode != .verifyFull {
            throw StoreError("sslrootcert is used with sslmode=verify-ca or sslmode=verify-full, not \(mode.rawValue)")
        }
        if mode == .verifyFull, host.isIPAddressLiteral {
            throw StoreError(
                "sslmode=verify-full checks the certificate against a host name, and \(host) is an address: "
                    + "give the name the certificate holds, or use sslmode=verify-ca"
            )
        }
        tlsMode = mode
        self.rootCertificate = rootCertificate
        tlsContext = try Self.tlsContext(mode, rootCertificate: rootCertificate)
    }

    private static func tlsContext(_ mode: TLSMode, rootCertificate: String?) throws(StoreError) -> NIOSSLContext? {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch mode {
        case .disable: return nil
        case .prefer, .require: tls.certificateVerification = .none
        case .verifyCA: tls.certificateVerification = .noHostnameVerification
        case .verifyFull: tls.certificateVerification = .fullVerification
        }
        if let rootCertificate {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(rootCertificate))
            } catch {
                throw StoreError("cannot read the store URL's sslrootcert \(rootCertificate): \(error)")
            }
        }
        do {
            return try NIOSSLContext(configuration: tls)
        } catch {
            throw StoreError("cannot set up TLS for the central store: \(error)")
        }
    }

    public static func == (a: FleetStoreURL, b: FleetStoreURL) -> Bool {
        (a.host, a.port, a.user, a.password, a.database) == (b.host, b.port, b.user, b.password, b.database)
            && (a.tlsMode, a.rootCertificate) == (b.tlsMode, b.rootCertificate)
    }

    /// The URL without its password, for messages and logs (its sslmode when not the default).
    public var description: String {
        "postgresql://\(user)@\(host):\(port)/\(database)" + (tlsMode == .prefer ? "" : "?sslmode=\(tlsMode.rawValue)")
    }

    /// A URL as given, its password (if any) replaced by `***`, for error messages.
    static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "***"
        return components.string ?? text
    }

    /// The postgres-nio configuration of a connection to this server, TLS as `sslmode` says.
    public var configuration: PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS =
            switch (tlsMode, tlsContext) {
            case (.prefer, let context?): .prefer(context)
            case (.require, let context?), (.verifyCA, let context?), (.verifyFull, let context?): .require(context)
            default: .disable
            }
        var configuration = PostgresConnection.Configuration(
            host: host,
            port: port,
            username: user,
            password: password,
            database: database,
            tls: tls
        )
        configuration.options.connectTimeout = .seconds(5)
        if tlsMode == .verifyFull { configuration.options.tlsServerName = host }
        return configuration
    }
}

extension String {
    /// Whether this is an IPv4 or IPv6 address rather than a name.
    fileprivate var isIPAddressLiteral: Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        let bare = hasPrefix("[") && hasSuffix("]") ? String(dropFirst().dropLast()) : self
        return inet_pton(AF_INET, bare, &v4) == 1 || inet_pton(AF_INET6, bare, &v6) == 1
    }
}

/// The central store's database: connections and the migrations of `schema/postgresql/`.
public enum FleetDatabase {
    /// Opens one connection to the server.
    public static func connect(
        _ url: FleetStoreURL,
        logger: Logger,
        on eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.any()
    ) async throws(StoreError) -> PostgresConnection {
        do {
            return try await open(url, logger: logger, on: eventLoop)
        } catch {
            throw StoreError("cannot connect to the central store \(url): \(describe(error))")
        }
    }

    /// One connection attempt; postgres-nio's error as it is.
    private static func open(
        _ url: FleetStoreURL,
        logger: Logger,
        on eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.any()
    ) async throws -> PostgresConnection {
        try await PostgresConnection.connect(
            on: eventLoop,
            configuration: url.configuration,
            id: nextConnectionID(),
            logger: logger
        )
    }

    /// The migrations, in order: `schema/postgresql/NNN_name.sql`, embedded at build time.
    public static var migrations: [(name: String, text: String)] { FleetSchemaSQL.files }

    /// Applies the migrations the database lacks, each in its own transaction, under an advisory lock so that
    /// processes starting together apply each one once. Returns the names applied.
    @discardableResult
    public static func migrate(_ connection: PostgresConnection, logger: Logger) async throws(StoreError) -> [String] {
        do {
            _ = try await connection.simpleQuery("SELECT pg_advisory_lock(\(migrationLock))").get()
            var applied: [String] = []
            do {
                _ = try await connection.simpleQuery(
                    """
                    CREATE TABLE IF NOT EXISTS selfheal_schema (
                        name TEXT PRIMARY KEY,
                        applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
                    )
                    """
                ).get()
                let rows = try await connection.query("SELECT name FROM selfheal_schema", logger: logger)
                var present = Set<String>()
                for try await name in rows.decode(String.self) { present.insert(name) }
                let known = Set(migrations.map(\.name))
                if let unknown = present.subtracting(known).sorted().first {
                    throw StoreError(
                        "the central store has migration \(unknown), which this selfheal does not know: "
                            + "it was written by a newer version"
                    )
                }
                for migration in migrations where !present.contains(migration.name) {
                    let name = migration.name
                    _ = try await connection.simpleQuery("BEGIN").get()
                    do {
                        for statement in statements(migration.text) {
                            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        }
                        try await connection.query(
                            "INSERT INTO selfheal_schema (name) VALUES (\(name))",
                            logger: logger
                        )
                        _ = try await connection.simpleQuery("COMMIT").get()
                    } catch {
                        _ = try? await connection.simpleQuery("ROLLBACK").get()
                        throw error
                    }
                    applied.append(name)
                    logger.info("applied a migration of the central store", metadata: ["migration": "\(name)"])
                }
            } catch {
                _ = try? await connection.simpleQuery("ROLLBACK").get()
                _ = try? await connection.simpleQuery("SELECT pg_advisory_unlock(\(migrationLock))").get()
                throw error
            }
            _ = try await connection.simpleQuery("SELECT pg_advisory_unlock(\(migrationLock))").get()
            return applied
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("cannot migrate the central store: \(describe(error))")
        }
    }

    /// The statements of a migration file, one per element: split at each `;` outside quotes, dollar-quoted
    /// bodies and comments (the extended protocol takes one statement at a time).
    static func statements(_ text: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var characters = Array(text)[...]
        var dollarTag: String?
        var quoted = false
        while let character = characters.popFirst() {
            if let tag = dollarTag {
                current.append(character)
                if character == "$", current.hasSuffix(tag), current.count > tag.count { dollarTag = nil }
                continue
            }
            if quoted {
                current.append(character)
                if character == "'" { quoted = false }
                continue
            }
            switch character {
            case "-" where characters.first == "-":
                while let next = characters.first, next != "\n" { characters.removeFirst() }
            case "'":
                quoted = true
                current.append(character)
            case "$":
                // A dollar quote: $tag$ ... $tag$ (tag possibly empty).
                let tagBody = characters.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
                if characters.dropFirst(tagBody.count).first == "$" {
                    let tag = "$" + String(tagBody) + "$"
                    characters.removeFirst(tagBody.count + 1)
                    current += tag
                    dollarTag = tag
                } else {
                    current.append(character)
                }
            case ";":
                let statement = current.trimmingCharacters(in: .whitespacesAndNewlines)
                if !statement.isEmpty { statements.append(statement) }
                current = ""
            default:
                current.append(character)
            }
        }
        let statement = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !statement.isEmpty { statements.append(statement) }
        return statements
    }

    /// The advisory lock held while migrating (an arbitrary constant of this project).
    static let migrationLock: Int64 = 0x5e1f_4ea1_0001

    /// Opens one connection, waiting while the server cannot be reached (nothing listens, the host is down, or
    /// PostgreSQL is still starting up), with capped exponential backoff: `central` started before its PostgreSQL
    /// (a machine booting, a deploy in any order) waits for it, as the forwarder does. Logs one line when it
    /// starts waiting and one when the server answers. A failure a retry will not fix (a wrong password, no such
    /// database) is thrown at once.
    public static func connectWaiting(
        _ url: FleetStoreURL,
        logger: Logger,
        backoff: ClosedRange<Duration> = .milliseconds(200) ... .seconds(5)
    ) async throws(StoreError) -> PostgresConnection {
        var delay = backoff.lowerBound
        var waiting = false
        while true {
            do {
                let connection = try await open(url, logger: logger)
                if waiting { logger.notice("the central store \(url) answers") }
                return connection
            } catch {
                guard isUnreachable(error) else {
                    throw StoreError("cannot connect to the central store \(url): \(describe(error))")
                }
                if !waiting {
                    logger.warning("the central store \(url) is unreachable (\(describe(error))); waiting for it")
                    waiting = true
                }
                do { try await Task.sleep(for: delay) } catch {
                    throw StoreError("stopped while waiting for the central store \(url)")
                }
                delay = min(delay * 2, backoff.upperBound)
            }
        }
    }

    /// Whether a connection failed in its TLS handshake (a certificate refused, a host it does not name).
    private static func isTLSFailure(_ error: PSQLError) -> Bool {
        error.underlying is NIOSSLError || error.underlying is NIOSSLExtraError
    }

    /// Whether a connection attempt failed because the server cannot be reached now (a retry may succeed):
    /// no answer or a refused connection, or PostgreSQL saying it is starting up or shutting down (SQLSTATE
    /// 57P03, `cannot_connect_now`).
    static func isUnreachable(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError else { return false }
        if error.serverInfo?[.sqlState] == "57P03" { return true }
        switch error.code {
        // A TLS handshake that failed (a certificate not trusted) fails again: not worth waiting for.
        case .connectionError: return !isTLSFailure(error)
        case .serverClosedConnection: return true
        default: return false
        }
    }

    /// The advisory lock the applying `central` process holds.
    public static let projectorLock: Int64 = 0x5e1f_4ea1_0002

    /// A PostgreSQL error as one line: the server's message and code when it sent one.
    public static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                let code = error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
                return message + code
            }
            switch error.code {
            case .sslUnsupported:
                return "the server does not take TLS connections, and the URL's sslmode requires TLS"
            case .connectionError:
                if isTLSFailure(error), let underlying = error.underlying {
                    return "TLS failed: \(underlying) (is the server's certificate signed by the URL's sslrootcert, "
                        + "and does it name the host?)"
                }
                return "connection failed: \(error.underlying.map { "\($0)" } ?? "unreachable")"
            case .serverClosedConnection, .clientClosedConnection: return "the connection closed"
            default: return "\(error.code)"
            }
        }
        return "\(error)"
    }

    private static let connectionIDs = Atomic<Int>(0)

    private static func nextConnectionID() -> Int {
        connectionIDs.wrappingAdd(1, ordering: .relaxed).newValue
    }
}
