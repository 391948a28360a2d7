// Checks on a model the plugin loads: described I/O, reference outputs,
// invalid inputs, concurrency, load/unload memory, and the host's handling
// of optional operations.
#include <malloc.h>
#if defined(__SANITIZE_ADDRESS__)
// From the sanitizer runtime's public interface (GCC ships no header for it).
extern "C" size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#include <atomic>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include <yaml-cpp/yaml.h>

#include "checks.h"
#include "mrt/core/npy.h"
#include "mrt/core/pipeline.h"

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kUnderAddressSanitizer = true;
#else
constexpr bool kUnderAddressSanitizer = false;
#endif

namespace fs = std::filesystem;

namespace mrt::conformance {

CheckResult corrupt_copy_check(const Context& ctx, const ModelLocation& model, const std::string& how);

Result<std::shared_ptr<LoadedModel>> load_model(const Context& ctx, const ModelLocation& model) {
  RouteDecision route;
  route.plugin = ctx.plugin;
  route.device = MRT_DEVICE_CPU;
  for (auto k : ctx.plugin->info().device_kinds)
    if (ctx.plugin->device_count(k) > 0) { route.device = k; break; }
  return LoadedModel::load(model, route, 1);
}

Result<std::vector<Tensor>> sample_inputs(const LoadedModel& model) {
  std::vector<Tensor> out;
  fs::path ref = model.location().directory / "reference" / "inputs";
  for (const auto& spec : model.inputs()) {
    fs::path file = ref / (spec.name + ".npy");
    std::error_code ec;
    if (fs::exists(file, ec)) {
      auto t = read_npy(file, spec.name);
      if (!t) return t.status();
      out.push_back(std::move(*t));
      continue;
    }
    if (spec.rank < 0) return invalid_argument("input '" + spec.name + "' has unknown rank and no reference input");
    auto t = zeros_for_dims(spec.name, spec.dtype, spec.dims);
    if (!t) return t.status();
    out.push_back(std::move(*t));
  }
  return out;
}

Result<std::vector<Tensor>> execute_direct(const LoadedModel& model, const std::vector<MRT_Tensor>& inputs) {
  MRT_Request request{};
  request.struct_size = MRT_REQUEST_STRUCT_SIZE;
  request.kind = MRT_PAYLOAD_TENSORS;
  request.tensors = inputs.data();
  request.num_tensors = inputs.size();
  CallControl control;
  MRT_CallContext call{&control, nullptr};
  MRT_Results results;
  MRT_StageArgs args = make_stage_args(request, inputs, call, results);
  MRT_RETURN_IF_ERROR(model.run_stage(Stage::kExecute, args));
  return std::move(results.tensors);
}

namespace {

bool same_bytes(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].dims() != b[i].dims() || a[i].byte_size() != b[i].byte_size() ||
        std::memcmp(a[i].data(), b[i].data(), a[i].byte_size()) != 0)
      return false;
  return true;
}

double as_double(const Tensor& t, uint64_t i) {
  switch (t.dtype()) {
    case MRT_DTYPE_FLOAT32: return t.data_as<float>()[i];
    case MRT_DTYPE_FLOAT64: return t.data_as<double>()[i];
    case MRT_DTYPE_INT64: return static_cast<double>(t.data_as<int64_t>()[i]);
    case MRT_DTYPE_INT32: return t.data_as<int32_t>()[i];
    case MRT_DTYPE_UINT8: case MRT_DTYPE_BOOL: return static_cast<double>(reinterpret_cast<const uint8_t*>(t.data())[i]);
    default: return std::nan("");
  }
}

// Heap bytes in use and mapping count: a leaked allocation or a leaked file
// mapping per cycle shows in one of them.
struct MemorySnapshot {
  size_t heap = 0;
  size_t mappings = 0;
};
MemorySnapshot memory_now() {
  MemorySnapshot m;
#if defined(__SANITIZE_ADDRESS__)
  m.heap = __sanitizer_get_current_allocated_bytes();  // ASan owns malloc; mallinfo2 reads 0
#else
  m.heap = mallinfo2().uordblks;
#endif
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) ++m.mappings;
  return m;
}

