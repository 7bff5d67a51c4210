// One launch = one manifest = a batch of models, each timed like the host's python runner
// (android_bench/resources/phonenas_bench_runner) and written in its text format, one section per model:
//
//   phonenas-bench 1
//   model phonenas/blobs/<sha>/block.pte
//   runtime executorch 1.5.1 (iOS 17.5.1)       | runtime coreml iOS 17.5.1 (computeUnits all)
//   compute_units all                           (Core ML models only)
//   threads 1
//   thermal_gate_wait_ms <float>
//   thermal_state_before nominal|fair|serious|critical
//   load_ms <float>                             (.mlpackage: unpack + compile + load)
//   warmup_ms <float>                           (one per warm-up run)
//   run_ms <float>                              (one per timed run)
//   thermal_state_after nominal|fair|serious|critical
//   end <number of run_ms lines>
//
// A model that fails writes "error <message>" and "end 0" and the batch goes on. The file is written
// as <output>.part and renamed when the batch is done, so the host never reads half a result.

import Foundation

/// A model loaded with inputs of ones: `run()` is one inference.
protocol TimedModel {
  /// "<runtime name> <version ...>" for the runtime line.
  var runtime: String { get }
  /// Core ML compute units, or nil for ExecuTorch.
  var computeUnits: String? { get }
  func run() throws
}

enum Clock {
  static func nowNs() -> UInt64 { clock_gettime_nsec_np(CLOCK_UPTIME_RAW) }
  static func ms(since start: UInt64) -> Double { Double(nowNs() - start) / 1e6 }
  static func fmt(_ ms: Double) -> String { String(format: "%.6f", ms) }
}

enum Thermal {
  static let names = ["nominal", "fair", "serious", "critical"]

  static var current: String { name(ProcessInfo.processInfo.thermalState) }

  static func name(_ state: ProcessInfo.ThermalState) -> String {
    switch state {
    case .nominal: return "nominal"
    case .fair: return "fair"
    case .serious: return "serious"
    case .critical: return "critical"
    @unknown default: return "critical"
    }
  }

  /// Waits (polling every 2 s) until the thermal state is at most `gate`; returns the milliseconds waited.
  /// Gives up after `timeoutS` and lets the caller time anyway: the state is recorded in the result.
  static func wait(atMost gate: String?, timeoutS: Double) async throws -> Double {
    guard let gate, let limit = names.firstIndex(of: gate) else { return 0 }
    let start = Clock.nowNs()
    while (names.firstIndex(of: current) ?? names.count) > limit, Clock.ms(since: start) < timeoutS * 1000 {
      try await Task.sleep(nanoseconds: 2_000_000_000)
    }
    return Clock.ms(since: start)
  }
}

final class BenchmarkRun {
  let manifest: Manifest
  let report: (String) -> Void

  init(manifest: Manifest, report: @escaping (String) -> Void) {
    self.manifest = manifest
    self.report = report
  }

  func execute() async throws {
    let fm = FileManager.default
    let out = Manifest.documents.appendingPathComponent(manifest.output)
    try fm.createDirectory(at: out.deletingLastPathComponent(), withIntermediateDirectories: true)
    let part = out.appendingPathExtension("part")
    guard fm.createFile(atPath: part.path, contents: nil) else {
      throw BenchError.badManifest("cannot create \(part.path)")
    }
    let handle = try FileHandle(forWritingTo: part)
    for (i, model) in manifest.models.enumerated() {
      report("model \(i + 1)/\(manifest.models.count): \(model)")
      let lines = await section(for: model)
      try handle.write(contentsOf: Data((lines.joined(separator: "\n") + "\n").utf8))
    }
    try handle.close()
    if fm.fileExists(atPath: out.path) { try fm.removeItem(at: out) }
    try fm.moveItem(at: part, to: out)
    report("done: \(manifest.models.count) model(s)")
  }

  private func section(for model: String) async -> [String] {
    let head = ["phonenas-bench 1", "model \(model)"]
    do {
      return head + (try await time(model))
    } catch {
      let message = String(describing: error).replacingOccurrences(of: "\n", with: " ")
      return head + ["error \(message)", "end 0"]
    }
  }

  private func time(_ model: String) async throws -> [String] {
    let url = Manifest.documents.appendingPathComponent(model)
    let waitedMs = try await Thermal.wait(atMost: manifest.thermalGate, timeoutS: manifest.thermalTimeoutS)
    let before = Thermal.current
    let t0 = Clock.nowNs()
    let timed = try await load(url)
    let loadMs = Clock.ms(since: t0)
    var lines = ["runtime \(timed.runtime)"]
    if let units = timed.computeUnits { lines.append("compute_units \(units)") }
    lines += [
      "threads \(manifest.threads)",
      "thermal_gate_wait_ms \(Clock.fmt(waitedMs))",
      "thermal_state_before \(before)",
      "load_ms \(Clock.fmt(loadMs))",
    ]
    for _ in 0..<manifest.warmup {
      let t = Clock.nowNs()
      try timed.run()
      lines.append("warmup_ms \(Clock.fmt(Clock.ms(since: t)))")
    }
    var times = [Double]()
    times.reserveCapacity(manifest.runs)
    for _ in 0..<manifest.runs {
      let t = Clock.nowNs()
      try timed.run()
      times.append(Clock.ms(since: t))
    }
    lines += times.map { "run_ms \(Clock.fmt($0))" }
    lines += ["thermal_state_after \(Thermal.current)", "end \(times.count)"]
    return lines
  }

  private func load(_ url: URL) async throws -> TimedModel {
    let name = url.lastPathComponent.lowercased()
    if name.hasSuffix(".pte") {
      return try ExecuTorchModel(path: url.path, threads: manifest.threads)
    }
    if name.hasSuffix(".mlpackage.tar") {
      return try await CoreMLModel(
        packed: url, computeUnits: try manifest.mlComputeUnits(), label: manifest.computeUnits)
    }
    throw BenchError.unsupportedModel(url.lastPathComponent)
  }
}

func iosVersion() -> String {
  let v = ProcessInfo.processInfo.operatingSystemVersion
  return "\(v.majorVersion).\(v.minorVersion).\(v.patchVersion)"
}
