// Structure-aware fuzzing of hostile ONNX models through the whole CPU path
// (load_onnx, specialize, the oneDNN planner and a run) and the cuDNN
// backend's planner (which needs no GPU). Byte-level mutation
// (fuzz_parsers_test) mostly stops at protobuf's parse; here the model is
// parsed, then its structure is changed the way a broken exporter or an
// attacker would: attribute values, dtypes and dims of initializers and
// graph inputs, truncated or mistyped tensor data, rewired node inputs,
// renamed op types, other opsets, dropped or duplicated nodes. Each case
// starts from one of the onnx node-test models (every operator the front
// end accepts, with its inputs) or a small fixture network.
//
// The assertion: every mutant either runs or is refused with an exception
// derived from std::exception (which the plugin turns into an error status
// naming the problem). A crash, a foreign exception, or, under the
// ASan+UBSan pass of scripts/test, any memory error or undefined behaviour
// fails the test. The seed is fixed, so a failure reproduces; the failing
// case's name and mutations are printed.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gpu_plan.h"
#include "mrt/onnx/graph_passes.h"
#include "mrt/onnx/onnx_loader.h"
#include "mrt/onnx/ops.h"
#include "onnx_mutator.h"
#include "plan.h"

namespace fs = std::filesystem;
using mrt::onnx::DType;
using mrt::onnx::HostTensor;

namespace {

using namespace mrt::onnx_fuzz;

// vnode.yml's cache budget (required_mem_mb): a model whose plan needs more
// is refused by the service's cache after load, before it runs.
constexpr size_t kBudgetBytes = size_t{256} << 20;

// A tensor for graph input `name` of the parsed graph: the seed's own
// (maybe reshaped), or one made from the declared type with small random
// dims and random bytes (NaNs, huge indices and all).
HostTensor input_for(Mutator& mut, const mrt::onnx::Graph& g, const std::string& name, const std::string* seed_tensor) {
  if (seed_tensor && !mut.one_in(8)) return mrt::onnx::load_tensor_proto(seed_tensor->data(), seed_tensor->size());
  auto it = g.types.find(name);
  DType dt = it == g.types.end() ? DType::kFloat : it->second.dtype;
  mrt::onnx::Dims dims = it == g.types.end() ? mrt::onnx::Dims{2} : it->second.dims;
  for (auto& d : dims)
    if (d < 0 || d > 64 || mut.one_in(6)) d = 1 + mut.a_dim();
  if (mrt::onnx::dtype_size(dt) == 0) dt = DType::kFloat;
  HostTensor t(dt, dims);
  auto* p = static_cast<unsigned char*>(t.raw());
  for (size_t i = 0; i < t.bytes(); ++i) p[i] = static_cast<unsigned char>(mut.one_in(3) ? 0 : mut.next());
  return t;
}

TEST(Fuzz, OnnxModelsThroughTheOnednnPlanner) {
  const std::vector<Seed> corpus = seeds();
  ASSERT_GT(corpus.size(), 800u) << "the onnx-node fixtures are missing";
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  const int mutants = mutant_count(3000);
  Mutator mut(fuzz_seed());
  int ran = 0, refused = 0, over_budget = 0, gpu_planned = 0;
  double slowest_s = 0;
  std::string slowest;
  for (int iter = 0; iter < mutants; ++iter) {
    Mutant mutant = next_mutant(corpus, mut);
    const Seed& seed = *mutant.seed;
    const std::string& what = mutant.what;
    std::string bytes;
    mutant.model.SerializeToString(&bytes);
    SCOPED_TRACE("mutant " + std::to_string(iter) + " of " + seed.name + ": " + what);
    if (std::getenv("MRT_FUZZ_VERBOSE")) std::fprintf(stderr, "mutant %d of %s: %s\n", iter, seed.name.c_str(), what.c_str());
    const auto started = std::chrono::steady_clock::now();
    struct Timer {  // the slowest mutant, for the summary: a hostile model may hang a request too
      std::chrono::steady_clock::time_point t0;
      double& worst;
      std::string& worst_what;
      std::string what;
      ~Timer() {
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (s > worst) worst = s, worst_what = what;
      }
    } timer{started, slowest_s, slowest, seed.name + ": " + what};
    try {
      mrt::onnx::Graph g = mrt::onnx::load_onnx(bytes.data(), bytes.size(), [](const std::string& rel) -> std::vector<char> {
        throw mrt::onnx::OnnxError("no side file " + rel);
      });
      // What the plugin does: plan for the request's input dims, report the
      // plan's bytes (the service's cache refuses a model over its budget
      // before any request runs), then bind the inputs and run.
      std::vector<HostTensor> inputs;
      std::map<std::string, mrt::onnx::Dims> dims;
      for (size_t i = 0; i < g.inputs.size(); ++i) {
        inputs.push_back(input_for(mut, g, g.inputs[i], i < seed.inputs.size() ? &seed.inputs[i] : nullptr));
        dims[g.inputs[i]] = inputs.back().dims();
      }
      // The cuDNN backend's planner is CUDA-free and runs at its load too:
      // it must refuse or plan the same mutant (half precision sometimes).
      try {
        const auto precision = mut.one_in(3) ? mrt::cudnn::Precision::kFloat16 : mrt::cudnn::Precision::kFloat32;
        mrt::cudnn::build_gpu_plan(mrt::onnx::plan_fusions(mrt::onnx::specialize(g, dims)), precision);
        ++gpu_planned;
      } catch (const std::exception& e) {
        EXPECT_NE(std::strlen(e.what()), 0u) << "an error must say what is wrong";
      }
      mrt::onednn::Plan plan(engine, mrt::onednn::prepare_graph(mrt::onnx::specialize(g, dims)));
      if (plan.arena_bytes() + plan.constant_bytes() > kBudgetBytes) {
        ++over_budget;
        continue;
      }
      auto ctx = plan.make_context();
      for (size_t i = 0; i < inputs.size(); ++i) {
        const auto& slot = plan.slot(plan.input_slots()[i]);
        // The plugin refuses a request whose dtype is not the model's; the
        // same dtype with another size would be this harness's mistake.
        if (inputs[i].dtype() != slot.dtype) throw std::runtime_error("input '" + g.inputs[i] + "' has the wrong dtype");
        ASSERT_EQ(inputs[i].bytes(), slot.bytes) << "harness: input '" << g.inputs[i] << "' does not match its planned slot";
        if (slot.bytes) std::memcpy(ctx->data(plan.input_slots()[i]), inputs[i].raw(), slot.bytes);
      }
      plan.run(*ctx, nullptr);
      ++ran;
    } catch (const std::exception& e) {
      EXPECT_NE(std::strlen(e.what()), 0u) << "an error must say what is wrong";
      if (std::getenv("MRT_FUZZ_VERBOSE")) std::fprintf(stderr, "  refused: %s\n", e.what());
      ++refused;
    } catch (...) {
      ADD_FAILURE() << "an exception that is not a std::exception escaped";
    }
  }
  std::printf("%d mutants: %d ran, %d refused with an error, %d over the memory budget; %d planned for the GPU; slowest %.2f s (%s)\n",
              mutants, ran, refused, over_budget, gpu_planned, slowest_s, slowest.c_str());
  // The mutations must not all be refused at the door: some must reach the planner and run.
  EXPECT_GT(ran, mutants / 20);
  EXPECT_GT(refused, mutants / 4);
  EXPECT_GT(gpu_planned, mutants / 20);
}

}  // namespace