using ModelCheck = std::function<CheckResult(Context&, const ModelLocation&)>;

Check per_model(const std::string& name, size_t index, ModelCheck fn,
                std::function<double(const Context&)> timeout_scale = nullptr) {
  return Check{name, [index, fn](Context& ctx) { return fn(ctx, ctx.models[index]); }, true, std::move(timeout_scale)};
}

// Resident memory of this process by kind, from /proc/self/status.
struct Resident {
  uint64_t anon = 0, file = 0, shmem = 0;
};
Resident resident_now() {
  Resident r;
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    auto kb = [&](const char* key, uint64_t& out) {
      size_t n = std::strlen(key);
      if (line.compare(0, n, key) == 0) out = std::stoull(line.substr(n)) * 1024;
    };
    kb("RssAnon:", r.anon);
    kb("RssFile:", r.file);
    kb("RssShmem:", r.shmem);
  }
  return r;
}

uint64_t model_file_bytes(const fs::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  return total;
}

std::string mib(uint64_t bytes) {
  char buf[32];
  if (bytes < (1u << 20)) std::snprintf(buf, sizeof buf, "%.0f KiB", static_cast<double>(bytes) / 1024);
  else std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

// Loads the model and the sample inputs, or says why not.
struct Loaded {
  std::shared_ptr<LoadedModel> model;
  std::vector<Tensor> inputs;
  CheckResult error{Outcome::kPass, ""};
};
Loaded load_with_inputs(const Context& ctx, const ModelLocation& loc) {
  Loaded l;
  auto m = load_model(ctx, loc);
  if (!m) { l.error = fail("load failed: " + m.status().to_string()); return l; }
  l.model = *m;
  auto in = sample_inputs(**m);
  if (!in) { l.error = fail("cannot build inputs: " + in.status().to_string()); return l; }
  l.inputs = std::move(*in);
  return l;
}

CheckResult expect_invalid(const LoadedModel& model, const std::vector<MRT_Tensor>& inputs, const std::string& what) {
  auto r = execute_direct(model, inputs);
  if (r) return fail("accepted " + what);
  if (r.status().code() != MRT_CODE_INVALID_ARGUMENT)
    return fail(what + " gave " + r.status().to_string() + ", expected INVALID_ARGUMENT");
  return pass(r.status().message());
}

}  // namespace

