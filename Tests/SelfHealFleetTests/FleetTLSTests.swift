import Foundation
import Logging
import PostgresNIO
import SelfHealFleet
import SelfHealStore
import Testing

/// TLS to the central store, as the URL's `sslmode` says (libpq's modes), against a real PostgreSQL server with
/// `ssl = on` and a certificate of a CA made for the test; the server's own `pg_stat_ssl` says whether each
/// connection is encrypted.
@Suite(.serialized)
struct FleetTLSTests {
    static let server = Result { try TestPostgresServer.start(tls: true) }

    /// Whether the server sees this connection as TLS.
    func isEncrypted(_ url: String) async throws -> Bool {
        let connection = try await FleetDatabase.connect(try FleetStoreURL(url), logger: Logger(label: "test"))
        var encrypted: Bool?
        do {
            let rows = try await connection.query(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                logger: Logger(label: "test")
            )
            for try await value in rows.decode(Bool.self) { encrypted = value }
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
        return try #require(encrypted)
    }

    @Test func eachSSLModeGivesTheConnectionItNames() async throws {
        let server = try Self.server.get()
        let address = "postgresql://postgres@127.0.0.1:\(server.port)/postgres"
        let name = "postgresql://postgres@localhost:\(server.port)/postgres"
        #expect(try await isEncrypted(address) == true, "prefer, the default, encrypts when the server offers")
        #expect(try await isEncrypted(address + "?sslmode=disable") == false)
        #expect(try await isEncrypted(address + "?sslmode=require") == true)
        #expect(try await isEncrypted(address + "?sslmode=verify-ca&sslrootcert=\(server.caCertificate)") == true)
        #expect(try await isEncrypted(name + "?sslmode=verify-full&sslrootcert=\(server.caCertificate)") == true)
    }

    @Test func aCertificateOfAnotherCAIsRefusedInOneLine() async throws {
        let server = try Self.server.get()
        for url in [
            "postgresql://postgres@127.0.0.1:\(server.port)/postgres?sslmode=verify-ca&sslrootcert="
                + server.otherCACertificate,
            "postgresql://postgres@localhost:\(server.port)/postgres?sslmode=verify-full&sslrootcert="
                + server.otherCACertificate,
        ] {
            let error = await #expect(throws: StoreError.self) {
                let connection = try await FleetDatabase.connect(try FleetStoreURL(url), logger: Logger(label: "test"))
                try await connection.close()
            }
            let message = error.map { "\($0)" } ?? ""
            #expect(message.contains("TLS failed"), "\(message)")
            #expect(!message.contains("\n"), "\(message)")
        }
    }

    @Test func verifyFullChecksTheHostName() async throws {
        let server = try Self.server.get()
        try server.useCertificate(namingLocalhost: false)
        defer { try? server.useCertificate(namingLocalhost: true) }
        let name = "postgresql://postgres@localhost:\(server.port)/postgres"
        // Signed by the CA all the same: verify-ca takes it, verify-full does not (it names elsewhere.invalid
        // only: NIOSSL also takes an IP address in the certificate that is the peer's, so it holds none).
        #expect(try await isEncrypted(name + "?sslmode=verify-ca&sslrootcert=\(server.caCertificate)") == true)
        let error = await #expect(throws: StoreError.self) {
            let connection = try await FleetDatabase.connect(
                try FleetStoreURL(name + "?sslmode=verify-full&sslrootcert=\(server.caCertificate)"),
                logger: Logger(label: "test")
            )
            try await connection.close()
        }
        #expect(error.map { "\($0)" }?.contains("TLS failed") == true, "\(String(describing: error))")
    }

    @Test func requireAgainstAServerWithoutTLSFailsAtOnceNamingWhy() async throws {
        let url = try TestPostgresServer.shared().url() + "?sslmode=require"
        let central = try CentralProcess(store: url)
        central.process.waitUntilExit()
        #expect(central.process.terminationStatus == 1)
        #expect(central.log.contains("does not take TLS connections"), "\(central.log)")
        #expect(central.log.split(separator: "\n").count == 1, "\(central.log)")
    }

    @Test func centralAppliesTheFleetLogOverVerifiedTLS() async throws {
        let server = try Self.server.get()
        let database = try server.makeDatabase()
        let url =
            database.replacingOccurrences(of: "@127.0.0.1:", with: "@localhost:")
            + "?sslmode=verify-full&sslrootcert=\(server.caCertificate)"
        try await FleetTestLog.with(url: url) { log in
            var stream = FleetTestStream(seed: 17)
            try await log.append(stream.take(500), hosts: ["web-1", "web-2"], batch: 100)
            let central = try CentralProcess(store: url)
            try await log.waitCaughtUp()
            try await CentralProjectorTests().expectEqualToLocal(log)
            // Every client session of the server (the central's, the test's, psql's own) is encrypted.
            let sessions = """
                SELECT count(*) FILTER (WHERE s.ssl) || ' ' || count(*) FILTER (WHERE NOT s.ssl)
                FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.backend_type = 'client backend'
                """
            let counts = try server.psql(sessions).split(separator: " ").compactMap { Int($0) }
            #expect(counts.count == 2 && counts[0] >= 3 && counts[1] == 0, "encrypted, plain: \(counts)")
            central.kill()
        }
    }

    @Test func urlParametersAreCheckedNeverIgnored() {
        let base = "postgresql://postgres@127.0.0.1:5432/fleet"
        for (query, expected) in [
            ("?sslmode=bogus", "expected one of disable, prefer, require, verify-ca, verify-full"),
            ("?sslmode=", "sslmode is \"\""),
            ("?ssl=true", "a parameter selfheal does not know: ssl"),
            ("?sslmode=require&sslrootcert=/x.pem", "sslrootcert is used with sslmode=verify-ca"),
            ("?sslmode=verify-full", "127.0.0.1 is an address"),
            ("?sslmode=verify-ca&sslrootcert=/nonexistent.pem", "cannot read the store URL's sslrootcert"),
        ] {
            #expect(throws: StoreError.self) { _ = try FleetStoreURL(base + query) }
            do {
                _ = try FleetStoreURL(base + query)
            } catch {
                #expect("\(error)".contains(expected), "\(query): \(error)")
            }
        }
        #expect((try? FleetStoreURL(base))?.tlsMode == .prefer)
    }
}
