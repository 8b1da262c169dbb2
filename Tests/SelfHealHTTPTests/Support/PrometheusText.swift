import Foundation

/// A strict reader of the Prometheus text exposition format 0.0.4: it fails on any line that is not a
/// comment, a `# TYPE`, or a well-formed sample of a declared family; on a family declared twice; on a sample
/// given twice; and on a histogram whose buckets are not cumulative or whose `+Inf` bucket is not its count.
struct PrometheusText {
    struct Sample: Hashable {
        var name: String
        var labels: [String: String]
    }

    private(set) var types: [String: String] = [:]
    private(set) var samples: [Sample: Double] = [:]

    init(parsing text: String) throws {
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                guard parts.count == 4, Self.isName(parts[2]),
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3])
                else { throw HTTPTestError("bad TYPE line: \(line)") }
                guard types[String(parts[2])] == nil else { throw HTTPTestError("family declared twice: \(line)") }
                types[String(parts[2])] = String(parts[3])
            } else if line.hasPrefix("#") {
                continue
            } else {
                let (sample, value) = try Self.sample(line)
                guard family(of: sample.name) != nil else {
                    throw HTTPTestError("sample of no declared family: \(line)")
                }
                guard samples[sample] == nil else { throw HTTPTestError("sample given twice: \(line)") }
                samples[sample] = value
            }
        }
        try checkHistograms()
    }

    /// The family a sample name belongs to (`x_bucket`, `x_sum`, `x_count` belong to histogram `x`).
    func family(of name: String) -> String? {
        if types[name] != nil { return name }
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if types[base] == "histogram" || types[base] == "summary" { return base }
        }
        return nil
    }

    /// The value of the sample with exactly these labels.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples[Sample(name: name, labels: labels)]
    }

    /// The sum over the samples of a name whose labels include `matching`.
    func sum(_ name: String, matching: [String: String] = [:]) -> Double {
        samples.filter { sample, _ in
            sample.name == name && matching.allSatisfy { sample.labels[$0.key] == $0.value }
        }.values.reduce(0, +)
    }

    private func checkHistograms() throws {
        for (name, type) in types where type == "histogram" {
            let buckets = samples.filter { $0.key.name == name + "_bucket" }
            var series: [[String: String]: [(Double, Double)]] = [:]
            for (sample, count) in buckets {
                guard let le = sample.labels["le"], let bound = Double(le == "+Inf" ? "inf" : le) else {
                    throw HTTPTestError("bucket of \(name) without le")
                }
                var others = sample.labels
                others["le"] = nil
                series[others, default: []].append((bound, count))
            }
            for (labels, points) in series {
                let sorted = points.sorted { $0.0 < $1.0 }
                for (previous, next) in zip(sorted, sorted.dropFirst()) where next.1 < previous.1 {
                    throw HTTPTestError("buckets of \(name) are not cumulative")
                }
                guard let last = sorted.last, last.0 == .infinity, value(name + "_count", labels) == last.1 else {
                    throw HTTPTestError("\(name): the +Inf bucket is not the count")
                }
            }
        }
    }

    private static func isName(_ name: Substring) -> Bool {
        guard let first = name.first, first.isLetter || first == "_" || first == ":" else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":") }
    }

    private static func sample(_ line: Substring) throws -> (Sample, Double) {
        var rest = line[...]
        let nameEnd = rest.firstIndex { $0 == "{" || $0 == " " } ?? rest.endIndex
        let name = rest[..<nameEnd]
        guard isName(name) else { throw HTTPTestError("bad metric name: \(line)") }
        rest = rest[nameEnd...]
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                guard let equals = rest.firstIndex(of: "=") else { throw HTTPTestError("bad labels: \(line)") }
                let label = rest[..<equals]
                guard isName(label), !label.contains(":") else { throw HTTPTestError("bad label name: \(line)") }
                rest = rest[rest.index(after: equals)...]
                guard rest.first == "\"" else { throw HTTPTestError("unquoted label value: \(line)") }
                rest = rest.dropFirst()
                var value = ""
                while let character = rest.first, character != "\"" {
                    rest = rest.dropFirst()
                    if character == "\\" {
                        guard let escaped = rest.first else { throw HTTPTestError("bad escape: \(line)") }
                        rest = rest.dropFirst()
                        switch escaped {
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        case "n": value.append("\n")
                        default: throw HTTPTestError("bad escape: \(line)")
                        }
                    } else {
                        value.append(character)
                    }
                }
                guard rest.first == "\"" else { throw HTTPTestError("unterminated label value: \(line)") }
                rest = rest.dropFirst()
                guard labels[String(label)] == nil else { throw HTTPTestError("label given twice: \(line)") }
                labels[String(label)] = value
                if rest.first == "," { rest = rest.dropFirst() }
            }
            rest = rest.dropFirst()
        }
        let fields = rest.split(separator: " ")
        guard fields.count == 1 || fields.count == 2, rest.first == " " else {
            throw HTTPTestError("bad sample: \(line)")
        }
        let text = fields[0]
        let value: Double
        switch text {
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        case "NaN": value = .nan
        default:
            guard let parsed = Double(text), text.allSatisfy({ "0123456789.eE+-".contains($0) }) else {
                throw HTTPTestError("bad value: \(line)")
            }
            value = parsed
        }
        return (Sample(name: String(name), labels: labels), value)
    }
}
