import Foundation
import Glibc
import Synchronization

/// A real PostgreSQL server of its own for the fleet tests (Debian's `postgresql` package): `initdb` in a
/// temporary directory, `pg_ctl` on a free loopback port, trust authentication, run as the `postgres` user when
/// the tests run as root (PostgreSQL refuses root). The tests that stop and start PostgreSQL own one each; the
/// others share ``shared`` and take a fresh database each (``makeDatabase()``).
///
/// Never skips: when PostgreSQL is not installed, ``start()`` throws naming the package to install.
final class TestPostgresServer: Sendable {
    struct SetupError: Error, CustomStringConvertible {
        var description: String
    }

    let directory: String
    let port: Int
    private let bin: String
    private let databases = Mutex(0)

    /// The server the tests share, started on first use and stopped when the test process exits.
    static func shared() throws -> TestPostgresServer {
        try sharedServer.withLock { server in
            if let server { return server }
            let started = try TestPostgresServer.start()
            server = started
            atexit { TestPostgresServer.stopShared() }
            return started
        }
    }

    private static let sharedServer = Mutex<TestPostgresServer?>(nil)

    private static func stopShared() {
        sharedServer.withLock { $0?.stop() }
    }

    /// Starts a new server; its data go when ``stop()`` is called. With `tls`, the server takes TLS connections
    /// with a certificate for `localhost` and 127.0.0.1 signed by a CA of its own (``caCertificate``).
    static func start(maxConnections: Int = 100, tls: Bool = false) throws -> TestPostgresServer {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard
            let bin = versions.sorted(by: { $0.compare($1, options: .numeric) == .orderedAscending })
                .map({ "/usr/lib/postgresql/\($0)/bin" })
                .last(where: { FileManager.default.isExecutableFile(atPath: "\($0)/initdb") })
        else {
            throw SetupError(
                description: "PostgreSQL is not installed: the fleet tests need Debian's postgresql package "
                    + "(apt-get install -y postgresql; .ci/run installs it)"
            )
        }
        let directory = try makeTemporaryDirectory()
        let server = TestPostgresServer(directory: directory, port: try freePort(), bin: bin, tls: tls)
        try server.run("initdb", ["-D", "\(directory)/data", "--auth=trust", "--username=postgres", "--encoding=UTF8"])
        if tls { try server.makeCertificates() }
        try server.resume(maxConnections: maxConnections)
        try server.watchTestProcess()
        return server
    }

    private init(directory: String, port: Int, bin: String, tls: Bool) {
        self.directory = directory
        self.port = port
        self.bin = bin
        self.tls = tls
    }

    /// Whether the server takes TLS connections.
    let tls: Bool
    /// The CA that signed the server's certificate (PEM), with `tls`.
    var caCertificate: String { "\(directory)/tls/ca.pem" }
    /// Another CA, which signed nothing the server has (PEM), with `tls`.
    var otherCACertificate: String { "\(directory)/tls/other-ca.pem" }

    /// A CA, another CA, and a server certificate signed by the first for `localhost` and 127.0.0.1, with
    /// openssl; the server's key readable by the server's user only, as PostgreSQL requires.
    private func makeCertificates() throws {
        let tls = "\(directory)/tls"
        try FileManager.default.createDirectory(atPath: tls, withIntermediateDirectories: true)
        let openssl = "/usr/bin/openssl"
        guard FileManager.default.isExecutableFile(atPath: openssl) else {
            throw SetupError(description: "openssl is not installed: the TLS tests need Debian's openssl package")
        }
        for ca in ["ca", "other-ca"] {
            try run(
                openssl,
                [
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=selfheal test \(ca)",
                    "-keyout", "\(tls)/\(ca).key", "-out", "\(tls)/\(ca).pem",
                ],
                asServer: false
            )
        }
        try run(
            openssl,
            [
                "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "\(tls)/server.key",
                "-out", "\(tls)/server.csr",
            ],
            asServer: false
        )
        /// A certificate of the CA for `csr`'s key, with these subject alternative names.
        func sign(_ name: String, names: String) throws {
            try "subjectAltName=\(names)\n".write(toFile: "\(tls)/\(name).ext", atomically: true, encoding: .utf8)
            try run(
                openssl,
                [
                    "x509", "-req", "-in", "\(tls)/\(name).csr", "-CA", "\(tls)/ca.pem", "-CAkey", "\(tls)/ca.key",
                    "-CAcreateserial", "-days", "2", "-extfile", "\(tls)/\(name).ext", "-out", "\(tls)/\(name).pem",
                ],
                asServer: false
            )
        }
        try sign("server", names: "DNS:localhost,IP:127.0.0.1")
        // The same key in a certificate that names another host: `useCertificate(namingLocalhost: false)`.
        try run(
            openssl,
            [
                "req", "-new", "-key", "\(tls)/server.key", "-subj", "/CN=elsewhere.invalid", "-out",
                "\(tls)/elsewhere.csr",
            ],
            asServer: false
        )
        try sign("elsewhere", names: "DNS:elsewhere.invalid")
        // In postgresql.conf, not on the command line, which would win over `ALTER SYSTEM` (useCertificate).
        let settings = "\nssl = on\nssl_cert_file = '\(tls)/server.pem'\nssl_key_file = '\(tls)/server.key'\n"
        let conf = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(directory)/data/postgresql.conf"))
        try conf.seekToEnd()
        try conf.write(contentsOf: Data(settings.utf8))
        try conf.close()
        chmod("\(tls)/server.key", 0o600)
        if getuid() == 0, let user = getpwnam("postgres") {
            for file in ["server.key", "server.pem", "elsewhere.pem"] {
                chown("\(tls)/\(file)", user.pointee.pw_uid, user.pointee.pw_gid)
            }
        }
    }

