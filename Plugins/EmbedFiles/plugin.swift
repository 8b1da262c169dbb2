import Foundation
import PackagePlugin

/// Embeds files of the package into a target as Swift string literals, so the executable has them wherever it
/// runs and the files stay their single source: `schema/*.sql` into SelfHealStore (`SchemaSQL`, the
/// migrations), `schema/postgresql/*.sql` into SelfHealFleet (`FleetSchemaSQL`, the central store's),
/// `reports/*.mustache` into SelfHealReports (`DefaultTemplates`) and the dashboard's `dashboard/*.{html,css,js}`
/// into SelfHealHTTP (`DashboardFiles`).
@main
struct EmbedFiles: BuildToolPlugin {
    /// What each target embeds: a folder of the package, the files' extensions, the generated enum's name.
    static let embeddings: [String: (folder: String, fileExtensions: Set<String>, enumName: String)] = [
        "SelfHealStore": ("schema", ["sql"], "SchemaSQL"),
        "SelfHealReports": ("reports", ["mustache"], "DefaultTemplates"),
        "SelfHealHTTP": ("dashboard", ["html", "css", "js"], "DashboardFiles"),
        "SelfHealFleet": ("schema/postgresql", ["sql"], "FleetSchemaSQL"),
    ]

    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        guard let embedding = Self.embeddings[target.name] else { return [] }
        let files = try FileManager.default.contentsOfDirectory(
            at: context.package.directoryURL.appending(path: embedding.folder),
            includingPropertiesForKeys: nil
        )
        .filter { embedding.fileExtensions.contains($0.pathExtension) }
        .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appending(path: "\(embedding.enumName).swift")
        return [
            .buildCommand(
                displayName: "Embedding \(embedding.folder)/",
                executable: try context.tool(named: "FileEmbedder").url,
                arguments: [output.path, embedding.enumName] + files.map(\.path),
                inputFiles: files,
                outputFiles: [output]
            )
        ]
    }
}
