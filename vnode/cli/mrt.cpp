// mrt: the model-runtime command line (in-process for now).
//
//   mrt run <model-dir|model-file> --input x.npy [--input NAME=y.npy ...]
//           --output DIR [--plugin NAME] [--threads N] [--bench N]
//   mrt plugins
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "mrt/core/log.h"
#include "mrt/core/npy.h"
#include "mrt/core/runtime.h"
#include "plugin_search.h"

namespace fs = std::filesystem;

namespace {

struct CommonOptions {
  std::vector<std::string> plugin_dirs;
  std::vector<std::string> plugin_files;
  int threads = 1;
  bool verbose = false;
};

mrt::Result<std::unique_ptr<mrt::Runtime>> make_runtime(const CommonOptions& o, const std::string& forced_plugin) {
  if (!o.verbose) mrt::set_log_level(mrt::LogLevel::kWarning);
  mrt::RuntimeConfig config;
  config.plugin_files = mrt::builtin_plugin_files();
  for (const auto& f : o.plugin_files) config.plugin_files.emplace_back(f);
  config.plugin_dirs = mrt::default_plugin_dirs();
  for (const auto& d : o.plugin_dirs) config.plugin_dirs.emplace_back(d);
  config.num_threads = std::max(1, o.threads);
  config.routing.forced_plugin = forced_plugin;
  config.model_search_paths.clear();
  return mrt::Runtime::create(std::move(config));
}

int fail(const mrt::Status& s) {
  std::fprintf(stderr, "mrt: error: %s\n", s.to_string().c_str());
  return 1;
}

std::string model_id_for(const fs::path& path) {
  std::string id = fs::path(path).lexically_normal().filename().string();
  if (id.empty()) id = fs::path(path).lexically_normal().parent_path().filename().string();
  for (char& c : id) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  return id.empty() || id == "." || id == ".." ? "model" : id;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

int cmd_run(const CommonOptions& common, const std::string& model_path, const std::vector<std::string>& inputs,
            const std::string& output_dir, const std::string& plugin, int bench) {
  auto rt = make_runtime(common, plugin);
  if (!rt) return fail(rt.status());
  std::string id = model_id_for(model_path);
  if (auto s = (*rt)->add_model_path(id, model_path); !s.is_ok()) return fail(s);

  mrt::InferRequest request;
  request.model_id = id;
  for (const auto& spec : inputs) {
    std::string name, file = spec;
    auto eq = spec.find('=');
    if (eq != std::string::npos) {
      name = spec.substr(0, eq);
      file = spec.substr(eq + 1);
    }
    auto t = mrt::read_npy(file, name);
    if (!t) return fail(t.status());
    request.tensors.push_back(std::move(*t));
  }
  auto loaded = (*rt)->load(id);
  if (!loaded) return fail(loaded.status());
  // Unnamed inputs are bound to the model's inputs in order.
  for (size_t i = 0; i < request.tensors.size(); ++i)
    if (request.tensors[i].name().empty() && i < loaded->inputs.size()) request.tensors[i].set_name(loaded->inputs[i].name);

  auto result = (*rt)->infer(request);
  if (!result) return fail(result.status());

  if (!output_dir.empty()) {
    std::error_code ec;
    fs::create_directories(output_dir, ec);
    for (const auto& t : result->tensors) {
      std::string name = t.name().empty() ? "output" : t.name();
      fs::path out = fs::path(output_dir) / (model_id_for(name) + ".npy");
      if (auto s = mrt::write_npy(out, t); !s.is_ok()) return fail(s);
      std::printf("wrote %s %s %s\n", out.c_str(), std::string(mrt::dtype_name(t.dtype())).c_str(),
                  mrt::dims_to_string(t.dims()).c_str());
    }
  }
  for (const auto& c : result->classes)
    std::printf("batch %d: class %d %s %.6f\n", c.batch_index, c.class_index, c.label.c_str(), c.score);
  if (result->text) std::printf("%s\n", result->text->text.c_str());

  if (bench > 0) {
    int warmup = std::max(3, bench / 10);
    for (int i = 0; i < warmup; ++i)
      if (auto r = (*rt)->infer(request); !r) return fail(r.status());
    std::vector<double> ms;
    for (int i = 0; i < bench; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      auto r = (*rt)->infer(request);
      auto t1 = std::chrono::steady_clock::now();
      if (!r) return fail(r.status());
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::printf("bench: model=%s plugin=%s threads=%d iterations=%d median_ms=%.4f p90_ms=%.4f\n", id.c_str(),
                result->plugin.c_str(), common.threads, bench, percentile(ms, 0.5), percentile(ms, 0.9));
  }
  return 0;
}

int cmd_plugins(const CommonOptions& common) {
  auto rt = make_runtime(common, "");
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mrt: run models with model-runtime plugins"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand
  CommonOptions common;
  app.add_option("--plugin-dir", common.plugin_dirs, "extra directory of plugins (*.so)");
  app.add_option("--plugin-file", common.plugin_files, "extra plugin shared object");
  app.add_flag("-v,--verbose", common.verbose, "log registry, router and load lines");

  auto* run = app.add_subcommand("run", "run one inference and write the outputs as .npy");
  std::string model_path, output_dir, plugin;
  std::vector<std::string> inputs;
  int bench = 0;
  run->add_option("model", model_path, "model directory (with model.yml) or model file")->required();
  run->add_option("-i,--input", inputs, "input .npy, or NAME=file.npy; repeatable")->required();
  run->add_option("-o,--output", output_dir, "directory for <output-name>.npy");
  run->add_option("--plugin", plugin, "force a backend by name");
  run->add_option("--threads", common.threads, "intra-op threads")->check(CLI::Range(1, 1024));
  run->add_option("--bench", bench, "after the run, time N more runs and print median and p90")->check(CLI::Range(0, 1000000));

  auto* plugins = app.add_subcommand("plugins", "list loaded and refused plugins");

  CLI11_PARSE(app, argc, argv);
  if (*run) return cmd_run(common, model_path, inputs, output_dir, plugin, bench);
  if (*plugins) return cmd_plugins(common);
  return 2;
}
