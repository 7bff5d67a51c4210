"""android_bench: benchmark blocks and models on phones over adb (and on this host), no torch.

Public API (stable; everything below is importable from ``android_bench``)
--------------------------------------------------------------------------
Devices (``Device`` protocol: ``id``, ``work_dir``, ``push(local, remote, timeout_s)``,
``pull(remote, local, timeout_s)``, ``shell(argv, timeout_s) -> ShellResult(argv, rc, stdout, stderr)``,
``recover(timeout_s)``):
    HostDevice(work_dir=None)                       this computer
    AdbDevice(serial, host=None, port=None)         a phone through an adb server (adbutils); server
                                                    from $ANDROID_ADB_SERVER_HOST/PORT or 127.0.0.1:5037
    open_device("host" | serial) -> Device          what a --device option should call
    discover_devices(host, port) -> list[AdbDevice] ready Android devices
    list_devices(...) -> DeviceListing              Android (with DeviceInfo) + iPhones (devicectl on
                                                    macOS, usbmuxd elsewhere)
    IosAppDevice(udid)                              an iPhone running PhoneNASBench, driven through
                                                    ``xcrun devicectl`` (macOS + Xcode 15); open it with
    open_ios_device(udid, app_path=None) -> (IosAppDevice, DeviceInfo, app sha256); time with IosAppRunner()

Errors (all ``DeviceError(RuntimeError)`` with ``.cmd``, ``.rc``, ``.stderr``, ``.device_id``,
``.transient``): DeviceNotFound, DeviceDisconnected*, CommandTimeout*, StorageFull, RunnerNotFound,
RunnerCrashed*, OutputParseError*, ThermalTimeout*   (* transient: retried by measure_artifact);
iPhones add DeviceLocked, HostNotTrusted, AppNotInstalled (a RunnerNotFound), AppReportedError,
IosHostUnsupported (timing an iPhone off macOS)

Metadata:
    read_device_info(device) -> DeviceInfo  (frozen: model, manufacturer, soc, hardware, abi,
        os_version, sdk, num_cores, max_freq_khz, governors, thermal_zones, battery_temp_c;
        properties big_cores, big_core_mask, governor, temperature_c; to_dict())

Runners (argv builder + pure parser; binaries pushed once, cached by sha256):
    NativeRunner(path, profile=False, batch_size=64)  phonenas-runner (runner/, C++): many .pte per
        process, raw samples, load time, ExecuTorch version, ETDump per-op profile -> parse_bench_output;
        build_native_runner() builds it for this host against the executorch wheel (cached by hash)
    ExecutorRunner(path)          ExecuTorch executor_runner      -> parse_executor_runner_output
    BenchmarkModelRunner(path)    LiteRT benchmark_model          -> parse_benchmark_model_output
    PythonRuntimeRunner(interpreter="python3")  resources/phonenas_bench_runner timing .pte
        (executorch.runtime), .tflite (ai_edge_litert) or .onnx (onnxruntime) on a device with
        Python (host, loopback test phone, Termux)  -> parse_python_runner_output

Measuring:
    MeasurementProtocol(warmup=10, warmup_s=0.02 (and at least this long), runs=50, repeats=1,
        threads=1, affinity="big"|"none"|mask,
        cooldown_s=1, max_temp_c=45, temp_timeout_s=180, strict_temperature=False,
        cv_threshold=0.05 (robust CV), remeasure_attempts=2,
        max_retries=3, backoff_s=1, run_timeout_s=300, ...)
    measure_artifact(device, runner, local_artifact_path, protocol, info=None, cache=None)
        -> Measurement(samples_ms, sample_kind, stats: LatencyStats(n, mean_ms, median_ms,
           trimmed_mean_ms, p10_ms, p90_ms, min_ms, max_ms, std_ms, cv, robust_cv), runtime, runtime_version,
           core_mask, governor, threads, temp_before_c, temp_after_c, runner_sha256, attempts,
           retries, ...; to_dict())
      Pass one ``PushCache()`` and the device's ``DeviceInfo`` across items of a run to avoid
      re-probing. Raises the last DeviceError after retries; the caller moves on to the next item.

Batch mode (NativeRunner): measure_batch(device, runner, artifacts, protocol, info=None, cache=None)
    -> BatchResult(results: one Measurement or DeviceError per artifact, processes, wall_s, profiles)

Many devices: ``latency.collect_many`` (one thread per device, one LUT store) drives several
    devices; android_bench itself times one artifact (or batch) on one device per call.

Typical LUT collection (the latency package owns keys and the store):
    dev = AdbDevice("R58M12ABCDE"); info = read_device_info(dev); cache = PushCache()
    m = measure_artifact(
        dev, PythonRuntimeRunner(), "block.pte", MeasurementProtocol(), info=info, cache=cache
    )
"""

