// Runs the ONNX backend node test cases (exported from the `onnx` Python
// package by scripts/export-onnx-node-tests.py) through the oneDNN backend's
// planner and executor, and prints the pass rate per operator.
//
//   mrt-onnx-node-tests DIR [--expected-failures FILE] [--filter TEXT] [-v]
//
// DIR/index.tsv lists the cases (name, op, opset, ..., rtol, atol); each case
// is DIR/<name>/model.onnx plus test_data_set_0/{input,output}_N.pb.
// Exit status 0 when every case passes except those listed, with a reason,
// in the expected-failures file, and every listed case does fail (a stale
// entry is an error too, so the list stays true). A listed case must fail
// with an error (the front end refusing what it does not claim), never with
// a wrong output. Without --filter, every operator the front end accepts
// must appear in some case, so an operator cannot be accepted untested.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "mrt/onnx/onnx_loader.h"
#include "mrt/onnx/ops.h"
#include "plan.h"

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

// Empty on pass, else the reason.
std::string run_case(const dnnl::engine& engine, const fs::path& dir, const Case& c) {
  try {
    auto bytes = read_file(dir / "model.onnx");
    auto side = [&](const std::string& rel) { return read_file(dir / rel); };
    mrt::onnx::Graph g = mrt::onnx::load_onnx(bytes.data(), bytes.size(), side);
    fs::path data = dir / "test_data_set_0";
    auto inputs = read_tensors(data, "input");
    auto expected = read_tensors(data, "output");
    // Inputs feed the graph's runtime inputs in order; a case may pass a
    // value for an initializer too (then the initializer wins, as in ORT).
    if (inputs.size() > g.inputs.size()) inputs.resize(g.inputs.size());
    auto outputs = mrt::onednn::run_graph(engine, g, inputs);
    if (outputs.size() < expected.size()) return "produced " + std::to_string(outputs.size()) + " outputs";
    for (size_t i = 0; i < expected.size(); ++i) {
      std::string why = compare(outputs[i], expected[i], c.rtol, c.atol);
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
    std::fprintf(stderr, "usage: %s DIR [--expected-failures FILE] [--filter TEXT] [-v]\n", argv[0]);
    return 2;
  }
  fs::path dir = argv[1];
  std::string expected_file, filter;
  bool verbose = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--expected-failures" && i + 1 < argc) expected_file = argv[++i];
    else if (a == "--filter" && i + 1 < argc) filter = argv[++i];
    else if (a == "-v") verbose = true;
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  try {
    auto cases = read_index(dir);
    auto expected = read_expected(expected_file);
    dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    std::map<std::string, std::pair<int, int>> per_op;  // passed, total
    int passed = 0, total = 0, listed_run = 0, unexpected = 0, stale = 0, wrong_listed = 0, untested = 0;
    for (const auto& c : cases) {
      if (!filter.empty() && c.name.find(filter) == std::string::npos) continue;
      std::string why = run_case(engine, dir / c.name, c);
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
      } else if (listed) {
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
