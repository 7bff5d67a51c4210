// Core ML: the host packs the .mlpackage folder into a reproducible tar (android_bench.ios_runner.pack_model);
// it is unpacked into tmp/, compiled on the phone (MLModel.compileModel), loaded with the manifest's
// MLModelConfiguration.computeUnits and run with inputs of ones of the declared shapes and types.

import CoreML
import Foundation

final class CoreMLModel: TimedModel {
  let runtime: String
  let computeUnits: String?
  private let model: MLModel
  private let input: MLFeatureProvider

  init(packed: URL, computeUnits units: MLComputeUnits, label: String) async throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
    defer { try? FileManager.default.removeItem(at: dir) }
    let package = try Tar.extract(packed, to: dir)
    let compiled = try await MLModel.compileModel(at: package)
    let config = MLModelConfiguration()
    config.computeUnits = units
    model = try MLModel(contentsOf: compiled, configuration: config)
    input = try CoreMLModel.ones(for: model.modelDescription)
    runtime = "coreml iOS \(iosVersion()) (computeUnits \(label))"
    computeUnits = label
  }

  func run() throws {
    _ = try model.prediction(from: input)
  }

  static func ones(for description: MLModelDescription) throws -> MLFeatureProvider {
    var features = [String: MLFeatureValue]()
    for (name, feature) in description.inputDescriptionsByName {
      guard let constraint = feature.multiArrayConstraint else {
        throw BenchError.noInput("Core ML input \(name) is not a multi-array")
      }
      let array = try MLMultiArray(shape: constraint.shape, dataType: constraint.dataType)
      for i in 0..<array.count { array[i] = 1 }
      features[name] = MLFeatureValue(multiArray: array)
    }
    return try MLDictionaryFeatureProvider(dictionary: features)
  }
}
