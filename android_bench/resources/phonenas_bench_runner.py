#!/usr/bin/env python3
"""PhoneNAS Python-runtime benchmark runner (shipped as a file, pushed to the device, never imported).

Times one model file with the Python runtime matching its extension on a device that has Python and
the runtimes installed (this host, the loopback test "phone", Termux on a phone):

    .pte    -> executorch.runtime (XNNPACK kernels registered by the wheel)
    .tflite -> ai_edge_litert.interpreter.Interpreter
    .onnx   -> onnxruntime.InferenceSession (CPUExecutionProvider)

Usage: python3 phonenas_bench_runner.py MODEL [--warmup 10] [--runs 50] [--threads 1]

Inputs are all ones (float) or zeros (integer/bool) of the model's declared input shapes.
Output format (version 1), one record per line, space-separated, on stdout:

    phonenas-bench 1
    runtime <name> <version>
    threads <n>
    load_ms <float>          # program/session creation
    warmup_ms <float>        # one line per warm-up run
    run_ms <float>           # one line per timed run, in order
    end <number of run_ms lines>

Anything else (runtime logging) may be interleaved on stderr. Exit code 0 only if every run succeeded.
"""

import argparse
import sys
import time


def _executorch(path, threads):
    from executorch.extension.pybindings import portable_lib

    # The threadpool must be sized BEFORE a method is loaded; resetting it afterwards crashes.
    portable_lib._unsafe_reset_threadpool(int(threads))
    import torch
    from executorch import version as et_version
    from executorch.runtime import Runtime

    dtypes = {
        0: torch.uint8,
        1: torch.int8,
        2: torch.int16,
        3: torch.int32,
        4: torch.int64,
        5: torch.float16,
        6: torch.float32,
        7: torch.float64,
        11: torch.bool,
    }
    program = Runtime.get().load_program(path)
    method = program.load_method("forward")
    meta = method.metadata
    inputs = []
    for i in range(meta.num_inputs()):
        tm = meta.input_tensor_meta(i)
        dtype = dtypes.get(int(tm.dtype()), torch.float32)
        shape = tuple(tm.sizes())
        inputs.append(
            torch.ones(shape, dtype=dtype) if dtype.is_floating_point else torch.zeros(shape, dtype=dtype)
        )

    def run():
        method.execute(inputs)

    return "executorch", getattr(et_version, "__version__", "unknown"), run


def _litert(path, threads):
    import ai_edge_litert
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path, num_threads=int(threads))
    interp.allocate_tensors()
    for d in interp.get_input_details():
        fill = np.ones if np.issubdtype(d["dtype"], np.floating) else np.zeros
        interp.set_tensor(d["index"], fill(d["shape"], dtype=d["dtype"]))

    return "litert", getattr(ai_edge_litert, "__version__", "unknown"), interp.invoke


def _onnx(path, threads):
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    types = {
        "tensor(float)": np.float32,
        "tensor(float16)": np.float16,
        "tensor(double)": np.float64,
        "tensor(int64)": np.int64,
        "tensor(int32)": np.int32,
        "tensor(int8)": np.int8,
        "tensor(uint8)": np.uint8,
    }
    feeds = {}
    for inp in sess.get_inputs():
        dtype = types.get(inp.type, np.float32)
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
        fill = np.ones if np.issubdtype(dtype, np.floating) else np.zeros
        feeds[inp.name] = fill(shape, dtype=dtype)

    def run():
        sess.run(None, feeds)

    return "onnxruntime", ort.__version__, run


LOADERS = {".pte": _executorch, ".tflite": _litert, ".onnx": _onnx}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    suffix = "." + args.model.rsplit(".", 1)[-1].lower()
    if suffix not in LOADERS:
        print(f"unsupported model file {args.model!r}: expected one of {sorted(LOADERS)}", file=sys.stderr)
        return 2
    t0 = time.perf_counter_ns()
    runtime, version, run = LOADERS[suffix](args.model, args.threads)
    load_ms = (time.perf_counter_ns() - t0) / 1e6
    out = sys.stdout
    out.write(
        f"phonenas-bench 1\nruntime {runtime} {version}\nthreads {args.threads}\nload_ms {load_ms:.6f}\n"
    )
    for _ in range(args.warmup):
        t = time.perf_counter_ns()
        run()
        out.write(f"warmup_ms {(time.perf_counter_ns() - t) / 1e6:.6f}\n")
    times = []
    for _ in range(args.runs):
        t = time.perf_counter_ns()
        run()
        times.append((time.perf_counter_ns() - t) / 1e6)
    out.write("".join(f"run_ms {x:.6f}\n" for x in times))
    out.write(f"end {len(times)}\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
