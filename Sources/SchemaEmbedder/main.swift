import Foundation

// Usage: SchemaEmbedder OUTPUT.swift FILE.sql...
// Writes `enum SchemaSQL { static let migrations: [(name: String, sql: String)] }` in file-name order.
let arguments = CommandLine.arguments.dropFirst()
guard let outputPath = arguments.first else {
    FileHandle.standardError.write(Data("usage: SchemaEmbedder OUTPUT.swift FILE.sql...\n".utf8))
    exit(2)
}
var source = "// Generated from schema/*.sql by the EmbedSchema plugin. Do not edit.\n\n"
source += "enum SchemaSQL {\n    static let migrations: [(name: String, sql: String)] = [\n"
for path in arguments.dropFirst() {
    let url = URL(fileURLWithPath: path)
    let sql = try String(contentsOf: url, encoding: .utf8)
    let name = url.deletingPathExtension().lastPathComponent
    // A raw string literal with enough #s that the SQL cannot end it.
    var hashes = "#"
    while sql.contains("\"" + hashes) { hashes += "#" }
    source += "        (\"\(name)\", \(hashes)\"\"\"\n\(sql)\n\"\"\"\(hashes)),\n"
}
source += "    ]\n}\n"
try source.write(toFile: outputPath, atomically: true, encoding: .utf8)
