import Foundation
import PackagePlugin

/// Embeds the package's `reports/*.mustache` templates into the target as Swift string literals, so the
/// executable has the default templates wherever it runs and `reports/` stays their single source.
@main
struct EmbedTemplates: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let templateDirectory = context.package.directoryURL.appending(path: "reports")
        let templates = try FileManager.default.contentsOfDirectory(
            at: templateDirectory,
            includingPropertiesForKeys: nil
        )
        .filter { $0.pathExtension == "mustache" }
        .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appending(path: "DefaultTemplates.swift")
        return [
            .buildCommand(
                displayName: "Embedding reports/*.mustache",
                executable: try context.tool(named: "TemplateEmbedder").url,
                arguments: [output.path] + templates.map(\.path),
                inputFiles: templates,
                outputFiles: [output]
            )
        ]
    }
}
