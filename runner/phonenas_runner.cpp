// phonenas-runner: time one or many ExecuTorch .pte files in one process.
//
// Usage:
//   phonenas-runner [--threads N] [--warmup W] [--warmup-s S] [--runs R]
//                   [--profile] [--etdump-dir DIR] [--manifest FILE] [MODEL.pte ...]
//
// The thread pool is sized (--threads) BEFORE any program is loaded: resizing it
// after a method holds it is unsafe. Every model (command line first, then the
// manifest, one path per line, '#' comments) is loaded, run --warmup times (and
// on until --warmup-s seconds of warm-up have passed: the first few hundred calls
// of a freshly loaded microsecond-scale program run slow) and then timed --runs
// times with a monotonic clock around Module::execute; inputs
// are all ones (floating) or zeros (integer/bool) of the method's declared
// shapes, created once before the warm-up. A model that fails to load or run is
// reported with an "error" record and the next model is timed.
//
// With --profile a second copy of the model is loaded with an ETDump event tracer
// (executorch::etdump::ETDumpGen) and run --runs more times; the per-event
// median of those runs is printed as "op" records (these runs are not the timed
// ones, so the tracer's overhead never reaches run_ms). --etdump-dir also writes
// each model's ETDump (<DIR>/<index>.etdump) for ExecuTorch's Inspector.
//
// Output: "phonenas-bench 2" records on stdout, one per line, parsed by
// android_bench.runners.parse_bench_output (the format is documented there and
// in android_bench/resources/phonenas_bench_runner, whose version 1 is the
// one-model subset). Diagnostics go to stderr. Exit code: 0 when every model was
// timed, 3 when some failed, 2 on bad usage.
//
// Results go to stdout with printf, never through ET_LOG: an ExecuTorch built
// with the Android PAL sends ET_LOG to logcat only.

#include <executorch/devtools/etdump/etdump_flatcc.h>
#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor_ptr_maker.h>
#include <executorch/runtime/core/event_tracer.h>
#include <executorch/runtime/platform/runtime.h>

#if __has_include(<executorch/runtime/core/version.h>)
#include <executorch/runtime/core/version.h>
#endif

#if __has_include(<executorch/extension/threadpool/threadpool.h>)
#include <executorch/extension/threadpool/threadpool.h>
#else
// The executorch wheel ships libexecutorch_threadpool.so but not this header
// (it includes pthreadpool.h, which the wheel does not carry either). These are
// the two declarations of extension/threadpool/threadpool.h that we call; the
// class is only used through a pointer returned by the library.
namespace executorch::extension::threadpool {
class ThreadPool final {
 public:
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
} // namespace executorch::extension::threadpool
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#ifndef PHONENAS_RUNNER_VERSION
#define PHONENAS_RUNNER_VERSION "2"
#endif

namespace {

using executorch::aten::ScalarType;
using executorch::extension::Module;
using executorch::extension::TensorPtr;
using executorch::runtime::EValue;
using executorch::runtime::EventTracerEntry;

constexpr const char* kExecutorchVersion =
#if defined(ET_VERSION)
    ET_VERSION;
#elif defined(PHONENAS_EXECUTORCH_VERSION)
    PHONENAS_EXECUTORCH_VERSION;
#else
    "unknown";
#endif

double now_ms() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double, std::milli>(
             clock::now().time_since_epoch())
      .count();
}

// One profiled event of one execution: what ETDumpGen was told, with its span.
struct Event {
  std::string name;
  const char* kind; // "operator" | "delegate"
  int64_t handle; // instruction index (operators) or delegate debug id
  double ms;
};

// ETDumpGen that also keeps every profiling event's duration in memory, so the
// runner can print per-op times without parsing the flatbuffer it writes.
class RecordingETDump : public executorch::etdump::ETDumpGen {
 public:
  std::vector<Event> current;
  bool recording = false;

  EventTracerEntry start_profiling(
      const char* name,
      executorch::runtime::ChainID chain_id,
      executorch::runtime::DebugHandle debug_handle) override {
    EventTracerEntry e = ETDumpGen::start_profiling(name, chain_id, debug_handle);
    if (recording && name != nullptr) {
      pending_names_.emplace_back(e.event_id, name);
    }
    return e;
  }

  void end_profiling(EventTracerEntry entry) override {
    record_(entry, "operator");
    ETDumpGen::end_profiling(entry);
  }

  EventTracerEntry start_profiling_delegate(
      const char* name,
      executorch::runtime::DelegateDebugIntId id) override {
    EventTracerEntry e = ETDumpGen::start_profiling_delegate(name, id);
    if (recording && name != nullptr) {
      pending_names_.emplace_back(e.event_id, name);
    }
    return e;
  }

