import Foundation

// Usage: TemplateEmbedder OUTPUT.swift FILE.mustache...
// Writes `enum DefaultTemplates { static let files: [String: String] }`, keyed by file name without extension.
let arguments = CommandLine.arguments.dropFirst()
guard let outputPath = arguments.first else {
    FileHandle.standardError.write(Data("usage: TemplateEmbedder OUTPUT.swift FILE.mustache...\n".utf8))
    exit(2)
}
var source = "// Generated from reports/*.mustache by the EmbedTemplates plugin. Do not edit.\n\n"
source += "enum DefaultTemplates {\n    static let files: [String: String] = [\n"
for path in arguments.dropFirst() {
    let url = URL(fileURLWithPath: path)
    let text = try String(contentsOf: url, encoding: .utf8)
    let name = url.deletingPathExtension().lastPathComponent
    // A raw string literal with enough #s that the template cannot end it.
    var hashes = "#"
    while text.contains("\"" + hashes) { hashes += "#" }
    source += "        \"\(name)\": \(hashes)\"\"\"\n\(text)\n\"\"\"\(hashes),\n"
}
source += "    ]\n}\n"
try source.write(toFile: outputPath, atomically: true, encoding: .utf8)
