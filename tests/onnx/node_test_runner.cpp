// Runs the ONNX backend node test cases (exported from the `onnx` Python
// package by scripts/export-onnx-node-tests.py) through any ONNX plugin,
// over the plugin ABI as the service drives it (load the plugin, model_load,
// execute), and prints the pass rate per operator. Like ggml's
// test-backend-ops, one runner covers every backend: the oneDNN plugin on
// every machine, the cuDNN plugin where a GPU is.
//
//   mrt-onnx-node-tests DIR --plugin PLUGIN.so [--expected-failures FILE]
//                       [--refusals-allowed] [--filter TEXT] [-v]
//
// DIR/index.tsv lists the cases (name, op, opset, ..., rtol, atol); each case
// is DIR/<name>/model.onnx plus test_data_set_0/{input,output}_N.pb.
// Exit status 0 when every case passes except those listed, with a reason,
// in the expected-failures file, and every listed case does fail (a stale
// entry is an error too, so the list stays true). A listed case must fail
// with an error (the plugin refusing what it does not claim), never with
// a wrong output. With --refusals-allowed (a backend without a curated
// list) any case may fail with an error, but none may compute a wrong
// result. Without --filter, every operator the front end accepts must
// appear in some case, so an operator cannot be accepted untested.
// Exit 77 (skipped) when the plugin has no device on this machine.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "mrt/core/call_control.h"
#include "mrt/core/host_api.h"
#include "mrt/core/loaded_model.h"
#include "mrt/core/model_repository.h"
#include "mrt/core/pipeline.h"
#include "mrt/core/plugin_registry.h"
#include "mrt/core/router.h"
#include "mrt/onnx/onnx_loader.h"
#include "mrt/onnx/ops.h"
#include "onnx/onnx_pb.h"

namespace fs = std::filesystem;
using mrt::onnx::DType;
using mrt::onnx::HostTensor;