  void end_profiling_delegate(
      EventTracerEntry entry,
      const void* metadata,
      size_t metadata_len) override {
    record_(entry, "delegate");
    ETDumpGen::end_profiling_delegate(entry, metadata, metadata_len);
  }

  void log_profiling_delegate(
      const char* name,
      executorch::runtime::DelegateDebugIntId id,
      et_timestamp_t start_time,
      et_timestamp_t end_time,
      const void* metadata,
      size_t metadata_len) override {
    if (recording) {
      current.push_back(
          {name ? name : "delegate_event",
           "delegate",
           static_cast<int64_t>(id),
           ticks_to_ms_(end_time - start_time)});
    }
    ETDumpGen::log_profiling_delegate(
        name, id, start_time, end_time, metadata, metadata_len);
  }

 private:
  std::vector<std::pair<int64_t, std::string>> pending_names_;

  static double ticks_to_ms_(et_timestamp_t ticks) {
    const et_tick_ratio_t r = et_pal_ticks_to_ns_multiplier();
    return static_cast<double>(ticks) * r.numerator / r.denominator / 1e6;
  }

  void record_(const EventTracerEntry& e, const char* kind) {
    if (!recording) {
      return;
    }
    const double ms = ticks_to_ms_(et_pal_current_ticks() - e.start_time);
    std::string name = kind;
    // operators: the instruction index; delegates: the delegate debug id
    const int64_t handle = std::strcmp(kind, "delegate") == 0
        ? e.event_id
        : static_cast<int64_t>(e.debug_handle);
    for (auto it = pending_names_.rbegin(); it != pending_names_.rend(); ++it) {
      if (it->first == e.event_id) {
        name = it->second;
        pending_names_.erase(std::next(it).base());
        break;
      }
    }
    current.push_back({name, kind, handle, ms});
  }
};

struct Options {
  int threads = 1;
  int warmup = 10;
  double warmup_s = 0.0;
  int runs = 50;
  bool profile = false;
  std::string etdump_dir;
  std::vector<std::string> models;
};

void usage(const char* argv0) {
  std::fprintf(
      stderr,
      "usage: %s [--threads N] [--warmup W] [--warmup-s S] [--runs R] [--profile] "
      "[--etdump-dir DIR] [--manifest FILE] [MODEL.pte ...]\n",
      argv0);
}

bool parse_int(const char* text, int min_value, int* out) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < min_value || v > 1000000) {
    return false;
  }
  *out = static_cast<int>(v);
  return true;
}

bool read_manifest(const std::string& path, std::vector<std::string>* models) {
  std::ifstream in(path);
  if (!in) {
    return false;
  }
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "" : path.substr(0, slash);
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find_first_not_of(" \t\r");
    if (a == std::string::npos || line[a] == '#') {
      continue;
    }
    size_t b = line.find_last_not_of(" \t\r");
    std::string entry = line.substr(a, b - a + 1);
    if (entry[0] != '/' && !dir.empty()) {
      entry = dir + "/" + entry; // relative entries: relative to the manifest
    }
    models->push_back(entry);
  }
  return true;
}

