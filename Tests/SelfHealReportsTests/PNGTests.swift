import CompressNIO
import Foundation
import NIOCore
import Testing

@testable import SelfHealReports

@Suite("PNG")
struct PNGTests {
    struct Chunk {
        var type: String
        var data: [UInt8]
    }

    /// Splits a PNG into chunks, checking the signature, lengths and every CRC.
    static func chunks(_ png: [UInt8]) throws -> [Chunk] {
        try #require(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var chunks: [Chunk] = []
        var offset = 8
        func u32(_ at: Int) -> UInt32 { png[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) } }
        while offset < png.count {
            try #require(offset + 12 <= png.count)
            let length = Int(u32(offset))
            try #require(offset + 12 + length <= png.count)
            let typeAndData = Array(png[(offset + 4)..<(offset + 8 + length)])
            #expect(u32(offset + 8 + length) == CRC32.checksum(typeAndData), "CRC of chunk at \(offset)")
            chunks.append(
                Chunk(
                    type: String(decoding: typeAndData.prefix(4), as: UTF8.self),
                    data: Array(typeAndData.dropFirst(4))
                )
            )
            offset += 12 + length
        }
        return chunks
    }

    @Test func crc32OfKnownInputs() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum(Array("IEND".utf8)) == 0xAE42_6082)
    }

    @Test func chartIsAValidPNG() throws {
        let png = try #require(try ChartRenderer.png(Report.daily(Fixtures.dayInput)))
        let chunks = try Self.chunks(png)
        #expect(chunks.map(\.type) == ["IHDR", "IDAT", "IEND"])
        let header = chunks[0].data
        let width = header[0..<4].reduce(0) { $0 << 8 | Int($1) }
        let height = header[4..<8].reduce(0) { $0 << 8 | Int($1) }
        #expect(width == ChartRenderer.width && height == ChartRenderer.height)
        #expect(Array(header[8...]) == [8, 2, 0, 0, 0])
        var compressed = ByteBuffer(bytes: chunks[1].data)
        let inflated = try compressed.decompress(with: .zlib(), allocator: ByteBufferAllocator())
        #expect(inflated.readableBytes == height * (1 + width * 3))
        // Every scanline uses filter 0, and the bars' colours are there.
        let bytes = inflated.readableBytesView
        #expect((0..<height).allSatisfy { bytes[bytes.startIndex + $0 * (1 + width * 3)] == 0 })
        let raster = ChartRenderer.raster(Report.daily(Fixtures.dayInput))
        #expect(raster.pixels.count == width * height * 3)
        for colour in [ReportPalette.prevented, ReportPalette.autoRecovered, ReportPalette.failed, ReportPalette.open] {
            #expect(raster.contains(colour), "\(colour.hex)")
        }
    }

    @Test func smallRasterRoundTrips() throws {
        var raster = Raster(width: 3, height: 2, background: RGB(1, 2, 3))
        raster.fill(x: 1, y: 1, width: 5, height: 5, RGB(250, 251, 252))
        let chunks = try Self.chunks(try PNGEncoder.encode(raster))
        var compressed = ByteBuffer(bytes: chunks[1].data)
        let inflated = try compressed.decompress(with: .zlib(), allocator: ByteBufferAllocator())
        #expect(
            Array(inflated.readableBytesView) == [
                0, 1, 2, 3, 1, 2, 3, 1, 2, 3, 0, 1, 2, 3, 250, 251, 252, 250, 251, 252,
            ]
        )
    }

    @Test func axisTopIsRound() {
        #expect((0...4).map(ChartRenderer.niceCeiling) == [1, 1, 2, 3, 4])
        #expect(ChartRenderer.niceCeiling(5) == 8)
        #expect(ChartRenderer.niceCeiling(9) == 12)
        #expect(ChartRenderer.niceCeiling(41) == 48)
        #expect(ChartRenderer.niceCeiling(1_001) == 1_200)
    }
}

extension Raster {
    func contains(_ colour: RGB) -> Bool {
        stride(from: 0, to: pixels.count, by: 3).contains {
            pixels[$0] == colour.red && pixels[$0 + 1] == colour.green && pixels[$0 + 2] == colour.blue
        }
    }
}