from android_bench.adb import AdbDevice, AdbDeviceEntry, list_adb_devices
from android_bench.batch import BatchResult, measure_batch
from android_bench.device import Device, HostDevice, ShellResult
from android_bench.devicectl import AppNotInstalled, Devicectl, DeviceLocked, HostNotTrusted
from android_bench.discovery import (
    DeviceListing,
    DiscoveredAndroid,
    discover_devices,
    list_devices,
    open_device,
)
from android_bench.errors import (
    CommandTimeout,
    DeviceDisconnected,
    DeviceError,
    DeviceNotFound,
    OutputParseError,
    RunnerCrashed,
    RunnerNotFound,
    StorageFull,
    ThermalTimeout,
    UnsupportedRunner,
)
from android_bench.info import (
    DeviceInfo,
    ThermalZone,
    parse_device_report,
    read_device_info,
    read_temperature_c,
)
from android_bench.ios import IosDevice, IosListing, list_ios_devices
from android_bench.ios_app import (
    AppReportedError,
    IosAppDevice,
    IosAppRunner,
    IosHostUnsupported,
    open_ios_device,
    parse_ios_result,
)
from android_bench.measure import Measurement, MeasurementProtocol, PushCache, measure_artifact
from android_bench.native import NativeBuildError, build_native_runner
from android_bench.runners import (
    PYTHON_RUNNER_SCRIPT,
    BenchmarkModelRunner,
    BenchOutput,
    ExecutorRunner,
    ModelRecord,
    NativeRunner,
    OpTime,
    PythonRuntimeRunner,
    Runner,
    RunnerOutput,
    file_sha256,
    parse_bench_output,
    parse_benchmark_model_output,
    parse_executor_runner_output,
    parse_python_runner_output,
)
from android_bench.stats import LatencyStats, summarize

__all__ = [
    "parse_ios_result",
    "open_ios_device",
    "IosHostUnsupported",
    "IosAppRunner",
    "IosAppDevice",
    "HostNotTrusted",
    "Devicectl",
    "DeviceLocked",
    "AppReportedError",
    "AppNotInstalled",
    "PYTHON_RUNNER_SCRIPT",
    "AdbDevice",
    "AdbDeviceEntry",
    "BatchResult",
    "BenchOutput",
    "BenchmarkModelRunner",
    "CommandTimeout",
    "Device",
    "DeviceDisconnected",
    "DeviceError",
    "DeviceInfo",
    "DeviceListing",
    "DeviceNotFound",
    "DiscoveredAndroid",
    "ExecutorRunner",
    "HostDevice",
    "IosDevice",
    "IosListing",
    "LatencyStats",
    "Measurement",
    "MeasurementProtocol",
    "ModelRecord",
    "NativeBuildError",
    "NativeRunner",
    "OpTime",
    "OutputParseError",
    "PushCache",
    "PythonRuntimeRunner",
    "Runner",
    "RunnerCrashed",
    "RunnerNotFound",
    "RunnerOutput",
    "ShellResult",
    "StorageFull",
    "ThermalTimeout",
    "ThermalZone",
    "UnsupportedRunner",
    "build_native_runner",
    "discover_devices",
    "file_sha256",
    "list_adb_devices",
    "list_devices",
    "list_ios_devices",
    "measure_artifact",
    "measure_batch",
    "open_device",
    "parse_bench_output",
    "parse_benchmark_model_output",
    "parse_device_report",
    "parse_executor_runner_output",
    "parse_python_runner_output",
    "read_device_info",
    "read_temperature_c",
    "summarize",
]