std::vector<Check> model_checks(size_t i) {
  return {
      per_model("model/load-and-describe", i, [](Context& ctx, const ModelLocation& loc) {
        auto m = load_model(ctx, loc);
        if (!m) return fail(m.status().to_string());
        std::set<std::string> names;
        for (const auto* list : {&(*m)->inputs(), &(*m)->outputs()})
          for (const auto& io : *list) {
            if (io.name.empty()) return fail("an input or output has no name");
            if (!names.insert(io.name).second) return fail("name '" + io.name + "' used twice");
            if (dtype_size(io.dtype) == 0) return fail("'" + io.name + "' has unknown dtype " + std::to_string(io.dtype));
            for (int64_t d : io.dims)
              if (d < -1) return fail("'" + io.name + "' has dim " + std::to_string(d));
          }
        if ((*m)->inputs().empty() || (*m)->outputs().empty()) return fail("no inputs or no outputs");
        return pass(std::to_string((*m)->inputs().size()) + " in, " + std::to_string((*m)->outputs().size()) +
                    " out, " + std::to_string((*m)->resident_bytes()) + " bytes");
      }),
      // The cache evicts by the bytes a plugin reports (MRT_ModelInfo.host_bytes),
      // so a plugin that under-reports overruns required_mem_mb unseen. Rule:
      // the first load in a fresh process (each check runs in one, see
      // main.cpp) is measured as the growth of RssAnon + RssShmem (memory the
      // load allocated and touched; file-backed pages are left out, since
      // first use of a big library such as oneDNN faults in code pages that
      // are not the model's). When that growth is 4 MiB or more, host_bytes
      // must be at least 25% of it. host_bytes may exceed what is resident
      // right after the load (lazily mapped weights, arenas filled at the
      // first run), but not absurdly: at most 4 × the larger of the total
      // resident growth and the model's file bytes, plus 64 MiB.
      per_model("model/host-bytes-plausible", i, [](Context& ctx, const ModelLocation& loc) {
        constexpr uint64_t kFloor = 4u << 20, kSlack = 64u << 20;
        malloc_trim(0);  // free heap pages do not count as the load's
        Resident before = resident_now();
        auto m = load_model(ctx, loc);
        if (!m) return fail("load failed: " + m.status().to_string());
        Resident after = resident_now();
        auto grew = [](uint64_t a, uint64_t b) { return a > b ? a - b : 0; };
        uint64_t allocated = grew(after.anon + after.shmem, before.anon + before.shmem);
        uint64_t total = allocated + grew(after.file, before.file);
        uint64_t files = model_file_bytes(loc.directory);
        uint64_t reported = (*m)->host_bytes();
        std::string d = "reports host_bytes " + std::to_string(reported) + " (" + mib(reported) + "); the load added " +
                        mib(allocated) + " anonymous and " + mib(total - allocated) + " file-backed resident; model files " +
                        mib(files);
        // Under AddressSanitizer much of the growth is the sanitizer's: its
        // quarantine keeps buffers the load freed resident, plus shadow and
        // redzones (oneDNN's ResNet fixture grew 13.2 MiB). The first 16 MiB
        // are not held against the plugin there.
        uint64_t allowance = kUnderAddressSanitizer ? 16u << 20 : 0;
        uint64_t owed = grew(allocated, allowance);
        if (kUnderAddressSanitizer) d += " (AddressSanitizer's quarantine and shadow included; 16 MiB of it allowed)";
        if (owed >= kFloor && reported < owed / 4)
          return fail(d + ": under-reported, must be at least 25% of the " + mib(owed) + " its load allocated");
        if (reported > 4 * std::max(total, files) + kSlack)
          return fail(d + ": over-reported, more than 4 × max(resident growth, model files) + 64 MiB");
        return pass(d);
      }),
      per_model("model/reference-outputs", i, [](Context& ctx, const ModelLocation& loc) {
        fs::path ref = loc.directory / "reference";
        std::error_code ec;
        if (!fs::is_directory(ref / "outputs", ec)) return skip("no reference/outputs beside the model");
        double atol = 1e-5, rtol = 1e-4;
        if (fs::exists(ref / "tolerance.yml", ec)) {
          YAML::Node tol = YAML::LoadFile((ref / "tolerance.yml").string());
          if (tol["atol"]) atol = tol["atol"].as<double>();
          if (tol["rtol"]) rtol = tol["rtol"].as<double>();
        }
        Loaded l = load_with_inputs(ctx, loc);
        if (!l.model) return l.error;
        auto out = execute_direct(*l.model, tensor_views(l.inputs));
        if (!out) return fail("execute: " + out.status().to_string());
        double worst = 0;
        size_t compared = 0;
        for (const auto& entry : fs::directory_iterator(ref / "outputs")) {
          std::string name = entry.path().stem().string();
          auto expected = read_npy(entry.path(), name);
          if (!expected) return fail(expected.status().to_string());
          const Tensor* got = nullptr;
          for (const auto& t : *out)
            if (t.name() == name) got = &t;
          if (got == nullptr) return fail("no output named '" + name + "'");
          if (got->dims() != expected->dims())
            return fail("output '" + name + "' has shape " + dims_to_string(got->dims()) + ", expected " + dims_to_string(expected->dims()));
          for (uint64_t k = 0; k < expected->element_count(); ++k) {
            double a = as_double(*got, k), b = as_double(*expected, k);
            double err = std::fabs(a - b);
            if (!(err <= atol + rtol * std::fabs(b)))
              return fail("output '" + name + "'[" + std::to_string(k) + "] = " + std::to_string(a) + ", expected " +
                          std::to_string(b) + " (atol " + std::to_string(atol) + ", rtol " + std::to_string(rtol) + ")");
            worst = std::max(worst, err);
          }
          ++compared;
        }
        char buf[96];
        std::snprintf(buf, sizeof buf, "%zu output(s), max abs error %.3g", compared, worst);
        return pass(buf);
      }),
      per_model("execute/wrong-dtype", i, [](Context& ctx, const ModelLocation& loc) {
        Loaded l = load_with_inputs(ctx, loc);
        if (!l.model) return l.error;
        auto v = tensor_views(l.inputs);
        // Same byte size, other dtype: only the dtype is wrong.
        MRT_DType other = dtype_size(v[0].dtype) == 4 ? (v[0].dtype == MRT_DTYPE_INT32 ? MRT_DTYPE_FLOAT32 : MRT_DTYPE_INT32)
                          : dtype_size(v[0].dtype) == 8 ? (v[0].dtype == MRT_DTYPE_INT64 ? MRT_DTYPE_FLOAT64 : MRT_DTYPE_INT64)
                          : dtype_size(v[0].dtype) == 2 ? (v[0].dtype == MRT_DTYPE_INT16 ? MRT_DTYPE_FLOAT16 : MRT_DTYPE_INT16)
                                                        : (v[0].dtype == MRT_DTYPE_UINT8 ? MRT_DTYPE_INT8 : MRT_DTYPE_UINT8);
        v[0].dtype = other;
        return expect_invalid(*l.model, v, "input of dtype " + std::string(dtype_name(other)));
      }),
      per_model("execute/wrong-rank", i, [](Context& ctx, const ModelLocation& loc) {
        Loaded l = load_with_inputs(ctx, loc);
        if (!l.model) return l.error;
        auto v = tensor_views(l.inputs);
        Dims dims(v[0].dims, v[0].dims + v[0].rank);
        dims.push_back(1);  // same elements, one more dim
        v[0].dims = dims.data();
        v[0].rank += 1;
        return expect_invalid(*l.model, v, "input of rank " + std::to_string(v[0].rank));
      }),
      per_model("execute/wrong-shape", i, [](Context& ctx, const ModelLocation& loc) {
        Loaded l = load_with_inputs(ctx, loc);
        if (!l.model) return l.error;
        const IoSpec& spec = l.model->inputs()[0];
        int fixed = -1;
        for (int k = static_cast<int>(spec.dims.size()) - 1; k >= 0; --k)
          if (spec.dims[k] > 0) { fixed = k; break; }
        if (fixed < 0) return skip("input '" + spec.name + "' has no fixed dimension to get wrong");
        Dims dims = l.inputs[0].dims();
        dims[fixed] += 1;
        auto wrong = Tensor::zeros(spec.name, l.inputs[0].dtype(), dims);
        if (!wrong) return fail(wrong.status().to_string());
        auto v = tensor_views(l.inputs);
        v[0] = wrong->view();
        return expect_invalid(*l.model, v, "input of shape " + dims_to_string(dims));
      }),
      per_model("execute/concurrent-matches-sequential", i, [](Context& ctx, const ModelLocation& loc) {
        Loaded l = load_with_inputs(ctx, loc);
        if (!l.model) return l.error;
        auto v = tensor_views(l.inputs);
        auto expected = execute_direct(*l.model, v);
        if (!expected) return fail("execute: " + expected.status().to_string());
        bool shared = ctx.plugin->info().concurrent_execute();
        constexpr int kThreads = 8, kRuns = 20;
        std::vector<std::shared_ptr<LoadedModel>> models(kThreads, l.model);
        if (!shared)  // distinct models may always run concurrently
          for (auto& m : models) {
            auto extra = load_model(ctx, loc);
            if (!extra) return fail("second load: " + extra.status().to_string());
            m = *extra;
          }
        std::atomic<int> mismatches{0}, errors{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t)
          threads.emplace_back([&, t] {
            for (int r = 0; r < kRuns; ++r) {
              auto got = execute_direct(*models[t], v);
              if (!got) ++errors;
              else if (!same_bytes(*got, *expected)) ++mismatches;
            }
          });
        for (auto& th : threads) th.join();
        if (errors || mismatches)
          return fail(std::to_string(errors.load()) + " errors, " + std::to_string(mismatches.load()) + " mismatches");
        return pass(std::to_string(kThreads * kRuns) + " runs on " + (shared ? "one shared model" : "one model per thread"));
      }, [](const Context&) { return 4.0; }),  // up to 9 loads and 161 runs
      per_model("load/truncated-file", i, [](Context& ctx, const ModelLocation& loc) {
        return corrupt_copy_check(ctx, loc, "truncated");
      }),
      per_model("load/corrupt-file", i, [](Context& ctx, const ModelLocation& loc) {
        return corrupt_copy_check(ctx, loc, "corrupt");
      }),
      per_model("load/repeated-unload-does-not-grow-memory", i, [](Context& ctx, const ModelLocation& loc) {
        auto cycle = [&]() -> Status {
          auto m = load_model(ctx, loc);
          return m ? Status::ok() : m.status();
        };
        for (int k = 0; k < 10; ++k)
          if (Status s = cycle(); !s.is_ok()) return fail(s.to_string());
        MemorySnapshot before = memory_now();
        for (int k = 0; k < ctx.iterations; ++k)
          if (Status s = cycle(); !s.is_ok()) return fail(s.to_string());
        MemorySnapshot after = memory_now();
        long heap_growth = static_cast<long>(after.heap) - static_cast<long>(before.heap);
        long map_growth = static_cast<long>(after.mappings) - static_cast<long>(before.mappings);
        std::string d = std::to_string(ctx.iterations) + " cycles: heap " + std::to_string(heap_growth) + " bytes, mappings " +
                        std::to_string(map_growth);
        // 16 KiB of slack absorbs allocator bookkeeping; a leak of 80+ bytes
        // per cycle, or any leaked mapping, exceeds it. Under AddressSanitizer
        // freed big blocks sit in its quarantine as mappings for a while, so
        // only the heap counts there (LeakSanitizer checks the rest at exit).
        if (heap_growth > 16 * 1024 || (map_growth > 2 && !kUnderAddressSanitizer)) return fail("grew: " + d);
        return pass(d);
      }, [](const Context& ctx) { return 1.0 + (ctx.iterations + 10) / 50.0; }),  // 210 loads by default: × 5.2
      per_model("host/optional-operations", i, [](Context& ctx, const ModelLocation& loc) {
        // Run the whole pipeline through a Runtime: NULL preprocess,
        // postprocess or device_count must fall back to the host's stages.
        RuntimeConfig config;
        config.plugin_files = {ctx.plugin_path};
        config.routing.forced_plugin = ctx.plugin->name();
        auto rt = Runtime::create(std::move(config));
        if (!rt) return fail(rt.status().to_string());
        // A bare single-file model (a .gguf) is added by its file, a model directory as itself.
        fs::path path = loc.single_file ? loc.directory / loc.primary_file : loc.directory;
        if (auto s = (*rt)->add_model_path(loc.model_id, path); !s.is_ok()) return fail(s.to_string());
        auto loaded = (*rt)->load(loc.model_id);
        if (!loaded) return fail(loaded.status().to_string());
        auto m = load_model(ctx, loc);
        if (!m) return fail(m.status().to_string());
        auto in = sample_inputs(**m);
        if (!in) return fail(in.status().to_string());
        InferRequest req;
        req.model_id = loc.model_id;
        req.tensors = std::move(*in);
        auto r = (*rt)->infer(req);
        if (!r) return fail("pipeline: " + r.status().to_string());
        const MRT_PluginApi& api = ctx.plugin->api();
        std::string d = std::string("preprocess ") + (api.preprocess ? "plugin" : "NULL→host") + ", postprocess " +
                        (api.postprocess ? "plugin" : "NULL→host") + ", device_count " + (api.device_count ? "plugin" : "NULL→host");
        return pass(d);
      }, [](const Context&) { return 2.0; }),  // two loads and a whole pipeline
  };
}

}  // namespace mrt::conformance