namespace {

struct Case {
  std::string name, op;
  std::vector<std::string> graph_ops;  // every op type in the case's graph
  double rtol = 1e-3, atol = 1e-7;
};

// The reasons run_case gives when the plan ran and its outputs were wrong.
bool is_wrong_result(const std::string& why) { return why.rfind("output ", 0) == 0 || why.rfind("produced ", 0) == 0; }

std::vector<char> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw mrt::onnx::OnnxError("cannot read " + p.string());
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

std::vector<HostTensor> read_tensors(const fs::path& dir, const std::string& prefix) {
  std::vector<HostTensor> out;
  for (int i = 0;; ++i) {
    fs::path p = dir / (prefix + "_" + std::to_string(i) + ".pb");
    if (!fs::exists(p)) break;
    auto bytes = read_file(p);
    out.push_back(mrt::onnx::load_tensor_proto(bytes.data(), bytes.size()));
  }
  return out;
}

// Empty when equal within tolerance, else what differs.
std::string compare(const HostTensor& got, const HostTensor& want, double rtol, double atol) {
  if (got.dtype() != want.dtype()) return "dtype " + mrt::onnx::dtype_name(got.dtype()) + ", expected " + mrt::onnx::dtype_name(want.dtype());
  if (got.numel() != want.numel() || (got.dims() != want.dims() && !(got.numel() == 1 && want.numel() == 1)))
    return "shape " + mrt::onnx::dims_string(got.dims()) + ", expected " + mrt::onnx::dims_string(want.dims());
  bool is_float = want.dtype() == DType::kFloat || want.dtype() == DType::kDouble;
  // float16 results (Cast) must be the correctly rounded bits.
  if (!is_float) return std::memcmp(got.raw(), want.raw(), want.bytes()) == 0 ? "" : "values differ";
  auto g = got.to_double(), w = want.to_double();
  for (size_t i = 0; i < w.size(); ++i) {
    if (std::isnan(w[i]) && std::isnan(g[i])) continue;
    if (std::isinf(w[i]) && g[i] == w[i]) continue;
    if (!(std::abs(g[i] - w[i]) <= atol + rtol * std::abs(w[i]))) {
      std::ostringstream m;
      m << "element " << i << " is " << g[i] << ", expected " << w[i];
      return m.str();
    }
  }
  return "";
}

// The plugin's output as a host tensor for compare() (the ABI's dtype codes
// are ONNX's).
HostTensor to_host(const mrt::Tensor& t) {
  HostTensor h(static_cast<DType>(t.dtype()), mrt::onnx::Dims(t.dims().begin(), t.dims().end()));
  if (h.bytes() != t.byte_size()) {
    throw mrt::onnx::OnnxError("output '" + t.name() + "' has " + std::to_string(t.byte_size()) + " bytes for dims " +
                               mrt::onnx::dims_string(h.dims()));
  }
  if (t.byte_size() != 0) std::memcpy(h.raw(), t.data(), t.byte_size());
  return h;
}

// The node tests pass shape-setting operands (Reshape's shape, Pad's pads,
// Resize's scales...) as graph inputs, where exported models have them as
// constants, and the plugins plan for constants only. Such a case is run
// as a deployed model would be: the small inputs (16 elements or fewer)
// become initializers of a copy of the model in `scratch`, and only the
// rest are fed. Returns the copy's path; `fed` gets the inputs left.
fs::path bind_small_inputs(const fs::path& dir, const fs::path& scratch, std::vector<HostTensor>& fed) {
  auto bytes = read_file(dir / "model.onnx");
  onnx::ModelProto model;
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    throw mrt::onnx::OnnxError("cannot parse " + (dir / "model.onnx").string());
  onnx::GraphProto* g = model.mutable_graph();
  std::set<std::string> initialized;
  for (const auto& init : g->initializer()) initialized.insert(init.name());
  std::vector<HostTensor> rest;
  google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> kept;
  size_t fed_index = 0;
  for (const auto& in : g->input()) {
    if (initialized.count(in.name())) {
      *kept.Add() = in;
      continue;
    }
    if (fed_index >= fed.size()) throw mrt::onnx::OnnxError("input '" + in.name() + "' has no test data");
    const HostTensor& value = fed[fed_index];
    fs::path pb = dir / "test_data_set_0" / ("input_" + std::to_string(fed_index) + ".pb");
    ++fed_index;
    if (value.numel() > 16) {
      *kept.Add() = in;
      rest.push_back(value);
      continue;
    }
    auto tensor_bytes = read_file(pb);
    onnx::TensorProto* init = g->add_initializer();
    if (!init->ParseFromArray(tensor_bytes.data(), static_cast<int>(tensor_bytes.size())))
      throw mrt::onnx::OnnxError("cannot parse " + pb.string());
    init->set_name(in.name());
  }
  g->mutable_input()->Swap(&kept);
  fs::create_directories(scratch);
  fs::path out = scratch / "model.onnx";
  std::ofstream os(out, std::ios::binary | std::ios::trunc);
  if (!model.SerializeToOstream(&os)) throw mrt::onnx::OnnxError("cannot write " + out.string());
  fed = std::move(rest);
  return out;
}

// Empty on pass, else the reason.
std::string run_case(const std::shared_ptr<mrt::Plugin>& plugin, MRT_DeviceKind device, const fs::path& dir,
                     const fs::path& scratch, const Case& c) {
  try {
    mrt::RouteDecision route;
    route.plugin = plugin;
    route.device = device;
    auto load = [&](const fs::path& file) -> std::shared_ptr<mrt::LoadedModel> {
      auto location = mrt::locate_model_at(file, c.name);
      if (!location) throw mrt::onnx::OnnxError(location.status().message());
      auto model = mrt::LoadedModel::load(*location, route, 1);
      if (!model)
        throw mrt::onnx::OnnxError(model.status().message().empty() ? "load failed" : model.status().message());
      return *model;
    };
    fs::path data = dir / "test_data_set_0";
    auto inputs = read_tensors(data, "input");
    auto expected = read_tensors(data, "output");
    std::shared_ptr<mrt::LoadedModel> model;
    try {
      model = load(dir / "model.onnx");
    } catch (const mrt::onnx::OnnxError& e) {
      if (std::string(e.what()).find("must be a constant") == std::string::npos) throw;
      model = load(bind_small_inputs(dir, scratch / c.name, inputs));
    }
    // Inputs feed the model's runtime inputs in order; a case may pass a
    // value for an initializer too (then the initializer wins, as in ORT).
    const auto& specs = model->inputs();
    if (inputs.size() > specs.size()) inputs.resize(specs.size());
    std::vector<MRT_Tensor> views;
    for (size_t i = 0; i < inputs.size(); ++i) {
      MRT_Tensor v{};
      v.struct_size = MRT_TENSOR_STRUCT_SIZE;
      v.name = specs[i].name.c_str();
      v.dtype = static_cast<int32_t>(inputs[i].dtype());
      v.rank = static_cast<int32_t>(inputs[i].dims().size());
      v.dims = inputs[i].dims().data();
      v.data = inputs[i].raw();
      v.byte_size = inputs[i].bytes();
      v.device_kind = MRT_DEVICE_CPU;
      views.push_back(v);
    }
    MRT_Request request{};
    request.struct_size = MRT_REQUEST_STRUCT_SIZE;
    request.kind = MRT_PAYLOAD_TENSORS;
    request.tensors = views.data();
    request.num_tensors = views.size();
    mrt::CallControl control;
    MRT_CallContext call{&control, nullptr};
    MRT_Results results;
    MRT_StageArgs args = mrt::make_stage_args(request, views, call, results);
    mrt::Status ran = model->run_stage(mrt::Stage::kExecute, args);
    if (!ran.is_ok()) return ran.message().empty() ? "execute failed" : ran.message();
    if (results.tensors.size() < expected.size())
      return "produced " + std::to_string(results.tensors.size()) + " outputs";
    for (size_t i = 0; i < expected.size(); ++i) {
      std::string why = compare(to_host(results.tensors[i]), expected[i], c.rtol, c.atol);
      if (!why.empty()) return "output " + std::to_string(i) + ": " + why;
    }
    return "";
  } catch (const std::exception& e) {
    std::string m = e.what();
    return m.empty() ? "error" : m;
  }
}

std::vector<Case> read_index(const fs::path& dir) {
  std::ifstream in(dir / "index.tsv");
  if (!in) throw std::runtime_error("no index.tsv in " + dir.string());
  std::vector<Case> out;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, '\t')) f.push_back(cell);
    if (f.size() < 2) continue;
    Case c{f[0], f[1], {}};
    if (f.size() >= 4) {
      std::stringstream ops(f[3]);
      for (std::string op; std::getline(ops, op, ',');) c.graph_ops.push_back(op);
    }
    if (f.size() >= 10) {
      c.rtol = std::stod(f[8]);
      c.atol = std::stod(f[9]);
    }
    out.push_back(c);
  }
  return out;
}

