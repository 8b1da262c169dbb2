import Foundation
import PackagePlugin

/// Embeds the package's `schema/*.sql` files into the target as Swift string literals, so the SQL in
/// `schema/` is the single source of truth for the store's migrations.
@main
struct EmbedSchema: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let schemaDirectory = context.package.directoryURL.appending(path: "schema")
        let sqlFiles = try FileManager.default.contentsOfDirectory(
            at: schemaDirectory,
            includingPropertiesForKeys: nil
        )
        .filter { $0.pathExtension == "sql" }
        .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appending(path: "SchemaSQL.swift")
        return [
            .buildCommand(
                displayName: "Embedding schema/*.sql",
                executable: try context.tool(named: "SchemaEmbedder").url,
                arguments: [output.path] + sqlFiles.map(\.path),
                inputFiles: sqlFiles,
                outputFiles: [output]
            )
        ]
    }
}
