// Unpacks the uncompressed ustar archive android_bench.ios_runner.pack_model writes for a .mlpackage
// folder (regular files and folders only, relative paths, no links).

import Foundation

enum Tar {
  /// Extracts `archive` under `dir` and returns the top-level `*.mlpackage` folder.
  static func extract(_ archive: URL, to dir: URL) throws -> URL {
    let fm = FileManager.default
    let data = try Data(contentsOf: archive, options: .mappedIfSafe)
    var offset = 0
    var top: String?
    while offset + 512 <= data.count {
      let header = data.subdata(in: offset..<(offset + 512))
      if header.allSatisfy({ $0 == 0 }) { break }  // end-of-archive blocks
      let name = field(header, 0, 100)
      let prefix = field(header, 345, 155)
      let path = prefix.isEmpty ? name : prefix + "/" + name
      let sizeText = field(header, 124, 12).trimmingCharacters(in: .whitespaces)
      guard let size = Int(sizeText, radix: 8) else { throw BenchError.badTar("size \(sizeText) of \(path)") }
      let parts = path.split(separator: "/")
      guard !path.hasPrefix("/"), !parts.contains(".."), let first = parts.first else {
        throw BenchError.badTar("unsafe path \(path)")
      }
      top = top ?? String(first)
      let destination = dir.appendingPathComponent(path)
      offset += 512
      switch header[156] {
      case UInt8(ascii: "5"):
        try fm.createDirectory(at: destination, withIntermediateDirectories: true)
      case 0, UInt8(ascii: "0"):
        guard offset + size <= data.count else { throw BenchError.badTar("\(path) is truncated") }
        try fm.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.subdata(in: offset..<(offset + size)).write(to: destination)
      default:
        throw BenchError.badTar("member \(path) is neither a file nor a folder")
      }
      offset += (size + 511) / 512 * 512
    }
    guard let top, top.hasSuffix(".mlpackage") else { throw BenchError.badTar("no top-level .mlpackage") }
    return dir.appendingPathComponent(top)
  }

  private static func field(_ header: Data, _ start: Int, _ length: Int) -> String {
    let base = header.startIndex + start
    let bytes = header[base..<(base + length)].prefix { $0 != 0 }
    return String(decoding: bytes, as: UTF8.self)
  }
}
