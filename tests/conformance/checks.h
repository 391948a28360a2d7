// The check list of mrt-conformance: how one check reports, and the context
// checks share. Each check is a function in one of the checks_*.cpp files.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mrt/core/loaded_model.h"
#include "mrt/core/model_repository.h"
#include "mrt/core/plugin_registry.h"
#include "mrt/core/runtime.h"

namespace mrt::conformance {

enum class Outcome { kPass, kFail, kSkip };

struct CheckResult {
  Outcome outcome;
  std::string detail;  // why it failed or was skipped; a measurement when it passed
};
inline CheckResult pass(std::string d = "") { return {Outcome::kPass, std::move(d)}; }
inline CheckResult fail(std::string d) { return {Outcome::kFail, std::move(d)}; }
inline CheckResult skip(std::string d) { return {Outcome::kSkip, std::move(d)}; }

struct Context {
  std::string sandbox;                   // --sandbox: strict or files; empty = in-process
  std::filesystem::path plugin_worker;   // --plugin-worker
  std::filesystem::path plugin_path;
  std::filesystem::path self_exe;            // for crash-isolated children
  std::shared_ptr<Plugin> plugin;            // loaded with the current host
  std::vector<ModelLocation> models;         // from --model
  int iterations = 200;                      // load/unload cycles
};

struct Check {
  std::string name;
  std::function<CheckResult(Context&)> run;
  bool per_model = false;  // run once per --model (ctx.models non-empty)
  // How many --timeout periods the check may take (checks that load the
  // model many times get more); NULL = 1.
  std::function<double(const Context&)> timeout_scale = nullptr;
};

std::vector<Check> handshake_checks();
std::vector<Check> plugin_checks();
std::vector<Check> model_checks(size_t model_index);

// Loads the model of ctx.models[i] with ctx.plugin on CPU (or the first
// device the plugin has).
Result<std::shared_ptr<LoadedModel>> load_model(const Context& ctx, const ModelLocation& model);
// Inputs for the model: the reference inputs when present, else zeros with
// dynamic dims set to 1.
Result<std::vector<Tensor>> sample_inputs(const LoadedModel& model);
// Runs the plugin's execute directly (no host validation).
Result<std::vector<Tensor>> execute_direct(const LoadedModel& model, const std::vector<MRT_Tensor>& inputs);

// Child-process entry: load `primary` in `dir` as `format`; exit 0 when the
// plugin returns an error status, 3 when it loads.
int child_load(const std::filesystem::path& plugin, const std::filesystem::path& dir, const std::string& primary,
               const std::string& format);

}  // namespace mrt::conformance
