// The host -> app contract (written by android_bench/ios_app.py IosAppDevice.run_manifest).
//
// {"format": "phonenas-ios-manifest 1", "run_id": "...", "output": "phonenas/results/<run>.txt",
//  "models": ["phonenas/blobs/<sha>/block.pte", ...], "warmup": 10, "runs": 50, "threads": 1,
//  "compute_units": "cpuOnly" | "cpuAndGPU" | "cpuAndNeuralEngine" | "all",
//  "thermal_gate": "nominal" | "fair" | "serious" | "critical" | null, "thermal_timeout_s": 180}
// Every path is relative to the app's Documents folder.

import CoreML
import Foundation

struct Manifest: Decodable {
  static let format = "phonenas-ios-manifest 1"

  let format: String
  let runId: String
  let output: String
  let models: [String]
  let warmup: Int
  let runs: Int
  let threads: Int
  let computeUnits: String
  let thermalGate: String?
  let thermalTimeoutS: Double

  enum CodingKeys: String, CodingKey {
    case format, output, models, warmup, runs, threads
    case runId = "run_id"
    case computeUnits = "compute_units"
    case thermalGate = "thermal_gate"
    case thermalTimeoutS = "thermal_timeout_s"
  }

  static var documents: URL {
    FileManager.default.urls(for: .documentDirectory, in: .userDomainMask)[0]
  }

  static func load(relativePath: String) throws -> Manifest {
    let data = try Data(contentsOf: documents.appendingPathComponent(relativePath))
    let manifest = try JSONDecoder().decode(Manifest.self, from: data)
    guard manifest.format == format else { throw BenchError.badManifest("format \(manifest.format)") }
    guard manifest.runs >= 1, manifest.warmup >= 0, manifest.threads >= 1 else {
      throw BenchError.badManifest("runs >= 1, warmup >= 0 and threads >= 1 are required")
    }
    _ = try manifest.mlComputeUnits()
    return manifest
  }

  func mlComputeUnits() throws -> MLComputeUnits {
    switch computeUnits {
    case "cpuOnly": return .cpuOnly
    case "cpuAndGPU": return .cpuAndGPU
    case "cpuAndNeuralEngine": return .cpuAndNeuralEngine
    case "all": return .all
    default: throw BenchError.badManifest("compute_units \(computeUnits)")
    }
  }
}

enum BenchError: Error, CustomStringConvertible {
  case badManifest(String)
  case unsupportedModel(String)
  case badTar(String)
  case noInput(String)

  var description: String {
    switch self {
    case .badManifest(let what): return "bad manifest: \(what)"
    case .unsupportedModel(let path): return "unsupported model file \(path) (expected .pte or .mlpackage.tar)"
    case .badTar(let what): return "bad .mlpackage.tar: \(what)"
    case .noInput(let what): return "cannot build an input: \(what)"
    }
  }
}
