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
// Every command takes --json (one JSON object on stdout, json_output.h) and
// exits with a status by error class (exit_codes.h, printed by --help).
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "bench.h"
#include "chat_command.h"
#include "client.h"
#include "exit_codes.h"
#include "json_output.h"
#include "load_progress.h"
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
using mrt::cli::Json;
using mrt::cli::print_json;
using mrt::cli::bench_json;
using mrt::cli::time_runs;

namespace {

struct Options {
  std::vector<std::string> plugin_dirs, plugin_files;
  int threads = 1;
  bool verbose = false;
  bool json = false;
  bool use_socket = false;
  std::string socket;
  // run
  std::string model;
  std::vector<std::string> inputs;
  std::string output_dir, plugin;
  int bench = 0;
  std::vector<std::string> model_options;  // --option KEY=VALUE (in-process)
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

// Set once in main(): every failure is reported the same way.
bool g_json = false;

int fail(const Status& s) { return mrt::cli::report_error(s, g_json); }

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

// What one inference answered, in-process or through the service, in one
// shape for printing.
struct TextSummary {
  std::string text, finish_reason;
  int prompt_tokens = 0, generated_tokens = 0;
};
struct Answer {
  std::string plugin;       // in-process only: the service does not say
  double latency_ms = -1;   // the service's, when it reads clocks
  std::vector<mrt::Tensor> tensors;
  std::vector<mrt::Classification> classes;
  std::optional<TextSummary> text;
  Json bench;               // null unless --bench
};

// One line per class: the label and the score; the class index only when
// there is no label. "batch N:" only when the answer holds several batches.
void print_classes(const std::vector<mrt::Classification>& classes, const std::string& indent) {
  bool batched = std::any_of(classes.begin(), classes.end(), [](const auto& c) { return c.batch_index != 0; });
  for (const auto& c : classes) {
    std::string batch = batched ? "batch " + std::to_string(c.batch_index) + ": " : "";
    std::string name = c.label.empty() ? "class " + std::to_string(c.class_index) : c.label;
    std::printf("%s%s%s %.6f\n", indent.c_str(), batch.c_str(), name.c_str(), c.score);
  }
}

// Writes each output as <dir>/<name>.npy (no dir: writes nothing) and
// describes them: {name, dtype, dims[, file]}.
Result<Json> write_outputs(const std::string& dir, const std::vector<mrt::Tensor>& tensors) {
  Json out = Json::array();
  if (!dir.empty()) {
    std::error_code ec;
    fs::create_directories(dir, ec);
  }
  for (const auto& t : tensors) {
    Json j = mrt::cli::tensor_json(t);
    if (!dir.empty()) {
      fs::path file = fs::path(dir) / (model_id_for(t.name().empty() ? "output" : t.name()) + ".npy");
      MRT_RETURN_IF_ERROR(mrt::write_npy(file, t));
      j["file"] = file.string();
      if (!g_json)
        std::printf("wrote %s %s %s\n", file.c_str(), std::string(mrt::dtype_name(t.dtype())).c_str(),
                    mrt::dims_to_string(t.dims()).c_str());
    }
    out.push_back(std::move(j));
  }
  return out;
}

// The answer as text (streamed text was printed as it came) or as the
// --json object; `extra` fields lead the object.
int report_answer(const Options& o, const Answer& a, Json extra = Json::object()) {
  auto outputs = write_outputs(o.output_dir, a.tensors);
  if (!outputs) return fail(outputs.status());
  if (!o.json) {
    print_classes(a.classes, "");
    if (a.text) {
      std::printf("\n");
      std::fflush(stdout);
      std::fprintf(stderr, "finish_reason=%s prompt_tokens=%d generated_tokens=%d\n", a.text->finish_reason.c_str(),
                   a.text->prompt_tokens, a.text->generated_tokens);
    }
    if (!a.bench.is_null()) mrt::cli::print_bench_line(a.bench);
    return 0;
  }
  Json j = std::move(extra);
  if (!a.plugin.empty()) j["plugin"] = a.plugin;
  if (a.latency_ms >= 0) j["latency_ms"] = a.latency_ms;
  if (!a.tensors.empty()) j["outputs"] = *outputs;
  if (!a.classes.empty()) j["classes"] = mrt::cli::classes_json(a.classes);
  if (a.text) {
    j["text"] = a.text->text;
    j["finish_reason"] = a.text->finish_reason;
    j["prompt_tokens"] = a.text->prompt_tokens;
    j["generated_tokens"] = a.text->generated_tokens;
  }
  if (!a.bench.is_null()) j["bench"] = a.bench;
  print_json(j);
  return 0;
}

// Streamed text goes to the terminal as it comes; with --json it waits for
// the object at the end.
void print_chunk(std::string_view chunk) {
  if (g_json) return;
  std::fwrite(chunk.data(), 1, chunk.size(), stdout);
  std::fflush(stdout);
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

// --option KEY=VALUE, each a manifest option for the model run in-process.
Result<std::map<std::string, std::string>> model_option_overrides(const Options& o) {
  std::map<std::string, std::string> out;
  for (const auto& kv : o.model_options) {
    size_t eq = kv.find('=');
    if (eq == 0 || eq == std::string::npos) return mrt::invalid_argument("--option '" + kv + "' is not KEY=VALUE");
    out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

Result<Answer> local_infer(const Options& o, mrt::InferRequest request) {
  auto rt = make_runtime(o);
  if (!rt) return rt.status();
  request.model_id = model_id_for(o.model);
  // A one-shot generate has no later prompt to share a prefix with: the
  // raw plugin's prompt cache would only hold the finished sequence's KV
  // entries (with --bench, each run's beside the next one's).
  std::map<std::string, std::string> defaults;
  if (request.kind == MRT_PAYLOAD_TEXT) defaults["prompt_cache_mb"] = "0";
  auto overrides = model_option_overrides(o);
  if (!overrides) return overrides.status();
  MRT_RETURN_IF_ERROR((*rt)->add_model_path(request.model_id, o.model, std::move(defaults), std::move(*overrides)));
  auto load_start = std::chrono::steady_clock::now();
  mrt::cli::LoadProgress progress(request.model_id, !o.json);
  auto loaded = (*rt)->load(request.model_id);
  progress.finish(loaded.has_value());
  if (!loaded) return loaded.status();
  double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - load_start).count();
  // Unnamed inputs are bound to the model's inputs in order.
  for (size_t i = 0; i < request.tensors.size() && i < loaded->inputs.size(); ++i)
    if (request.tensors[i].name().empty()) request.tensors[i].set_name(loaded->inputs[i].name);
  if (request.kind == MRT_PAYLOAD_TEXT) request.on_text = [](std::string_view chunk) {
    print_chunk(chunk);
    return Status::ok();
  };
  auto result = (*rt)->infer(request);
  if (!result) return result.status();
  Answer a;
  a.plugin = result->plugin;
  a.tensors = std::move(result->tensors);
  a.classes = std::move(result->classes);
  if (result->text)
    a.text = TextSummary{result->text->text, mrt::vnode::finish_reason_name(result->text->finish_reason),
                         result->text->prompt_tokens, result->text->generated_tokens};
  if (o.bench > 0 && request.kind == MRT_PAYLOAD_TEXT) {
    auto b = mrt::cli::bench_generation(**rt, request, o.bench);
    if (!b) return b.status();
    a.bench = std::move(*b);
  } else if (o.bench > 0) {
    request.on_text = nullptr;
    auto ms = time_runs(o.bench, [&] { return (*rt)->infer(request).status(); }, o.bench_paced);
    if (!ms) return ms.status();
    // A warm process's load (libraries set up, oneDNN's kernel cache
    // filled), as a service sees when it reloads an evicted model.
    MRT_RETURN_IF_ERROR((*rt)->unload(request.model_id));
    auto reload_start = std::chrono::steady_clock::now();
    if (auto again = (*rt)->load(request.model_id); !again) return again.status();
    double reload_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - reload_start).count();
    a.bench = bench_json(request.model_id, "in-process", result->plugin, o.threads, *ms, load_ms, reload_ms);
  }
  return a;
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

Result<Answer> remote_infer(const Options& o, mrt::ipc::InferRequest request, const std::vector<int>& fds = {}) {
  auto client = connect(o);
  if (!client) return client.status();
  request.set_model_id(o.model);
  {
    // Load first, so that a slow load shows progress instead of a silent wait.
    auto status = (*client)->model_status(o.model);
    if (status && !status->loaded()) {
      mrt::cli::LoadProgress progress(o.model, !o.json);
      auto loaded = (*client)->load(o.model);
      progress.finish(loaded.has_value());
      if (!loaded) return loaded.status();
    }
  }
  auto response = (*client)->infer(
      request, [](const std::string& chunk) { print_chunk(chunk); }, fds);
  if (!response) return response.status();
  Answer a;
  if (response->latency_ms() > 0) a.latency_ms = response->latency_ms();
  const auto& list = response->has_tensors() ? response->tensors() : response->outputs();
  for (const auto& t : list.tensors()) {
    auto tensor = mrt::vnode::tensor_from_proto(t, {});
    if (!tensor) return tensor.status();
    a.tensors.push_back(std::move(*tensor));
  }
  for (const auto& c : response->classification().classes())
    a.classes.push_back({c.batch_index(), c.class_index(), c.score(), c.label()});
  if (response->has_text()) {
    const auto& t = response->text();
    // Streamed text was printed as it came; the final frame repeats it whole.
    if (!request.options().stream()) print_chunk(t.text());
    a.text = TextSummary{t.text(), t.finish_reason(), t.prompt_tokens(), t.generated_tokens()};
  }
  if (o.bench > 0) {
    auto ms = time_runs(o.bench, [&] { return (*client)->infer(request, {}, fds).status(); });
    if (!ms) return ms.status();
    a.bench = bench_json(o.model, "service", "", o.threads, *ms);
  }
  return a;
}

int cmd_run(const Options& o) {
  auto tensors = read_inputs(o.inputs);
  if (!tensors) return fail(tensors.status());
  Result<Answer> a = mrt::internal_error("unset");
  if (!o.use_socket) {
    mrt::InferRequest req;
    req.tensors = std::move(*tensors);
    req.top_k = o.top_k;
    a = local_infer(o, std::move(req));
  } else {
    mrt::ipc::InferRequest req;
    // Over 1 MiB the inputs travel in a memfd, as the service's answers do.
    std::vector<int> fds;
    if (auto s = mrt::vnode::tensors_to_request(*tensors, req, 1 << 20, fds); !s.is_ok()) {
      for (int fd : fds) ::close(fd);
      return fail(s);
    }
    req.mutable_options()->set_timeout_ms(o.timeout_ms);
    req.mutable_options()->set_top_k(o.top_k);
    a = remote_infer(o, std::move(req), fds);
    for (int fd : fds) ::close(fd);
  }
  if (!a) return fail(a.status());
  return report_answer(o, *a, {{"model", o.model}});
}

// Each image in turn; a failure does not stop the others, and the exit
// status is the first failure's.
int cmd_classify(const Options& o) {
  int rc = 0;
  Json images = Json::array();
  for (const auto& image : o.images) {
    Result<Answer> a = mrt::internal_error("unset");
    if (auto bytes = read_file(image); !bytes) {
      a = bytes.status();
    } else if (!o.use_socket) {
      mrt::InferRequest req;
      req.kind = MRT_PAYLOAD_IMAGE;
      req.image = std::move(*bytes);
      req.top_k = o.top_k;
      a = local_infer(o, std::move(req));
    } else {
      mrt::ipc::InferRequest req;
      req.set_image(*bytes);
      req.mutable_options()->set_top_k(o.top_k);
      req.mutable_options()->set_timeout_ms(o.timeout_ms);
      a = remote_infer(o, std::move(req));
    }
    int status = a ? 0 : mrt::cli::exit_code_for(a.status().code());
    if (rc == 0) rc = status;
    if (o.json) {
      images.push_back(a ? Json{{"image", image}, {"classes", mrt::cli::classes_json(a->classes)}}
                         : Json{{"image", image}, {"error", mrt::cli::error_json(a.status(), status)["error"]}});
      if (!a) std::fprintf(stderr, "mrt: error: %s: %s\n", image.c_str(), a.status().to_string().c_str());
      continue;
    }
    std::printf("%s:\n", image.c_str());
    if (!a) std::fprintf(stderr, "mrt: error: %s\n", a.status().to_string().c_str());
    else print_classes(a->classes, "  ");
  }
  if (o.json) print_json({{"model", o.model}, {"images", images}});
  return rc;
}

// The generation parameters of generate and chat, as the protocol carries them.
mrt::ipc::GenerationParams generation_params(const Options& o) {
  mrt::ipc::GenerationParams p;
  p.set_max_tokens(o.max_tokens);
  p.set_temperature(o.temperature);
  p.set_top_p(o.top_p);
  p.set_top_k(o.gen_top_k);
  if (o.seed >= 0) p.set_seed(static_cast<uint64_t>(o.seed));
  for (const auto& s : o.stop) p.add_stop(s);
  return p;
}

int cmd_generate(const Options& o) {
  Result<Answer> a = mrt::internal_error("unset");
  if (!o.use_socket) {
    mrt::InferRequest req;
    req.kind = MRT_PAYLOAD_TEXT;
    req.text = o.prompt;
    req.generation = mrt::vnode::generation_from_proto(generation_params(o));
    a = local_infer(o, std::move(req));
  } else {
    mrt::ipc::InferRequest req;
    auto* text = req.mutable_text();
    text->set_prompt(o.prompt);
    *text->mutable_params() = generation_params(o);
    req.mutable_options()->set_stream(!o.json);
    req.mutable_options()->set_timeout_ms(o.timeout_ms);
    a = remote_infer(o, std::move(req));
  }
  if (!a) {
    if (!o.json) std::printf("\n");  // end the streamed part's line
    return fail(a.status());
  }
  return report_answer(o, *a, {{"model", o.model}});
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
      *chat->mutable_params() = generation_params(o);
      req.mutable_options()->set_stream(true);
      req.mutable_options()->set_timeout_ms(o.timeout_ms);
      auto response = (*client)->infer(req, [&](const std::string& chunk) { on_chunk(chunk); });
      if (!response) return response.status();
      return response->text().text();
    };
    return mrt::cli::exit_code_for(mrt::cli::chat_loop(turn, o.system_prompt, std::cin, stdout, interactive).code());
  }
  auto rt = make_runtime(o);
  if (!rt) return fail(rt.status());
  std::string model_id = model_id_for(o.model);
  auto overrides = model_option_overrides(o);
  if (!overrides) return fail(overrides.status());
  if (auto s = (*rt)->add_model_path(model_id, o.model, {}, std::move(*overrides)); !s.is_ok()) return fail(s);
  {
    mrt::cli::LoadProgress progress(model_id, !o.json);
    if (auto loaded = (*rt)->load(model_id); !loaded) return fail(loaded.status());
  }
  auto turn = [&](const std::vector<mrt::ChatMessage>& conversation, const std::function<void(std::string_view)>& on_chunk)
      -> Result<std::string> {
    mrt::InferRequest req;
    req.model_id = model_id;
    req.kind = MRT_PAYLOAD_TEXT;
    req.chat = conversation;
    req.generation = mrt::vnode::generation_from_proto(generation_params(o));
    req.on_text = [&](std::string_view chunk) {
      on_chunk(chunk);
      return Status::ok();
    };
    auto result = (*rt)->infer(req);
    if (!result) return result.status();
    return result->text ? result->text->text : std::string();
  };
  return mrt::cli::exit_code_for(mrt::cli::chat_loop(turn, o.system_prompt, std::cin, stdout, interactive).code());
}

int cmd_plugins(const Options& o) {
  auto rt = make_runtime(o);
  if (!rt) return fail(rt.status());
  const auto& reg = (*rt)->plugins();
  Json plugins = Json::array(), refused = Json::array();
  if (!o.json) std::printf("%-16s %-10s %-6s %-24s %-10s %s\n", "NAME", "VERSION", "ABI", "FORMATS", "DEVICES", "PATH");
  for (const auto& p : reg.plugins()) {
    const auto& i = p->info();
    std::string formats, devices;
    Json device_list = Json::array();
    for (const auto& f : i.formats) formats += (formats.empty() ? "" : ",") + f;
    for (auto d : i.device_kinds) {
      devices += (devices.empty() ? "" : ",") + std::string(mrt::device_name(d)) + "(" + std::to_string(p->device_count(d)) + ")";
      device_list.push_back({{"kind", std::string(mrt::device_name(d))}, {"count", p->device_count(d)}});
    }
    std::string abi = std::to_string(i.abi_major) + "." + std::to_string(i.abi_minor);
    plugins.push_back({{"name", i.name}, {"version", i.version}, {"abi", abi}, {"formats", i.formats},
                       {"devices", device_list}, {"path", p->path().string()}});
    if (!o.json)
      std::printf("%-16s %-10s %-6s %-24s %-10s %s\n", i.name.c_str(), i.version.c_str(), abi.c_str(), formats.c_str(),
                  devices.c_str(), p->path().c_str());
  }
  for (const auto& r : reg.refused()) {
    refused.push_back({{"path", r.path.string()}, {"reason", r.reason}});
    if (!o.json) std::printf("refused %s: %s\n", r.path.c_str(), r.reason.c_str());
  }
  if (o.json) print_json({{"plugins", plugins}, {"refused", refused}});
  return 0;
}

int cmd_service(const Options& o, const std::string& what) {
  auto client = connect(o);
  if (!client) return fail(client.status());
  auto& c = **client;
  if (what == "models") {
    auto list = c.list_models();
    if (!list) return fail(list.status());
    if (o.json) {
      Json models = Json::array();
      for (const auto& m : list->models()) models.push_back(mrt::cli::model_status_json(m));
      print_json({{"models", models}});
      return 0;
    }
    std::printf("%-24s %-7s %-7s %-10s %-6s %s\n", "MODEL", "SCOPE", "LOADED", "PLUGIN", "DEVICE", "BYTES");
    for (const auto& m : list->models())
      std::printf("%-24s %-7s %-7s %-10s %-6s %llu\n", m.model_id().c_str(), m.scope().c_str(), m.loaded() ? "yes" : "no",
                  m.plugin().c_str(), m.device().c_str(), static_cast<unsigned long long>(m.host_bytes() + m.device_bytes()));
    return 0;
  }
  if (what == "load") {
    mrt::cli::LoadProgress progress(o.model, !o.json);
    auto s = c.load(o.model);
    progress.finish(s.has_value());
    if (!s) return fail(s.status());
    if (o.json) print_json(mrt::cli::model_status_json(*s));
    else
      std::printf("loaded %s with %s on %s (%llu bytes)\n", s->model_id().c_str(), s->plugin().c_str(), s->device().c_str(),
                  static_cast<unsigned long long>(s->host_bytes() + s->device_bytes()));
    return 0;
  }
  if (what == "enable-plugin") {
    if (auto s = c.enable_plugin(o.model); !s.is_ok()) return fail(s);
    if (o.json) print_json({{"enabled_plugin", o.model}});
    else std::printf("enabled plugin %s\n", o.model.c_str());
    return 0;
  }
  if (what == "unload") {
    if (auto s = c.unload(o.model); !s.is_ok()) return fail(s);
    if (o.json) print_json({{"unloaded", o.model}});
    else std::printf("unloaded %s\n", o.model.c_str());
    return 0;
  }
  if (what == "push") return mrt::cli::push_model(c, o.model, o.push_as, o.json);
  if (what == "rm") return mrt::cli::remove_model(c, o.model, o.json);
  if (what == "info") return mrt::cli::describe_model(c, o.model, o.json);
  if (what == "metrics") {
    auto m = c.metrics();
    if (!m) return fail(m.status());
    if (o.json) print_json(mrt::cli::prometheus_json(*m));
    else std::printf("%s", m->c_str());
    return 0;
  }
  auto h = c.health();
  if (!h) return fail(h.status());
  if (o.json) print_json({{"serving", h->serving()}, {"version", h->version()}, {"aid", h->aid()}});
  else std::printf("serving=%s version=%s aid=%s\n", h->serving() ? "yes" : "no", h->version().c_str(), h->aid().c_str());
  return h->serving() ? mrt::cli::kExitOk : mrt::cli::kExitUnavailable;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mrt: run models with model-runtime, in-process or through the service"};
  app.set_version_flag("--version", std::string("mrt ") + MRT_PROJECT_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand
  app.footer(mrt::cli::kExitCodesHelp);
  Options o;
  app.add_flag("--json", o.json, "print one JSON object on stdout (errors too); no streaming, no progress line");
  app.add_option("--plugin-dir", o.plugin_dirs, "extra directory of plugins (*.so)");
  app.add_option("--plugin-file", o.plugin_files, "extra plugin shared object");
  app.add_flag("-v,--verbose", o.verbose, "log registry, router and load lines");
  auto* socket = app.add_option("--socket", o.socket, "talk to the service (default socket of svc://model-runtime if no PATH)")
                     ->expected(0, 1);
  app.add_option("--timeout-ms", o.timeout_ms, "deadline for service requests (0 = none)");
  app.add_option("--option", o.model_options,
                 "KEY=VALUE: a model manifest option for an in-process run, over model.yml's (repeatable; e.g. "
                 "kv_cache=f32, context=4096 for the raw plugin)");

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

  auto* generate = app.add_subcommand(
      "generate", "generate text, streamed to stdout, then finish_reason and token counts on stderr");
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

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" that exit 0; a bad command line is
    // an invalid argument like any other.
    int rc = app.exit(e);
    return rc == 0 ? mrt::cli::kExitOk : mrt::cli::kExitInvalidArgument;
  }
  g_json = o.json;
  o.use_socket = socket->count() > 0;
  if (!o.model_options.empty() && (o.use_socket || !(*run || *classify || *generate || *chat)))
    return fail(
        mrt::invalid_argument("--option sets a model option for an in-process run (run, classify, generate, "
                              "chat); the service reads the model's own model.yml"));
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
  return mrt::cli::kExitInvalidArgument;
}