// Returns 0 on success, 2 on bad usage (message already printed).
int parse_args(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag) -> const char* {
      std::string prefix = std::string(flag) + "=";
      if (a.rfind(prefix, 0) == 0) {
        return argv[i] + prefix.size();
      }
      if (a == flag && i + 1 < argc) {
        return argv[++i];
      }
      return nullptr;
    };
    const char* v = nullptr;
    if (a == "--help" || a == "-h") {
      usage(argv[0]);
      std::exit(0);
    } else if (a == "--version") {
      std::printf(
          "phonenas-runner %s executorch %s\n",
          PHONENAS_RUNNER_VERSION,
          kExecutorchVersion);
      std::exit(0);
    } else if (a == "--profile") {
      o->profile = true;
    } else if (a.rfind("--threads", 0) == 0 && (v = value("--threads"))) {
      if (!parse_int(v, 1, &o->threads)) {
        std::fprintf(stderr, "--threads must be an integer >= 1, got '%s'\n", v);
        return 2;
      }
    } else if (a.rfind("--warmup-s", 0) == 0 && (v = value("--warmup-s"))) {
      char* end = nullptr;
      o->warmup_s = std::strtod(v, &end);
      if (end == v || *end != '\0' || !(o->warmup_s >= 0.0) || o->warmup_s > 3600.0) {
        std::fprintf(stderr, "--warmup-s must be seconds in [0, 3600], got '%s'\n", v);
        return 2;
      }
    } else if (a.rfind("--warmup", 0) == 0 && (v = value("--warmup"))) {
      if (!parse_int(v, 0, &o->warmup)) {
        std::fprintf(stderr, "--warmup must be an integer >= 0, got '%s'\n", v);
        return 2;
      }
    } else if (a.rfind("--runs", 0) == 0 && (v = value("--runs"))) {
      if (!parse_int(v, 1, &o->runs)) {
        std::fprintf(stderr, "--runs must be an integer >= 1, got '%s'\n", v);
        return 2;
      }
    } else if (a.rfind("--etdump-dir", 0) == 0 && (v = value("--etdump-dir"))) {
      o->etdump_dir = v;
      o->profile = true;
    } else if (a.rfind("--manifest", 0) == 0 && (v = value("--manifest"))) {
      if (!read_manifest(v, &o->models)) {
        std::fprintf(stderr, "cannot read manifest '%s'\n", v);
        return 2;
      }
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "unknown or incomplete option '%s'\n", a.c_str());
      usage(argv[0]);
      return 2;
    } else {
      o->models.push_back(a);
    }
  }
  if (o->models.empty()) {
    std::fprintf(stderr, "no model given (pass MODEL.pte or --manifest FILE)\n");
    usage(argv[0]);
    return 2;
  }
  return 0;
}

// The error text of a runtime Error, for the "error" record.
std::string describe(executorch::runtime::Error e) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "error 0x%x", static_cast<unsigned>(e));
  return buf;
}

// Inputs of ones (floating) or zeros (integer, bool) with the declared shapes.
bool make_inputs(
    Module& module,
    std::vector<TensorPtr>* keep,
    std::vector<EValue>* inputs,
    std::string* err) {
  auto meta = module.method_meta("forward");
  if (!meta.ok()) {
    *err = "no 'forward' method (" + describe(meta.error()) + ")";
    return false;
  }
  for (size_t i = 0; i < meta->num_inputs(); ++i) {
    auto tag = meta->input_tag(i);
    if (!tag.ok() || *tag != executorch::runtime::Tag::Tensor) {
      *err = "input " + std::to_string(i) + " is not a tensor";
      return false;
    }
    auto info = meta->input_tensor_meta(i);
    if (!info.ok()) {
      *err = "cannot read input " + std::to_string(i) + " metadata";
      return false;
    }
    std::vector<executorch::aten::SizesType> sizes(
        info->sizes().begin(), info->sizes().end());
    ScalarType t = info->scalar_type();
    bool floating = t == ScalarType::Float || t == ScalarType::Double ||
        t == ScalarType::Half || t == ScalarType::BFloat16;
    TensorPtr tensor = floating ? executorch::extension::ones(sizes, t)
                                : executorch::extension::zeros(sizes, t);
    inputs->push_back(EValue(*tensor));
    keep->push_back(std::move(tensor));
  }
  return true;
}

struct Loaded {
  std::unique_ptr<Module> module;
  std::vector<TensorPtr> keep;
  std::vector<EValue> inputs;
};

