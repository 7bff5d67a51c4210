// ExecuTorch: Module(filePath:) from the ExecuTorch Swift package (products executorch, backend_xnnpack,
// backend_coreml, kernels_optimized, kernels_quantized), "forward" loaded once, float inputs of ones
// of the shapes in the method metadata. A .pte lowered to XNNPACK or to the Core ML delegate runs
// through the same code: the delegate is chosen when the model is exported.
//
// Threads: ExecuTorch's Swift API exposes no thread-count setting that this app uses; XNNPACK runs on
// the runtime's default threadpool. The manifest's thread count is echoed in the result only.

import ExecuTorch
import Foundation

final class ExecuTorchModel: TimedModel {
  let runtime: String
  let computeUnits: String? = nil
  private let module: Module
  private let inputs: [ValueConvertible]

  init(path: String, threads: Int) throws {
    module = Module(filePath: path)
    try module.load("forward")
    let meta = try module.methodMetadata("forward")
    var inputs = [ValueConvertible]()
    for index in meta.inputTensorMetadata.keys.sorted() {
      guard let tensor = meta.inputTensorMetadata[index] else { continue }
      guard tensor.dataType == .float else {
        throw BenchError.noInput("ExecuTorch input \(index) is not float32")
      }
      let shape = tensor.shape
      let count = shape.reduce(1, *)
      inputs.append(Tensor<Float>([Float](repeating: 1, count: count), shape: shape))
    }
    self.inputs = inputs
    let version = Bundle.main.object(forInfoDictionaryKey: "PhoneNASExecuTorchVersion") as? String ?? "unknown"
    runtime = "executorch \(version) (iOS \(iosVersion()))"
  }

  func run() throws {
    _ = try module.forward(inputs)
  }
}
