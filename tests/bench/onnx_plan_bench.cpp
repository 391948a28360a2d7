// Times one ONNX model's plan on the oneDNN backend's planner directly (no
// service, no plugin ABI): for scripts/bench-onnx-blocks.py, which runs it
// side by side with onnxruntime.
//   onnx-plan-bench MODEL.onnx [--batch B] [--threads T] [--iters N] [--paced]
// Every graph input has its first dim set to B where the model leaves it
// dynamic; float32 ones are filled with sin(0.37 i), others with zeros. Without --paced: warms up,
// times N runs, prints `median_ms=... min_ms=...`. With --paced: prints
// `ready` after the warm-up, then for each number k read from stdin runs k
// times and prints the k times in ms on one line (the script alternates
// blocks of runs with onnxruntime's).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "batch_split.h"
#include "mrt/onnx/onnx_loader.h"
#include "plan.h"

namespace {

double run_ms(const mrt::onednn::Plan& plan, mrt::onednn::ExecContext& ctx) {
  auto t0 = std::chrono::steady_clock::now();
  plan.run(ctx, nullptr);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: onnx-plan-bench MODEL.onnx [--batch B] [--threads T] [--iters N] [--paced]\n");
    return 2;
  }
  int64_t batch = 1;
  int threads = 2, iters = 20;
  bool paced = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--batch" && i + 1 < argc) batch = std::stoll(argv[++i]);
    else if (a == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
    else if (a == "--iters" && i + 1 < argc) iters = std::stoi(argv[++i]);
    else if (a == "--paced") paced = true;
  }
  omp_set_num_threads(threads);
  std::ifstream in(argv[1], std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  std::string s = bytes.str();
  auto graph = mrt::onnx::load_onnx(s.data(), s.size(), [](const std::string& p) -> std::vector<char> {
    throw mrt::onnx::OnnxError("no side file " + p);
  });
  std::map<std::string, mrt::onnx::Dims> dims;
  for (const auto& name : graph.inputs) {
    mrt::onnx::Dims d = graph.types.at(name).dims;
    if (!d.empty() && d[0] < 0) d[0] = batch;
    for (auto& x : d) x = std::max<int64_t>(x, 1);
    dims[name] = d;
  }
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  auto plan = mrt::onednn::build_plan(eng, graph, dims, mrt::onednn::PlanOptions{});
  auto ctx = plan->make_context();
  for (int slot : plan->input_slots()) {
    const auto& sl = plan->slot(slot);
    if (sl.dtype != mrt::onnx::DType::kFloat) {  // token ids and the like: zeros
      std::memset(ctx->data(slot), 0, sl.bytes);
      continue;
    }
    float* p = static_cast<float*>(ctx->data(slot));
    for (size_t i = 0; i < sl.bytes / sizeof(float); ++i) p[i] = std::sin(0.37f * static_cast<float>(i));
  }
  std::fprintf(stderr, "%zu primitives, %zu host steps, %zu reorders\n", plan->num_primitives(), plan->num_reference_steps(),
               plan->num_reorder_steps());
  for (const auto& slow : plan->slow_steps()) std::fprintf(stderr, "reference step %s\n", slow.describe().c_str());
  for (int i = 0; i < 3; ++i) run_ms(*plan, *ctx);
  if (paced) {
    std::printf("ready\n");
    std::fflush(stdout);
    int k;
    while (std::cin >> k) {
      for (int i = 0; i < k; ++i) std::printf("%s%.4f", i ? " " : "", run_ms(*plan, *ctx));
      std::printf("\n");
      std::fflush(stdout);
    }
    return 0;
  }
  std::vector<double> t;
  for (int i = 0; i < iters; ++i) t.push_back(run_ms(*plan, *ctx));
  std::sort(t.begin(), t.end());
  std::printf("median_ms=%.4f min_ms=%.4f\n", t[t.size() / 2], t[0]);
  return 0;
}