// "case_name  reason..." per line; '#' comments.
std::map<std::string, std::string> read_expected(const std::string& path) {
  std::map<std::string, std::string> out;
  if (path.empty()) return out;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.find_first_of(" \t");
    std::string name = line.substr(0, sp);
    std::string reason = sp == std::string::npos ? "" : line.substr(line.find_first_not_of(" \t", sp));
    out[name] = reason;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s DIR --plugin PLUGIN.so [--expected-failures FILE] [--refusals-allowed] [--filter TEXT] "
                 "[-v]\n",
                 argv[0]);
    return 2;
  }
  fs::path dir = argv[1];
  std::string expected_file, filter, plugin_path;
  bool verbose = false, refusals_allowed = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--expected-failures" && i + 1 < argc) expected_file = argv[++i];
    else if (a == "--plugin" && i + 1 < argc)
      plugin_path = argv[++i];
    else if (a == "--refusals-allowed")
      refusals_allowed = true;
    else if (a == "--filter" && i + 1 < argc) filter = argv[++i];
    else if (a == "-v") verbose = true;
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (plugin_path.empty()) {
    std::fprintf(stderr, "--plugin PLUGIN.so is required\n");
    return 2;
  }
  try {
    auto cases = read_index(dir);
    auto expected = read_expected(expected_file);
    mrt::PluginRegistry registry;
    mrt::Status loaded = registry.load_file(plugin_path);
    if (!loaded.is_ok() || registry.plugins().empty()) {
      std::string why = !loaded.is_ok()              ? loaded.message()
                        : registry.refused().empty() ? std::string("not loaded")
                                                     : registry.refused().back().reason;
      std::fprintf(stderr, "error: cannot load %s: %s\n", plugin_path.c_str(), why.c_str());
      return 2;
    }
    std::shared_ptr<mrt::Plugin> plugin = registry.plugins().front();
    // The first kind the plugin has a device of; none: skipped (a GPU
    // backend on a machine without a GPU).
    MRT_DeviceKind device = MRT_DEVICE_CPU;
    bool any_device = false;
    for (auto k : plugin->info().device_kinds) {
      if (!any_device && plugin->device_count(k) > 0) {
        device = k;
        any_device = true;
      }
    }
    if (!any_device) {
      std::printf("SKIPPED: %s has no device on this machine (a GPU backend needs a GPU)\n", plugin_path.c_str());
      return 77;
    }
    // Copies of models whose small inputs became constants; removed at exit.
    fs::path scratch = fs::temp_directory_path() / ("mrt-node-tests-" + std::to_string(::getpid()));
    struct RemoveAtExit {
      fs::path p;
      ~RemoveAtExit() {
        std::error_code ec;
        fs::remove_all(p, ec);
      }
    } cleanup{scratch};
    std::map<std::string, std::pair<int, int>> per_op;  // passed, total
    int passed = 0, total = 0, listed_run = 0, unexpected = 0, stale = 0, wrong_listed = 0, untested = 0;
    for (const auto& c : cases) {
      if (!filter.empty() && c.name.find(filter) == std::string::npos) continue;
      std::string why = run_case(plugin, device, dir / c.name, scratch, c);
      ++total;
      auto& op = per_op[c.op];
      ++op.second;
      bool listed = expected.count(c.name) != 0;
      listed_run += listed;
      if (why.empty()) {
        ++passed;
        ++op.first;
        if (listed) {
          ++stale;
          std::printf("STALE  %s passes but is listed as an expected failure\n", c.name.c_str());
        } else if (verbose) {
          std::printf("ok     %s\n", c.name.c_str());
        }
      } else if (listed && is_wrong_result(why)) {
        ++wrong_listed;
        std::printf("WRONG  %s: %s (listed as not claimed, but the plan ran and computed a wrong result: refuse it at load instead)\n",
                    c.name.c_str(), why.c_str());
      } else if (refusals_allowed && is_wrong_result(why)) {
        ++unexpected;
        std::printf("WRONG  %s: %s (the plugin ran the case and computed a wrong result: refuse it at load instead)\n",
                    c.name.c_str(), why.c_str());
      } else if (listed || (refusals_allowed && !is_wrong_result(why))) {
        if (verbose) std::printf("xfail  %s: %s (listed: %s)\n", c.name.c_str(), why.c_str(), expected[c.name].c_str());
      } else {
        ++unexpected;
        std::printf("FAIL   %s: %s\n", c.name.c_str(), why.c_str());
      }
    }
    if (filter.empty()) {
      std::set<std::string> covered;
      for (const auto& c : cases) covered.insert(c.graph_ops.begin(), c.graph_ops.end());
      for (const std::string& op : mrt::onnx::supported_ops())
        if (!covered.count(op)) {
          ++untested;
          std::printf("UNTESTED  operator %s is accepted by the front end but is in no case: add it to DEFAULT_OPS in "
                      "scripts/export-onnx-node-tests.py and export again\n",
                      op.c_str());
        }
    }
    std::printf("\n%-22s %7s\n", "operator", "passed");
    for (const auto& [op, pt] : per_op) std::printf("%-22s %3d/%-3d\n", op.c_str(), pt.first, pt.second);
    int claimed = total - listed_run, claimed_passed = passed - stale;
    std::printf("\nclaimed cases (not listed as expected failures): %d/%d passed\n", claimed_passed, claimed);
    std::printf(
        "node tests: %d/%d passed (%.1f%%); %d expected failures listed; %d unexpected failures; %d stale entries; "
        "%d listed cases with wrong results; %d accepted operators untested\n",
        passed, total, total ? 100.0 * passed / total : 0.0, static_cast<int>(expected.size()), unexpected, stale, wrong_listed, untested);
    return unexpected == 0 && stale == 0 && wrong_listed == 0 && untested == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
