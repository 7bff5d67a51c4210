// PhoneNASBench: times a batch of models (Core ML .mlpackage / ExecuTorch .pte) on an iPhone.
//
// Launched by the host (android_bench/ios_app.py) through
//   xcrun devicectl device process launch --device UDID --terminate-existing \
//       org.phonenas.PhoneNASBench --manifest phonenas/manifests/<run>.json
// it reads the manifest from Documents, times every model, writes the result file named in the
// manifest and exits. Started by hand (no --manifest) it only shows its status line.
// NOT BUILT YET: see docs/ios.md "What has and has not run".

import SwiftUI
import UIKit

@main
struct PhoneNASBenchApp: App {
  @StateObject private var status = RunStatus()

  var body: some Scene {
    WindowGroup {
      VStack(spacing: 12) {
        Text("PhoneNAS Bench").font(.headline)
        Text(status.line).font(.footnote.monospaced()).multilineTextAlignment(.center)
      }
      .padding()
      .task { await status.runFromLaunchArguments() }
    }
  }
}

@MainActor
final class RunStatus: ObservableObject {
  @Published var line = "waiting for a manifest (launch with --manifest PATH)"

  func runFromLaunchArguments() async {
    let args = ProcessInfo.processInfo.arguments
    guard let i = args.firstIndex(of: "--manifest"), i + 1 < args.count else { return }
    UIApplication.shared.isIdleTimerDisabled = true  // the screen must not lock mid-batch
    let relative = args[i + 1]
    line = "running \(relative)"
    let code: Int32
    do {
      let manifest = try Manifest.load(relativePath: relative)
      let run = BenchmarkRun(manifest: manifest) { [weak self] text in
        Task { @MainActor in self?.line = text }
      }
      try await run.execute()
      code = 0
    } catch {
      // The host sees no result file and reports the app's failure; this line is in the device log.
      NSLog("PhoneNASBench failed: %@", String(describing: error))
      code = 1
    }
    UIApplication.shared.isIdleTimerDisabled = false
    exit(code)  // a benchmark tool, not a user app: the host waits for the process to end
  }
}