bool load(
    const std::string& path,
    std::unique_ptr<executorch::runtime::EventTracer> tracer,
    Loaded* out,
    std::string* err) {
  out->module = std::make_unique<Module>(
      path, Module::LoadMode::File, std::move(tracer));
  executorch::runtime::Error e = out->module->load();
  if (e != executorch::runtime::Error::Ok) {
    *err = "cannot load program (" + describe(e) + ")";
    return false;
  }
  e = out->module->load_method("forward");
  if (e != executorch::runtime::Error::Ok) {
    *err = "cannot load method 'forward' (" + describe(e) +
        "; a missing operator or backend is named on stderr)";
    return false;
  }
  return make_inputs(*out->module, &out->keep, &out->inputs, err);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Per-event medians over the profiled runs; false if the runs disagree on the
// sequence of events (then nothing is printed rather than a misaligned table).
void print_profile(
    const std::vector<std::vector<Event>>& iters,
    std::string* err) {
  if (iters.empty() || iters[0].empty()) {
    *err = "profile recorded no events";
    return;
  }
  const size_t n = iters[0].size();
  for (const auto& it : iters) {
    if (it.size() != n) {
      *err = "profiled runs recorded different event counts";
      return;
    }
  }
  for (size_t k = 0; k < n; ++k) {
    std::vector<double> xs;
    xs.reserve(iters.size());
    for (const auto& it : iters) {
      xs.push_back(it[k].ms);
    }
    const Event& e = iters[0][k];
    std::printf(
        "op %zu %.6f %s %lld %s\n",
        k,
        median(xs),
        e.kind,
        static_cast<long long>(e.handle),
        e.name.c_str());
  }
}

// Times one model; prints its records. Returns true when it was timed.
bool time_model(size_t index, const std::string& path, const Options& o) {
  std::printf("model %zu %s\n", index, path.c_str());
  std::fflush(stdout);
  std::string err;
  Loaded m;
  const double t0 = now_ms();
  if (!load(path, nullptr, &m, &err)) {
    std::printf("error %s\n", err.c_str());
    return false;
  }
  std::printf("load_ms %.6f\n", now_ms() - t0);
  std::vector<double> runs;
  runs.reserve(o.runs);
  const double w0 = now_ms();
  int warm = 0; // --warmup calls, and on until --warmup-s have passed
  for (int i = 0; warm < o.warmup || now_ms() - w0 < o.warmup_s * 1e3 ||
       static_cast<int>(runs.size()) < o.runs;
       ++i) {
    const bool warming = warm < o.warmup || now_ms() - w0 < o.warmup_s * 1e3;
    const double t = now_ms();
    auto r = m.module->execute("forward", m.inputs);
    const double dt = now_ms() - t;
    if (!r.ok()) {
      std::printf("error execution %d failed (%s)\n", i, describe(r.error()).c_str());
      return false;
    }
    if (warming) {
      std::printf("warmup_ms %.6f\n", dt);
      ++warm;
    } else {
      runs.push_back(dt);
    }
  }
  std::string text;
  char buf[48];
  for (double x : runs) {
    std::snprintf(buf, sizeof(buf), "run_ms %.6f\n", x);
    text += buf;
  }
  std::fputs(text.c_str(), stdout);
  std::printf("end %zu\n", runs.size());
  m = Loaded();

  if (o.profile) {
    auto tracer = std::make_unique<RecordingETDump>();
    RecordingETDump* rec = tracer.get();
    Loaded p;
    if (!load(path, std::move(tracer), &p, &err)) {
      std::printf("profile_error %s\n", err.c_str());
      return true;
    }
    std::vector<std::vector<Event>> iters;
    for (int i = 0; i < o.warmup + o.runs; ++i) {
      rec->current.clear();
      rec->recording = i >= o.warmup;
      auto r = p.module->execute("forward", p.inputs);
      if (!r.ok()) {
        std::printf("profile_error execution failed (%s)\n", describe(r.error()).c_str());
        return true;
      }
      if (rec->recording) {
        iters.push_back(rec->current);
      }
    }
    rec->recording = false;
    print_profile(iters, &err);
    if (!err.empty()) {
      std::printf("profile_error %s\n", err.c_str());
    }
    if (!o.etdump_dir.empty()) {
      executorch::etdump::ETDumpResult res = rec->get_etdump_data();
      std::string out = o.etdump_dir + "/" + std::to_string(index) + ".etdump";
      FILE* f = res.buf ? std::fopen(out.c_str(), "wb") : nullptr;
      if (f != nullptr) {
        std::fwrite(res.buf, 1, res.size, f);
        std::fclose(f);
        std::printf("etdump %s\n", out.c_str());
        std::free(res.buf);
      } else {
        std::printf("profile_error cannot write ETDump to %s\n", out.c_str());
      }
    }
  }
  return true;
}

} // namespace

int main(int argc, char** argv) {
  Options o;
  int rc = parse_args(argc, argv, &o);
  if (rc != 0) {
    return rc;
  }
  executorch::runtime::runtime_init();
  // Size the pool before anything is loaded (see the header comment).
  bool reset = executorch::extension::threadpool::get_threadpool()
                   ->_unsafe_reset_threadpool(static_cast<uint32_t>(o.threads));
  std::printf(
      "phonenas-bench 2\nrunner phonenas-runner %s\nruntime executorch %s\n"
      "threads %d\nmodels %zu\n",
      PHONENAS_RUNNER_VERSION,
      kExecutorchVersion,
      o.threads,
      o.models.size());
  if (!reset) {
    std::fprintf(stderr, "warning: could not resize the thread pool to %d\n", o.threads);
  }
  size_t ok = 0;
  for (size_t i = 0; i < o.models.size(); ++i) {
    ok += time_model(i, o.models[i], o) ? 1 : 0;
    std::fflush(stdout);
  }
  std::printf("done %zu ok %zu\n", o.models.size(), ok);
  std::fflush(stdout);
  return ok == o.models.size() ? 0 : 3;
}
