// mrt-conformance: checks a plugin against the ABI contract.
//
//   mrt-conformance <plugin.so> [--model <dir> ...] [--iterations N] [--only PREFIX]
//   mrt-conformance --version      (the project version and the host's plugin ABI)
//
// Prints one line per check (PASS/FAIL/SKIP, name, detail) and a summary
// line "N passed, N failed, N skipped"; exits 1 when any check failed, and
// 77 (skipped) when none failed but the plugin has no device here to run
// the model checks on.
// A model directory may hold reference/inputs/*.npy, reference/outputs/*.npy
// and reference/tolerance.yml (atol, rtol) to check outputs against.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>

#include "checks.h"
#include "mrt/core/log.h"

namespace fs = std::filesystem;
using namespace mrt;
using namespace mrt::conformance;

int main(int argc, char** argv) {
  // Hidden entry for crash-isolated loads (see checks_plugin.cpp).
  if (argc == 6 && std::string(argv[1]) == "--child-load") return child_load(argv[2], argv[3], argv[4], argv[5]);

  CLI::App app{"mrt-conformance: check a model-runtime plugin against the ABI contract"};
  app.set_version_flag("--version", std::string("mrt-conformance ") + MRT_PROJECT_VERSION + " (plugin ABI " +
                                        std::to_string(MRT_ABI_VERSION_MAJOR) + "." +
                                        std::to_string(MRT_ABI_VERSION_MINOR) + ")");
  std::string plugin_path;
  std::vector<std::string> model_dirs;
  std::string only;
  bool verbose = false;
  Context ctx;
  app.add_option("plugin", plugin_path, "plugin shared object")->required()->check(CLI::ExistingFile);
  app.add_option("--model", model_dirs, "model directory to load (repeatable)")->check(CLI::ExistingPath);
  app.add_option("--iterations", ctx.iterations, "load/unload cycles for the memory check")->check(CLI::Range(1, 100000));
  app.add_option("--only", only, "run only checks whose name starts with this");
  app.add_flag("-v,--verbose", verbose, "show host log lines");
  CLI11_PARSE(app, argc, argv);
  set_log_level(verbose ? LogLevel::kInfo : LogLevel::kError);

  ctx.plugin_path = fs::canonical(plugin_path);
  ctx.self_exe = fs::read_symlink("/proc/self/exe");
  std::printf("mrt-conformance: %s (host ABI %d.%d)\n", ctx.plugin_path.c_str(), MRT_ABI_VERSION_MAJOR, MRT_ABI_VERSION_MINOR);

  int passed = 0, failed = 0, skipped = 0;
  auto report = [&](const std::string& name, const CheckResult& r) {
    const char* tag = r.outcome == Outcome::kPass ? "PASS" : r.outcome == Outcome::kFail ? "FAIL" : "SKIP";
    (r.outcome == Outcome::kPass ? passed : r.outcome == Outcome::kFail ? failed : skipped)++;
    std::printf("%s  %-48s %s\n", tag, name.c_str(), r.detail.c_str());
    std::fflush(stdout);
  };
  auto run = [&](Check& c, const std::string& label) {
    if (!only.empty() && c.name.rfind(only, 0) != 0) return;
    CheckResult r = fail("threw");
    try {
      r = c.run(ctx);
    } catch (const std::exception& e) {
      r = fail(std::string("check threw: ") + e.what());
    }
    report(label, r);
  };

  for (auto& c : handshake_checks()) run(c, c.name);

  bool no_device = false;
  PluginRegistry registry;
  Status loaded = registry.load_file(ctx.plugin_path);
  if (!loaded.is_ok() || registry.plugins().empty()) {
    report("registry/accepts-plugin", fail(loaded.is_ok() ? "not loaded" : loaded.message()));
  } else {
    report("registry/accepts-plugin", pass());
    ctx.plugin = registry.plugins().front();
    for (auto& c : plugin_checks()) run(c, c.name);
    // A plugin for devices this machine lacks (a GPU backend on a CPU-only
    // host) passes what it can and skips the rest: exit 77, "skipped".
    bool any_device = false;
    for (auto k : ctx.plugin->info().device_kinds) any_device = any_device || ctx.plugin->device_count(k) > 0;
    if (!any_device && !model_dirs.empty()) {
      report("model/*", skip("the plugin reports no usable device here: model checks need one"));
      no_device = true;
      model_dirs.clear();
    }
    for (const auto& dir : model_dirs) {
      std::string id = fs::path(dir).lexically_normal().filename().string();
      if (id.empty()) id = "model";
      auto loc = locate_model_at(dir, id);
      if (!loc) {
        report("model/" + id, fail(loc.status().to_string()));
        continue;
      }
      ctx.models.push_back(*loc);
      for (auto& c : model_checks(ctx.models.size() - 1)) run(c, c.name + " [" + id + "]");
    }
    if (model_dirs.empty() && !no_device) report("model/*", skip("no --model given: model checks not run"));
  }
  std::printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  if (failed == 0 && no_device) return 77;
  return failed == 0 ? 0 : 1;
}