    /// The URL of a database of the server.
    func url(database: String = "postgres") -> String { "postgresql://postgres@127.0.0.1:\(port)/\(database)" }

    /// Creates an empty database and returns its URL.
    func makeDatabase() throws -> String {
        let number = databases.withLock {
            $0 += 1
            return $0
        }
        let name = "fleet_\(getpid())_\(number)"
        try run("psql", ["-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-q", "-c", "CREATE DATABASE \(name)"])
        return url(database: name)
    }

    /// Runs SQL with psql and returns its unaligned output (`-At`).
    @discardableResult
    func psql(_ sql: String, database: String = "postgres") throws -> String {
        try run(
            "psql",
            [
                "-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-At",
                "-c", sql,
            ]
        )
    }

    /// Stops the server (fast shutdown: open connections are closed); its data stay until ``stop()``.
    func pause() throws {
        try run("pg_ctl", ["-D", "\(directory)/data", "-m", "fast", "-w", "stop"])
    }

    /// Starts the server again on the same port with the same data.
    func resume(maxConnections: Int = 100) throws {
        try run(
            "pg_ctl",
            [
                "-D", "\(directory)/data", "-l", "\(directory)/server.log", "-w", "-o",
                "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c max_connections=\(maxConnections) "
                    + "-c fsync=off",
                "start",
            ]
        )
    }

    /// Serves the certificate for `localhost` and 127.0.0.1, or one for `elsewhere.invalid` only (the
    /// same CA and key), from the next connection on: a configuration reload, waited for.
    func useCertificate(namingLocalhost: Bool) throws {
        let file = "\(directory)/tls/\(namingLocalhost ? "server" : "elsewhere").pem"
        try psql("ALTER SYSTEM SET ssl_cert_file = '\(file)'")
        try psql("SELECT pg_reload_conf()")
        let deadline = Date().addingTimeInterval(30)
        while try psql("SHOW ssl_cert_file") != file {
            guard Date() < deadline else { throw SetupError(description: "the server did not reload its certificate") }
            usleep(20_000)
        }
    }

    /// Stops the server and removes its data.
    func stop() {
        _ = try? run("pg_ctl", ["-D", "\(directory)/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Leaves a shell that stops the server and removes its directory once this test process is gone, however
    /// it ends (a crash or SIGKILL included; atexit handlers do not run then).
    private func watchTestProcess() throws {
        let stop = (getuid() == 0 ? "/usr/sbin/runuser -u postgres -- " : "") + "\(bin)/pg_ctl"
        let script = """
            while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done
            \(stop) -D '\(directory)/data' -m immediate -w stop >/dev/null 2>&1; rm -rf '\(directory)'
            """
        _ = try spawn(["/bin/sh", "-c", script], output: "/dev/null")
    }

    /// Starts a program with stdin from /dev/null and stdout and stderr into `output`; returns its pid.
    private func spawn(_ argv: [String], output: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o666)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, &cArguments, environ)
        guard spawned == 0 else {
            throw SetupError(description: "cannot run \(argv[0]): \(String(cString: strerror(spawned)))")
        }
        return pid
    }

    /// Runs one of the server's programs (as the postgres user when root); throws with its output on failure.
    ///
    /// posix_spawn and waitpid, not Foundation's Process: the server that `pg_ctl start` leaves running inherits
    /// the descriptors Process watches, and its wait would never end.
    @discardableResult
    private func run(_ program: String, _ arguments: [String], asServer: Bool = true) throws -> String {
        let path = program.hasPrefix("/") ? program : "\(bin)/\(program)"
        let argv =
            (getuid() == 0 && asServer ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : []) + [path] + arguments
        let outputPath =
            "\(directory)/\((program as NSString).lastPathComponent)-\(UInt64.random(in: 0...UInt64.max)).out"
        defer { unlink(outputPath) }
        let pid = try spawn(argv, output: outputPath)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = ((try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        // Exited normally with status 0 (WIFEXITED and WEXITSTATUS, which Swift does not import).
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            throw SetupError(description: "\(program) failed (status \(status)): \(text)")
        }
        return text
    }

    private static func makeTemporaryDirectory() throws -> String {
        var template = Array("\(NSTemporaryDirectory())/selfheal-fleet-pg.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw SetupError(description: "cannot make a temporary directory: \(String(cString: strerror(errno)))")
        }
        let path = String(cString: made)
        chmod(path, 0o755)
        if getuid() == 0, let user = getpwnam("postgres") { chown(path, user.pointee.pw_uid, user.pointee.pw_gid) }
        return path
    }

    /// A loopback TCP port nothing listens on now (bound to port 0, then closed).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SetupError(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                Glibc.bind(fd, socketAddress, length) == 0 && getsockname(fd, socketAddress, &length) == 0
            }
        }
        guard bound else { throw SetupError(description: "bind: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
