import CompressNIO
import NIOCore

/// An 8-bit RGB colour.
public struct RGB: Sendable, Equatable {
    public var red: UInt8
    public var green: UInt8
    public var blue: UInt8

    /// Creates a colour.
    public init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }

    /// `#2e7d32`.
    public var hex: String {
        let digits = Array("0123456789abcdef")
        return "#" + [red, green, blue].map { String([digits[Int($0 >> 4)], digits[Int($0 & 15)]]) }.joined()
    }
}

/// A tiny RGB raster: rectangles, lines and digits, enough for a bar chart.
public struct Raster: Sendable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// `width * height * 3` bytes, rows top to bottom.
    public private(set) var pixels: [UInt8]

    /// Creates a raster filled with one colour.
    public init(width: Int, height: Int, background: RGB) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        fill(x: 0, y: 0, width: width, height: height, background)
    }

    /// Fills a rectangle, clipped to the raster.
    public mutating func fill(x: Int, y: Int, width: Int, height: Int, _ colour: RGB) {
        let left = max(0, x)
        let right = min(self.width, x + width)
        let top = max(0, y)
        let bottom = min(self.height, y + height)
        guard left < right, top < bottom else { return }
        for row in top..<bottom {
            var offset = (row * self.width + left) * 3
            for _ in left..<right {
                pixels[offset] = colour.red
                pixels[offset + 1] = colour.green
                pixels[offset + 2] = colour.blue
                offset += 3
            }
        }
    }

    /// Draws text of digits, `:`, `-` and spaces in a 3x5 pixel font scaled by `scale`, from its top left.
    public mutating func text(_ text: String, x: Int, y: Int, scale: Int, _ colour: RGB) {
        var cursor = x
        for character in text {
            if let rows = Self.glyphs[character] {
                for (row, bits) in rows.enumerated() {
                    for column in 0..<3 where bits & (0b100 >> column) != 0 {
                        fill(x: cursor + column * scale, y: y + row * scale, width: scale, height: scale, colour)
                    }
                }
            }
            cursor += 4 * scale
        }
    }

    /// The width `text` takes in the font at `scale`.
    public static func textWidth(_ text: String, scale: Int) -> Int { max(0, text.count * 4 * scale - scale) }

    private static let glyphs: [Character: [UInt8]] = [
        "0": [0b111, 0b101, 0b101, 0b101, 0b111], "1": [0b010, 0b110, 0b010, 0b010, 0b111],
        "2": [0b111, 0b001, 0b111, 0b100, 0b111], "3": [0b111, 0b001, 0b111, 0b001, 0b111],
        "4": [0b101, 0b101, 0b111, 0b001, 0b001], "5": [0b111, 0b100, 0b111, 0b001, 0b111],
        "6": [0b111, 0b100, 0b111, 0b101, 0b111], "7": [0b111, 0b001, 0b010, 0b010, 0b010],
        "8": [0b111, 0b101, 0b111, 0b101, 0b111], "9": [0b111, 0b101, 0b111, 0b001, 0b111],
        ":": [0b000, 0b010, 0b000, 0b010, 0b000], "-": [0b000, 0b000, 0b111, 0b000, 0b000],
        ".": [0b000, 0b000, 0b000, 0b000, 0b010], " ": [0, 0, 0, 0, 0],
    ]
}

/// Encodes a raster as a PNG: signature, IHDR (8-bit RGB), one zlib IDAT (system zlib through CompressNIO), IEND.
public enum PNGEncoder {
    /// The eight bytes every PNG starts with.
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// The PNG file of a raster.
    public static func encode(_ raster: Raster) throws -> [UInt8] {
        var header: [UInt8] = []
        header.appendBigEndian(UInt32(raster.width))
        header.appendBigEndian(UInt32(raster.height))
        header += [8, 2, 0, 0, 0]  // bit depth 8, colour type RGB, deflate, adaptive filtering, no interlace

        // Each scanline starts with its filter type: 0 (none) keeps the encoder trivial; flat colours compress well.
        let rowBytes = raster.width * 3
        var scanlines = ByteBufferAllocator().buffer(capacity: raster.height * (rowBytes + 1))
        for row in 0..<raster.height {
            scanlines.writeInteger(UInt8(0))
            scanlines.writeBytes(raster.pixels[(row * rowBytes)..<((row + 1) * rowBytes)])
        }
        var compressed = try scanlines.compress(with: .zlib(), allocator: ByteBufferAllocator())

        var png = signature
        appendChunk("IHDR", header, to: &png)
        appendChunk("IDAT", compressed.readBytes(length: compressed.readableBytes) ?? [], to: &png)
        appendChunk("IEND", [], to: &png)
        return png
    }

    static func appendChunk(_ type: String, _ data: [UInt8], to png: inout [UInt8]) {
        png.appendBigEndian(UInt32(data.count))
        let typeAndData = Array(type.utf8) + data
        png += typeAndData
        png.appendBigEndian(CRC32.checksum(typeAndData))
    }
}

/// CRC-32 (ISO 3309, the one PNG chunks carry).
public enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 != 0 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    /// The CRC of some bytes.
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}

extension [UInt8] {
    mutating func appendBigEndian(_ value: UInt32) {
        append(UInt8(value >> 24))
        append(UInt8((value >> 16) & 0xFF))
        append(UInt8((value >> 8) & 0xFF))
        append(UInt8(value & 0xFF))
    }
}
