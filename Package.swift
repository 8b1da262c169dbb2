// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "selfheal",
    products: [
        .executable(name: "selfheal", targets: ["selfheal"]),
        .library(name: "SelfHealing", targets: ["SelfHealing"]),
        .library(name: "SelfHealingTesting", targets: ["SelfHealingTesting"]),
        .library(name: "SelfHealingHummingbird", targets: ["SelfHealingHummingbird"]),
        .library(name: "SelfHealingPostgres", targets: ["SelfHealingPostgres"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        // SHA-256 of the log's hash chain (tamper evidence).
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        // HTTP (SelfHealHTTP, and the SelfHealingHummingbird integration); no traits, so swift-configuration is
        // not built.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // PostgreSQL (the SelfHealingPostgres integration).
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // TLS to the central store (sslmode); postgres-nio builds it already.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // The HTTP tests read schema/openapi.yaml.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // The event model: fields, vocabulary, roles, decoding and encoding of wire lines. No I/O.
        .target(name: "SelfHealEvents"),
        // The primitives services use, and the event sinks (socket emitter, log sink).
        .target(
            name: "SelfHealing",
            dependencies: [
                "SelfHealEvents",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Hummingbird 2: a middleware applying a pipeline per route, load shedding, the health route.
        .target(
            name: "SelfHealingHummingbird",
            dependencies: [
                "SelfHealing",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        // PostgreSQL: a probe of the server's connections against max_connections, with postgres-nio.
        .target(
            name: "SelfHealingPostgres",
            dependencies: [
                "SelfHealing",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The fleet (SPEC section 10) on PostgreSQL with postgres-nio: the central schema (schema/postgresql/), the
        // forwarder, the central log and projector, the query API over the fleet.
        .target(
            name: "SelfHealFleet",
            dependencies: [
                "SelfHealEvents",
                "SelfHealStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // TLS to the central store (sslmode): postgres-nio's own TLS library, no new package.
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            plugins: ["EmbedFiles"]
        ),
        // One C call Swift cannot make (sqlite3_config is variadic): SQLite's memory statistics off.
        .target(name: "CSQLiteTuning", linkerSettings: [.linkedLibrary("sqlite3")]),
        // For the tests of services that use SelfHealing (and ours): a clock that moves only when told.
        .target(name: "SelfHealingTesting", dependencies: ["SelfHealing"]),
        // SQLite: migrations from schema/, the append-only log, rejects, queries.
        .target(
            name: "SelfHealStore",
            dependencies: [
                "SelfHealEvents",
                "CSQLiteTuning",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            plugins: ["EmbedFiles"]
        ),
        // The HTTP API: routes, access, ingest bodies, server-sent events, Prometheus metrics.
        .target(
            name: "SelfHealHTTP",
            dependencies: [
                "SelfHealEvents",
                "SelfHealStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The dashboard's page (GET /) is embedded from dashboard/.
            plugins: ["EmbedFiles"]
        ),
        // The daemon: socket, framing, batching, group commit, shutdown; composes the HTTP side.
        .target(
            name: "SelfHealServer",
            dependencies: [
                "SelfHealEvents",
                "SelfHealStore",
                "SelfHealHTTP",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // Reports and alert mails: figures, rules, text/HTML from the Mustache templates in reports/, MIME, PNG charts.
        .target(
            name: "SelfHealReports",
            dependencies: [
                "SelfHealEvents",
                "SelfHealStore",
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            plugins: ["EmbedFiles"]
        ),
        // Build tool: turns reports/*.mustache into Swift string literals, so reports/ stays the one source.
        .testTarget(
            name: "SelfHealReportsTests",
            dependencies: [
                "SelfHealEvents", "SelfHealReports", "SelfHealStore",
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            exclude: ["Golden"]
        ),
        // The command line: argument parsing and output formatting, nothing else.
        .target(
            name: "SelfHealCLI",
            dependencies: [
                "SelfHealEvents",
                "SelfHealing",
                "SelfHealStore",
                "SelfHealReports",
                "SelfHealServer",
                "SelfHealHTTP",
                "SelfHealFleet",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                // central --http: the projector beside the HTTP API in one ServiceGroup.
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(name: "selfheal", dependencies: ["SelfHealCLI"]),
        .executableTarget(
            name: "selfheal-bench",
            dependencies: [
                "SelfHealEvents",
                "SelfHealing",
                "SelfHealStore",
                "SelfHealServer",
                "SelfHealHTTP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                // The fleet's benchmarks (fleet central, fleet forward).
                "SelfHealFleet", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // Build tool: embeds schema/*.sql and reports/*.mustache as Swift string literals, so those files stay the
        // single source and the executable still works from anywhere.
        .executableTarget(name: "FileEmbedder"),
        .plugin(name: "EmbedFiles", capability: .buildTool(), dependencies: ["FileEmbedder"]),
        .testTarget(name: "SelfHealEventsTests", dependencies: ["SelfHealEvents"]),
        .testTarget(
            name: "SelfHealStoreTests",
            dependencies: [
                "SelfHealEvents",
                "SelfHealStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        // The library's own tests: every primitive on a manual clock, the sinks, the spill file.
        .testTarget(
            name: "SelfHealingTests",
            dependencies: [
                "SelfHealing", "SelfHealEvents", "SelfHealingTesting", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The stories of the scenario analysis, replayed with the real primitives.
        .executableTarget(
            name: "selfheal-example",
            dependencies: ["SelfHealing", .product(name: "Logging", package: "swift-log")],
            path: "Examples/selfheal-example"
        ),
        // A small Hummingbird service using the library: routes through pipelines, the health route, events.
        .executableTarget(
            name: "selfheal-service-example",
            dependencies: [
                "SelfHealing", "SelfHealingHummingbird",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            path: "Examples/selfheal-service"
        ),
        // Micro-benchmarks of the library's hot paths: `swift run -c release selfheal-lib-bench`.
        .executableTarget(
            name: "selfheal-lib-bench",
            dependencies: [
                "SelfHealing", "SelfHealingHummingbird",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            path: "Benchmarks/selfheal-lib-bench"
        ),
        .testTarget(
            name: "SelfHealingHummingbirdTests",
            dependencies: [
                "SelfHealing", "SelfHealingHummingbird", "SelfHealingTesting",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .testTarget(
            name: "SelfHealingPostgresTests",
            dependencies: [
                "SelfHealing", "SelfHealingPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The fleet against real PostgreSQL servers the tests start (Debian's postgresql package), and real daemons.
        .testTarget(
            name: "SelfHealFleetTests",
            dependencies: [
                "SelfHealEvents", "SelfHealStore", "SelfHealFleet", "selfheal",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                // The fleet reads' tests copy a local store's projections into the central tables, and serve the HTTP
                // API over the fleet.
                .product(name: "GRDB", package: "GRDB.swift"),
                "SelfHealHTTP",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "SelfHealCLITests",
            dependencies: [
                "SelfHealCLI", "SelfHealEvents", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The HTTP API over real HTTP against a real `selfheal serve --http` process.
        .testTarget(
            name: "SelfHealHTTPTests",
            dependencies: [
                "SelfHealEvents", "SelfHealHTTP", "SelfHealing", "selfheal",
                .product(name: "Yams", package: "Yams"),
                // BackpressureTests holds the store's write lock to stop the daemon's writer.
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "SelfHealServerTests",
            dependencies: [
                "SelfHealEvents", "SelfHealing", "SelfHealingTesting", "SelfHealStore", "SelfHealServer", "SelfHealCLI",
                "selfheal", "selfheal-service-example",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
    ]
)

for target in package.targets where [.executable, .test, .regular].contains(target.type) {
    var settings = target.swiftSettings ?? []
    // https://github.com/apple/swift-evolution/blob/main/proposals/0335-existential-any.md
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    // https://github.com/swiftlang/swift-evolution/blob/main/proposals/0444-member-import-visibility.md
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    target.swiftSettings = settings
}
