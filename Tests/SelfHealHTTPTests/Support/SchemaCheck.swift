import Foundation
import Yams

/// `schema/openapi.yaml`, read with Yams, and a checker of json values against its schemas: the subset of
/// JSON Schema the document uses (type, with null; properties, required, additionalProperties; items,
/// maxItems; enum, const; minimum, maximum; pattern; oneOf, allOf; $ref). A keyword outside that subset fails
/// the check, so the document cannot silently say more than is checked.
struct OpenAPIDocument {
    let root: [String: Any]

    init() throws {
        let path = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("schema/openapi.yaml").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let root = try Yams.load(yaml: text) as? [String: Any] else { throw HTTPTestError("not a mapping") }
        self.root = root
    }

    var paths: [String: [String: Any]] { root["paths"] as? [String: [String: Any]] ?? [:] }

    /// The schema of a response, for a path pattern, method, status and content type.
    func responseSchema(_ pattern: String, _ method: String, _ status: Int, _ contentType: String) throws -> Any {
        guard let operation = paths[pattern]?[method.lowercased()] as? [String: Any] else {
            throw HTTPTestError("\(method) \(pattern) is not in the document")
        }
        guard var response = (operation["responses"] as? [String: Any])?[String(status)] else {
            throw HTTPTestError("\(method) \(pattern) documents no \(status) answer")
        }
        if let reference = (response as? [String: Any])?["$ref"] as? String { response = try resolve(reference) }
        guard let content = (response as? [String: Any])?["content"] as? [String: Any],
            let media = content[contentType] as? [String: Any], let schema = media["schema"]
        else { throw HTTPTestError("\(method) \(pattern) \(status) documents no \(contentType) body") }
        return schema
    }

    func resolve(_ reference: String) throws -> Any {
        guard reference.hasPrefix("#/") else { throw HTTPTestError("external $ref \(reference)") }
        var node: Any = root
        for part in reference.dropFirst(2).split(separator: "/") {
            guard let next = (node as? [String: Any])?[String(part)] else {
                throw HTTPTestError("$ref \(reference) resolves to nothing")
            }
            node = next
        }
        return node
    }

    /// A json text as values the checker reads (JSON is YAML: Yams gives Int, Double, Bool, String, NSNull).
    static func json(_ text: String) throws -> Any {
        guard let value = try Yams.load(yaml: text) else { return NSNull() }
        return value
    }

    /// The problems of a json value against a schema; empty when it conforms.
    func problems(_ value: Any, _ schema: Any, at path: String = "$") throws -> [String] {
        guard let schema = schema as? [String: Any] else { throw HTTPTestError("schema at \(path) is not a mapping") }
        let known: Set<String> = [
            "type", "properties", "required", "additionalProperties", "items", "maxItems", "enum", "const",
            "minimum", "maximum", "pattern", "oneOf", "allOf", "$ref", "description",
        ]
        if let unknown = schema.keys.first(where: { !known.contains($0) }) {
            throw HTTPTestError("schema keyword \(unknown) at \(path) is not checked by this test")
        }
        if let reference = schema["$ref"] as? String { return try problems(value, try resolve(reference), at: path) }
        var found: [String] = []
        if let types = schema["type"] {
            let names = (types as? [String]) ?? [types as? String ?? ""]
            if !names.contains(where: { Self.matches(value, type: $0) }) {
                return ["\(path): \(Self.describe(value)) is not \(names.joined(separator: " or "))"]
            }
        }
        if let options = schema["enum"] as? [Any], !options.contains(where: { Self.equal($0, value) }) {
            found.append("\(path): \(value) is not one of \(options)")
        }
        if let constant = schema["const"], !Self.equal(constant, value) {
            found.append("\(path): \(value) is not \(constant)")
        }
        if let number = Self.number(value) {
            if let minimum = schema["minimum"].flatMap(Self.number), number < minimum {
                found.append("\(path): \(number) < \(minimum)")
            }
            if let maximum = schema["maximum"].flatMap(Self.number), number > maximum {
                found.append("\(path): \(number) > \(maximum)")
            }
        }
        if let pattern = schema["pattern"] as? String, let text = value as? String,
            text.range(of: pattern, options: .regularExpression) == nil
        {
            found.append("\(path): \"\(text)\" does not match \(pattern)")
        }
        if let object = value as? [String: Any] {
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for name in schema["required"] as? [String] ?? [] where object[name] == nil {
                found.append("\(path): missing \(name)")
            }
            for (name, member) in object {
                if let property = properties[name] {
                    found += try problems(member, property, at: "\(path).\(name)")
                } else if let additional = schema["additionalProperties"] {
                    if let allowed = additional as? Bool {
                        if !allowed { found.append("\(path): unexpected \(name)") }
                    } else {
                        found += try problems(member, additional, at: "\(path).\(name)")
                    }
                }
            }
        }
        if let array = value as? [Any] {
            if let items = schema["items"] {
                for (index, element) in array.enumerated() {
                    found += try problems(element, items, at: "\(path)[\(index)]")
                }
            }
            if let maximum = schema["maxItems"] as? Int, array.count > maximum {
                found.append("\(path): over \(maximum) items")
            }
        }
        if let all = schema["allOf"] as? [Any] {
            for part in all { found += try problems(value, part, at: path) }
        }
        if let options = schema["oneOf"] as? [Any] {
            let passing = try options.filter { try problems(value, $0, at: path).isEmpty }.count
            if passing != 1 { found.append("\(path): matches \(passing) of the oneOf schemas, not 1") }
        }
        return found
    }

    private static func matches(_ value: Any, type: String) -> Bool {
        switch type {
        case "null": return value is NSNull
        case "object": return value is [String: Any]
        case "array": return value is [Any]
        case "string": return value is String
        case "boolean": return value is Bool
        case "integer": return value is Int
        case "number": return value is Int || value is Double
        default: return false
        }
    }

    private static func equal(_ a: Any, _ b: Any) -> Bool {
        switch (a, b) {
        case (let a as String, let b as String): return a == b
        case (let a as Bool, let b as Bool): return a == b
        case (let a as Int, let b as Int): return a == b
        default: return false
        }
    }

    private static func number(_ value: Any) -> Double? {
        if let value = value as? Int { return Double(value) }
        return value as? Double
    }

    private static func describe(_ value: Any) -> String {
        if value is NSNull { return "null" }
        return "\(type(of: value)) \(value)"
    }
}
