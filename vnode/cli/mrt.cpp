// mrt: the model-runtime command line.
//
// In-process (no service needed):
//   mrt run <model-dir|model-file> --input x.npy [--input NAME=y.npy ...]
//           [--output DIR] [--plugin NAME] [--threads N] [--bench N]
//   mrt classify <model-dir> <image>...
//   mrt generate <model-dir> --prompt TEXT [--max-tokens N ...]
//   mrt plugins
// Through the service (--socket [PATH]; the default svc://model-runtime
// socket when PATH is left out): run, classify and generate take a model_id;
//   mrt models | load <id> | unload <id> | metrics | health
//   mrt push <dir> [--as <id>] | rm <id> | info <id>   (your own models)
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "chat_command.h"
#include "client.h"
#include "mrt/core/log.h"
#include "mrt/core/npy.h"
#include "mrt/core/runtime.h"
#include "plugin_search.h"
#include "proto_convert.h"
#include "service_address.h"
#include "user_models.h"

namespace fs = std::filesystem;
using mrt::Result;
using mrt::Status;

namespace {

struct Options {
  std::vector<std::string> plugin_dirs, plugin_files;
  int threads = 1;
  bool verbose = false;
  bool use_socket = false;
  std::string socket;
  // run
  std::string model;
  std::vector<std::string> inputs;
  std::string output_dir, plugin;
  int bench = 0;
  bool bench_paced = false;
  // classify
  std::vector<std::string> images;
  int top_k = 0;
  // generate
  std::string prompt;
  int max_tokens = 64;
  float temperature = 0, top_p = 0;
  int gen_top_k = 0;
  int64_t seed = -1;
  std::vector<std::string> stop;
  uint32_t timeout_ms = 0;
  // push
  std::string push_as;
  // chat
  std::string system_prompt;
};

int fail(const Status& s) {
  std::fprintf(stderr, "mrt: error: %s\n", s.to_string().c_str());
  return 1;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// `load_ms` < 0: not measured (the service loaded the model earlier);
// `reload_ms`: the same load again in this now warm process (< 0: not done).
void print_bench(const std::string& model, const std::string& via, int threads, const std::vector<double>& ms, double load_ms = -1,
                 double reload_ms = -1) {
  std::printf("bench: model=%s via=%s threads=%d iterations=%zu median_ms=%.4f p90_ms=%.4f min_ms=%.4f", model.c_str(), via.c_str(),
              threads, ms.size(), percentile(ms, 0.5), percentile(ms, 0.9), percentile(ms, 0.0));
  if (load_ms >= 0) std::printf(" load_ms=%.2f", load_ms);
  if (reload_ms >= 0) std::printf(" reload_ms=%.2f", reload_ms);
  std::printf("\n");
}

// Times `once` after a warm-up; `once` returns false on failure. `paced`:
// after the warm-up it prints `bench-ready`, then for each line on stdin
// (a count k, empty for 1) makes k timed runs, printing `run_ms=…` after
// each, until n runs are timed or stdin ends. A benchmark script thus
// alternates short blocks of runs with a peer's, each pair of blocks seeing
// the same machine state (this machine's neighbours move timings by ±20%
// within seconds).
template <typename F>
Result<std::vector<double>> time_runs(int n, F&& once, bool paced = false) {
  auto timed = [&](std::vector<double>& ms) -> Status {
    auto t0 = std::chrono::steady_clock::now();
    MRT_RETURN_IF_ERROR(once());
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    return Status::ok();
  };
  std::vector<double> warm, ms;
  for (int i = 0; i < std::max(3, n / 10); ++i) MRT_RETURN_IF_ERROR(timed(warm));
  if (!paced) {
    while (static_cast<int>(ms.size()) < n) MRT_RETURN_IF_ERROR(timed(ms));
    return ms;
  }
  std::printf("bench-ready\n");
  std::fflush(stdout);
  std::string line;
  while (static_cast<int>(ms.size()) < n && std::getline(std::cin, line)) {
    int k = line.empty() ? 1 : std::atoi(line.c_str());
    for (int j = 0; j < std::max(1, k) && static_cast<int>(ms.size()) < n; ++j) {
      MRT_RETURN_IF_ERROR(timed(ms));
      std::printf("run_ms=%.4f\n", ms.back());
    }
    std::fflush(stdout);
  }
  if (ms.empty()) return mrt::failed_precondition("no timed run (stdin ended before the first)");
  return ms;
}

std::string model_id_for(const fs::path& path) {
  std::string id = path.lexically_normal().filename().string();
  if (id.empty()) id = path.lexically_normal().parent_path().filename().string();
  for (char& c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) c = '_';
  return id.empty() || id == "." || id == ".." ? "model" : id;
}

Result<std::vector<mrt::Tensor>> read_inputs(const std::vector<std::string>& specs) {
  std::vector<mrt::Tensor> out;
  for (const auto& spec : specs) {
    std::string name, file = spec;
    if (auto eq = spec.find('='); eq != std::string::npos) {
      name = spec.substr(0, eq);
      file = spec.substr(eq + 1);
    }
    auto t = mrt::read_npy(file, name);
    if (!t) return t.status();
    out.push_back(std::move(*t));
  }
  return out;
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return mrt::not_found("cannot read " + path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void print_classes(const std::vector<mrt::Classification>& classes, const std::string& prefix = "") {
  for (const auto& c : classes)
    std::printf("%sbatch %d: class %d %s %.6f\n", prefix.c_str(), c.batch_index, c.class_index, c.label.c_str(), c.score);
}

Status write_outputs(const std::string& dir, const std::vector<mrt::Tensor>& tensors) {
  if (dir.empty()) return Status::ok();
  std::error_code ec;
  fs::create_directories(dir, ec);
  for (const auto& t : tensors) {
    fs::path out = fs::path(dir) / (model_id_for(t.name().empty() ? "output" : t.name()) + ".npy");
    MRT_RETURN_IF_ERROR(mrt::write_npy(out, t));
    std::printf("wrote %s %s %s\n", out.c_str(), std::string(mrt::dtype_name(t.dtype())).c_str(),
                mrt::dims_to_string(t.dims()).c_str());
  }
  return Status::ok();
}

// ---------------------------------------------------------------- in-process

Result<std::unique_ptr<mrt::Runtime>> make_runtime(const Options& o) {
  if (!o.verbose) mrt::set_log_level(mrt::LogLevel::kWarning);
  mrt::RuntimeConfig config;
  auto paths = mrt::plugin_paths(o.plugin_files, o.plugin_dirs);
  config.plugin_files = std::move(paths.files);
  config.plugin_dirs = std::move(paths.dirs);
  config.num_threads = std::max(1, o.threads);
  config.routing.forced_plugin = o.plugin;
  config.model_search_paths.clear();
  return mrt::Runtime::create(std::move(config));
}

double median_of(std::vector<double> v) { return percentile(std::move(v), 0.5); }

// Prefill and decode speed of a text model: the time to the first streamed
// chunk is the prefill (and sampling the first token from its logits); the
// rest is decode.
int bench_generation(mrt::Runtime& rt, mrt::InferRequest& request, int runs) {
  std::vector<double> prefill, decode;
  int prompt_tokens = 0, generated = 0;
  for (int i = 0; i < runs + 1; ++i) {  // the first run warms up
    auto t0 = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point first{};
    request.on_text = [&](std::string_view) {
      if (first == std::chrono::steady_clock::time_point{}) first = std::chrono::steady_clock::now();
      return Status::ok();
    };
    auto r = rt.infer(request);
    auto t1 = std::chrono::steady_clock::now();
    if (!r) return fail(r.status());
    if (i == 0 || first == std::chrono::steady_clock::time_point{} || r->text->generated_tokens < 2) continue;
    prompt_tokens = r->text->prompt_tokens;
    generated = r->text->generated_tokens;
    prefill.push_back(prompt_tokens / std::chrono::duration<double>(first - t0).count());
    decode.push_back((generated - 1) / std::chrono::duration<double>(t1 - first).count());
  }
  if (prefill.empty()) return fail(mrt::failed_precondition("the model stopped before 2 tokens; nothing to time"));
  std::printf("bench: prompt_tokens=%d generated=%d runs=%zu prefill_tok_s=%.1f decode_tok_s=%.1f (medians)\n",
              prompt_tokens, generated, prefill.size(), median_of(prefill), median_of(decode));
  return 0;
}

int local_infer(const Options& o, mrt::InferRequest request) {
  auto rt = make_runtime(o);
  if (!rt) return fail(rt.status());
  request.model_id = model_id_for(o.model);
  if (auto s = (*rt)->add_model_path(request.model_id, o.model); !s.is_ok()) return fail(s);
  auto load_start = std::chrono::steady_clock::now();
  auto loaded = (*rt)->load(request.model_id);
  if (!loaded) return fail(loaded.status());
  double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - load_start).count();
  // Unnamed inputs are bound to the model's inputs in order.
  for (size_t i = 0; i < request.tensors.size() && i < loaded->inputs.size(); ++i)
    if (request.tensors[i].name().empty()) request.tensors[i].set_name(loaded->inputs[i].name);
  if (request.kind == MRT_PAYLOAD_TEXT)
    request.on_text = [](std::string_view chunk) {
      std::fwrite(chunk.data(), 1, chunk.size(), stdout);
      std::fflush(stdout);
      return Status::ok();
    };
  auto result = (*rt)->infer(request);
  if (!result) return fail(result.status());
  if (auto s = write_outputs(o.output_dir, result->tensors); !s.is_ok()) return fail(s);
  print_classes(result->classes);
  if (result->text) std::printf("\n");
  if (o.bench > 0 && request.kind == MRT_PAYLOAD_TEXT) return bench_generation(**rt, request, o.bench);
  if (o.bench > 0) {
    request.on_text = nullptr;
    auto ms = time_runs(o.bench, [&] { return (*rt)->infer(request).status(); }, o.bench_paced);
    if (!ms) return fail(ms.status());
    // A warm process's load (libraries set up, oneDNN's kernel cache
    // filled), as a service sees when it reloads an evicted model.
    if (auto s = (*rt)->unload(request.model_id); !s.is_ok()) return fail(s);
    auto reload_start = std::chrono::steady_clock::now();
    if (auto again = (*rt)->load(request.model_id); !again) return fail(again.status());
    double reload_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - reload_start).count();
    print_bench(request.model_id, "in-process plugin=" + result->plugin, o.threads, *ms, load_ms, reload_ms);
  }
  return 0;
}

// ---------------------------------------------------------------- service

Result<std::unique_ptr<mrt::client::Client>> connect(const Options& o) {
  fs::path path = o.socket;
  if (path.empty()) {
    auto p = mrt::vnode::socket_path_for(mrt::vnode::kServiceAddress);
    if (!p) return p.status();
    path = *p;
  }
  return mrt::client::Client::connect(path);
}

// Shows a spinner on stderr (a terminal only) until `done`.
class Progress {
 public:
  explicit Progress(std::string what) : what_(std::move(what)) {
    if (!isatty(STDERR_FILENO)) return;
    thread_ = std::thread([this] {
      const char* frames = "|/-\\";
      auto start = std::chrono::steady_clock::now();
      for (int i = 0; !done_.load(); ++i) {
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::fprintf(stderr, "\r%c %s %.1fs", frames[i % 4], what_.c_str(), s);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      std::fprintf(stderr, "\r\033[K");
    });
  }
  ~Progress() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::string what_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

int remote_infer(const Options& o, mrt::ipc::InferRequest request) {
  auto client = connect(o);
  if (!client) return fail(client.status());
  request.set_model_id(o.model);
  {
    // Load first, so a slow load shows progress instead of a silent wait.
    auto status = (*client)->model_status(o.model);
    if (status && !status->loaded()) {
      Progress p("loading " + o.model);
      auto loaded = (*client)->load(o.model);
      if (!loaded) return fail(loaded.status());
    }
  }
  auto response = (*client)->infer(request, [](const std::string& chunk) {
    std::fwrite(chunk.data(), 1, chunk.size(), stdout);
    std::fflush(stdout);
  });
  if (!response) return fail(response.status());
  std::vector<mrt::Tensor> tensors;
  const auto& list = response->has_tensors() ? response->tensors() : response->outputs();
  for (const auto& t : list.tensors()) {
    auto tensor = mrt::vnode::tensor_from_proto(t, {});
    if (!tensor) return fail(tensor.status());
    tensors.push_back(std::move(*tensor));
  }
  if (auto s = write_outputs(o.output_dir, tensors); !s.is_ok()) return fail(s);
  for (const auto& c : response->classification().classes())
    std::printf("batch %d: class %d %s %.6f\n", c.batch_index(), c.class_index(), c.label().c_str(), c.score());
  if (response->has_text()) {
    if (!request.options().stream()) std::printf("%s", response->text().text().c_str());
    std::printf("\n");
  }
  if (o.bench > 0) {
    auto ms = time_runs(o.bench, [&] { return (*client)->infer(request).status(); });
    if (!ms) return fail(ms.status());
    print_bench(o.model, "service", o.threads, *ms);
  }
  return 0;
}

int cmd_run(const Options& o) {
  auto tensors = read_inputs(o.inputs);
  if (!tensors) return fail(tensors.status());
  if (!o.use_socket) {
    mrt::InferRequest req;
    req.tensors = std::move(*tensors);
    req.top_k = o.top_k;
    return local_infer(o, std::move(req));
  }
  mrt::ipc::InferRequest req;
  for (const auto& t : *tensors) mrt::vnode::tensor_to_proto(t, req.mutable_tensors()->add_tensors());
  req.mutable_options()->set_timeout_ms(o.timeout_ms);
  req.mutable_options()->set_top_k(o.top_k);
  return remote_infer(o, std::move(req));
}

int cmd_classify(const Options& o) {
  int rc = 0;
  for (const auto& image : o.images) {
    auto bytes = read_file(image);
    if (!bytes) return fail(bytes.status());
    std::printf("%s:\n", image.c_str());
    if (!o.use_socket) {
      mrt::InferRequest req;
      req.kind = MRT_PAYLOAD_IMAGE;
      req.image = std::move(*bytes);
      req.top_k = o.top_k;
      rc |= local_infer(o, std::move(req));
    } else {
      mrt::ipc::InferRequest req;
      req.set_image(*bytes);
      req.mutable_options()->set_top_k(o.top_k);
      req.mutable_options()->set_timeout_ms(o.timeout_ms);
      rc |= remote_infer(o, std::move(req));
    }
  }
  return rc;
}

int cmd_generate(const Options& o) {
  if (!o.use_socket) {
    mrt::InferRequest req;
    req.kind = MRT_PAYLOAD_TEXT;
    req.text = o.prompt;
    req.generation.max_tokens = o.max_tokens;
    req.generation.temperature = o.temperature;
    req.generation.top_p = o.top_p;
    req.generation.top_k = o.gen_top_k;
    if (o.seed >= 0) req.generation.seed = static_cast<uint64_t>(o.seed);
    req.generation.stop = o.stop;
    return local_infer(o, std::move(req));
  }
  mrt::ipc::InferRequest req;
  auto* text = req.mutable_text();
  text->set_prompt(o.prompt);
  text->mutable_params()->set_max_tokens(o.max_tokens);
  text->mutable_params()->set_temperature(o.temperature);
  text->mutable_params()->set_top_p(o.top_p);
  text->mutable_params()->set_top_k(o.gen_top_k);
  if (o.seed >= 0) text->mutable_params()->set_seed(static_cast<uint64_t>(o.seed));
  for (const auto& s : o.stop) text->mutable_params()->add_stop(s);
  req.mutable_options()->set_stream(true);
  req.mutable_options()->set_timeout_ms(o.timeout_ms);
  return remote_infer(o, std::move(req));
}

// The generation parameters of generate and chat.
void set_params(const Options& o, mrt::ipc::GenerationParams* p) {
  p->set_max_tokens(o.max_tokens);
  p->set_temperature(o.temperature);
  p->set_top_p(o.top_p);
  p->set_top_k(o.gen_top_k);
  if (o.seed >= 0) p->set_seed(static_cast<uint64_t>(o.seed));
  for (const auto& s : o.stop) p->add_stop(s);
}

int cmd_chat(const Options& o) {
  bool interactive = isatty(STDIN_FILENO) != 0;
  if (o.use_socket) {
    auto client = connect(o);
    if (!client) return fail(client.status());
    auto turn = [&](const std::vector<mrt::ChatMessage>& conversation, const std::function<void(std::string_view)>& on_chunk)
        -> Result<std::string> {
      mrt::ipc::InferRequest req;
      req.set_model_id(o.model);
      auto* chat = req.mutable_chat();
      for (const auto& m : conversation) {
        auto* msg = chat->add_messages();
        msg->set_role(m.role);
        msg->set_content(m.content);
      }
      set_params(o, chat->mutable_params());
      req.mutable_options()->set_stream(true);
      req.mutable_options()->set_timeout_ms(o.timeout_ms);
      auto response = (*client)->infer(req, [&](const std::string& chunk) { on_chunk(chunk); });
      if (!response) return response.status();
      return response->text().text();
    };
    return mrt::cli::chat_loop(turn, o.system_prompt, std::cin, stdout, interactive);
  }
  auto rt = make_runtime(o);
  if (!rt) return fail(rt.status());
  std::string model_id = model_id_for(o.model);
  if (auto s = (*rt)->add_model_path(model_id, o.model); !s.is_ok()) return fail(s);
  {
    Progress p("loading " + model_id);
    if (auto loaded = (*rt)->load(model_id); !loaded) return fail(loaded.status());
  }
  auto turn = [&](const std::vector<mrt::ChatMessage>& conversation, const std::function<void(std::string_view)>& on_chunk)
      -> Result<std::string> {
    mrt::InferRequest req;
    req.model_id = model_id;
    req.kind = MRT_PAYLOAD_TEXT;
    req.chat = conversation;
    mrt::ipc::GenerationParams params;
    set_params(o, &params);
    req.generation = mrt::vnode::generation_from_proto(params);
    req.on_text = [&](std::string_view chunk) {
      on_chunk(chunk);
      return Status::ok();
    };
    auto result = (*rt)->infer(req);
    if (!result) return result.status();
    return result->text ? result->text->text : std::string();
  };
  return mrt::cli::chat_loop(turn, o.system_prompt, std::cin, stdout, interactive);
}

int cmd_plugins(const Options& o) {
  auto rt = make_runtime(o);
  if (!rt) return fail(rt.status());
  const auto& reg = (*rt)->plugins();
  std::printf("%-16s %-10s %-6s %-24s %-10s %s\n", "NAME", "VERSION", "ABI", "FORMATS", "DEVICES", "PATH");
  for (const auto& p : reg.plugins()) {
    const auto& i = p->info();
    std::string formats, devices;
    for (const auto& f : i.formats) formats += (formats.empty() ? "" : ",") + f;
    for (auto d : i.device_kinds)
      devices += (devices.empty() ? "" : ",") + std::string(mrt::device_name(d)) + "(" + std::to_string(p->device_count(d)) + ")";
    std::string abi = std::to_string(i.abi_major) + "." + std::to_string(i.abi_minor);
    std::printf("%-16s %-10s %-6s %-24s %-10s %s\n", i.name.c_str(), i.version.c_str(), abi.c_str(), formats.c_str(),
                devices.c_str(), p->path().c_str());
  }
  for (const auto& r : reg.refused()) std::printf("refused %s: %s\n", r.path.c_str(), r.reason.c_str());
  return 0;
}

int cmd_service(const Options& o, const std::string& what) {
  auto client = connect(o);
  if (!client) return fail(client.status());
  auto& c = **client;
  if (what == "models") {
    auto list = c.list_models();
    if (!list) return fail(list.status());
    std::printf("%-24s %-7s %-7s %-10s %-6s %s\n", "MODEL", "SCOPE", "LOADED", "PLUGIN", "DEVICE", "BYTES");
    for (const auto& m : list->models())
      std::printf("%-24s %-7s %-7s %-10s %-6s %llu\n", m.model_id().c_str(), m.scope().c_str(), m.loaded() ? "yes" : "no",
                  m.plugin().c_str(), m.device().c_str(), static_cast<unsigned long long>(m.host_bytes() + m.device_bytes()));
    return 0;
  }
  if (what == "load") {
    Progress p("loading " + o.model);
    auto s = c.load(o.model);
    if (!s) return fail(s.status());
    std::printf("loaded %s with %s on %s (%llu bytes)\n", s->model_id().c_str(), s->plugin().c_str(), s->device().c_str(),
                static_cast<unsigned long long>(s->host_bytes() + s->device_bytes()));
    return 0;
  }
  if (what == "enable-plugin") {
    if (auto s = c.enable_plugin(o.model); !s.is_ok()) return fail(s);
    std::printf("enabled plugin %s\n", o.model.c_str());
    return 0;
  }
  if (what == "unload") {
    if (auto s = c.unload(o.model); !s.is_ok()) return fail(s);
    std::printf("unloaded %s\n", o.model.c_str());
    return 0;
  }
  if (what == "push") return mrt::cli::push_model(c, o.model, o.push_as);
  if (what == "rm") return mrt::cli::remove_model(c, o.model);
  if (what == "info") return mrt::cli::describe_model(c, o.model);
  if (what == "metrics") {
    auto m = c.metrics();
    if (!m) return fail(m.status());
    std::printf("%s", m->c_str());
    return 0;
  }
  auto h = c.health();
  if (!h) return fail(h.status());
  std::printf("serving=%s version=%s aid=%s\n", h->serving() ? "yes" : "no", h->version().c_str(), h->aid().c_str());
  return h->serving() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mrt: run models with model-runtime, in-process or through the service"};
  app.set_version_flag("--version", std::string("mrt ") + MRT_PROJECT_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand
  Options o;
  app.add_option("--plugin-dir", o.plugin_dirs, "extra directory of plugins (*.so)");
  app.add_option("--plugin-file", o.plugin_files, "extra plugin shared object");
  app.add_flag("-v,--verbose", o.verbose, "log registry, router and load lines");
  auto* socket = app.add_option("--socket", o.socket, "talk to the service (default socket of svc://model-runtime if no PATH)")
                     ->expected(0, 1);
  app.add_option("--timeout-ms", o.timeout_ms, "deadline for service requests (0 = none)");

  auto* run = app.add_subcommand("run", "run one inference and write the outputs as .npy");
  run->add_option("model", o.model, "model directory or file (model_id with --socket)")->required();
  run->add_option("-i,--input", o.inputs, "input .npy, or NAME=file.npy; repeatable")->required();
  run->add_option("-o,--output", o.output_dir, "directory for <output-name>.npy");
  run->add_option("--plugin", o.plugin, "force a backend by name (in-process)");
  run->add_option("--threads", o.threads, "intra-op threads (in-process)")->check(CLI::Range(1, 1024));
  run->add_option("--bench", o.bench, "then time N more runs and print median, p90 and the fastest")->check(CLI::Range(0, 1000000));
  run->add_flag("--bench-paced", o.bench_paced,
                "with --bench: after the warm-up print bench-ready, then per line on stdin (a count k, empty for 1) make k "
                "timed runs and print each run_ms (for scripts that alternate blocks of runs with a peer's)");
  run->add_option("--top-k", o.top_k, "classes to report for classification models");

  auto* classify = app.add_subcommand("classify", "classify images");
  classify->add_option("model", o.model, "model directory (model_id with --socket)")->required();
  classify->add_option("images", o.images, "image files")->required();
  classify->add_option("--top-k", o.top_k, "classes to report");
  classify->add_option("--plugin", o.plugin, "force a backend by name (in-process)");

  auto* generate = app.add_subcommand("generate", "generate text, streamed to the terminal");
  generate->add_option("model", o.model, "model directory (model_id with --socket)")->required();
  generate->add_option("--prompt", o.prompt, "the prompt")->required();
  generate->add_option("--max-tokens", o.max_tokens, "tokens to generate")->check(CLI::Range(1, 1 << 20));
  generate->add_option("--temperature", o.temperature, "0 = greedy");
  generate->add_option("--top-p", o.top_p, "nucleus sampling");
  generate->add_option("--top-k", o.gen_top_k, "top-k sampling");
  generate->add_option("--seed", o.seed, "sampling seed");
  generate->add_option("--stop", o.stop, "stop string; repeatable");
  generate->add_option("--plugin", o.plugin, "force a backend by name (in-process)");
  generate->add_option("--threads", o.threads, "intra-op threads (in-process)")->check(CLI::Range(1, 1024));
  generate->add_option("--bench", o.bench, "then generate N more times and print prefill and decode tokens/s")
      ->check(CLI::Range(0, 10000));

  auto* chat = app.add_subcommand("chat", "chat with a model in the terminal (its chat template), replies streamed");
  chat->add_option("model", o.model, "model directory (model_id with --socket)")->required();
  chat->add_option("--system", o.system_prompt, "a system message that opens the conversation");
  chat->add_option("--max-tokens", o.max_tokens, "most tokens per reply")->check(CLI::Range(1, 1 << 20));
  chat->add_option("--temperature", o.temperature, "0 = greedy");
  chat->add_option("--top-p", o.top_p, "nucleus sampling");
  chat->add_option("--top-k", o.gen_top_k, "top-k sampling");
  chat->add_option("--seed", o.seed, "sampling seed");
  chat->add_option("--stop", o.stop, "stop string; repeatable");
  chat->add_option("--plugin", o.plugin, "force a backend by name (in-process)");
  chat->add_option("--threads", o.threads, "intra-op threads (in-process)")->check(CLI::Range(1, 1024));

  auto* plugins = app.add_subcommand("plugins", "list loaded and refused plugins (in-process)");
  auto* models = app.add_subcommand("models", "list the service's models");
  auto* load = app.add_subcommand("load", "load a model in the service");
  load->add_option("model_id", o.model)->required();
  auto* unload = app.add_subcommand("unload", "unload a model from the service");
  unload->add_option("model_id", o.model)->required();
  auto* enable_plugin = app.add_subcommand("enable-plugin", "admins: serve again with a plugin disabled after repeated crashes");
  enable_plugin->add_option("plugin", o.model, "plugin name")->required();
  auto* push = app.add_subcommand("push", "upload a model directory into your own models (/home/<AID>/models)");
  push->add_option("dir", o.model, "model directory")->required();
  push->add_option("--as", o.push_as, "model_id to store it as (default: the directory's name)");
  auto* rm = app.add_subcommand("rm", "remove one of your own models");
  rm->add_option("model_id", o.model)->required();
  auto* info = app.add_subcommand("info", "a model's plugin, device, inputs, outputs and bytes");
  info->add_option("model_id", o.model)->required();
  auto* metrics = app.add_subcommand("metrics", "print the service's metrics (Prometheus text)");
  auto* health = app.add_subcommand("health", "ask whether the service is serving");

  CLI11_PARSE(app, argc, argv);
  o.use_socket = socket->count() > 0;
  if (*run) return cmd_run(o);
  if (*classify) return cmd_classify(o);
  if (*generate) return cmd_generate(o);
  if (*chat) return cmd_chat(o);
  if (*plugins) return cmd_plugins(o);
  if (*models) return cmd_service(o, "models");
  if (*load) return cmd_service(o, "load");
  if (*unload) return cmd_service(o, "unload");
  if (*enable_plugin) return cmd_service(o, "enable-plugin");
  if (*push) return cmd_service(o, "push");
  if (*rm) return cmd_service(o, "rm");
  if (*info) return cmd_service(o, "info");
  if (*metrics) return cmd_service(o, "metrics");
  if (*health) return cmd_service(o, "health");
  return 2;
}
