// Hostile ONNX models the way the daemon meets them: staged as model
// directories in a repository and asked for an inference through the
// in-process Runtime, the model cache (the service's 256 MiB budget) and
// the real oneDNN plugin's model_load/execute glue. The mutants come from
// the same mutator as fuzz_onnx_models (onnx_mutator.h). Every request
// must be answered, by outputs or by an error status with a message; and
// a good model served beside them keeps answering exactly as before, so
// the runtime loses nothing to its neighbours.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <set>

#include "mrt/core/runtime.h"
#include "onnx_mutator.h"
#include "reference_outputs.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace mrt {
namespace {

using namespace onnx_fuzz;

// A request tensor for graph input `v`: the seed's own values when it has
// them in raw_data, else zeros of the declared type (unknown dims as 1).
Tensor request_tensor(const ::onnx::ValueInfoProto& v, const std::string* seed_tensor) {
  ::onnx::TensorProto t;
  if (seed_tensor && t.ParseFromString(*seed_tensor) && t.has_raw_data()) {
    Dims dims(t.dims().begin(), t.dims().end());
    auto z = Tensor::zeros(v.name(), static_cast<MRT_DType>(t.data_type()), dims);
    if (z && z->byte_size() == t.raw_data().size()) {
      if (z->byte_size()) std::memcpy(z->data(), t.raw_data().data(), z->byte_size());
      return std::move(*z);
    }
  }
  Dims dims;
  for (const auto& d : v.type().tensor_type().shape().dim()) dims.push_back(d.has_dim_value() && d.dim_value() > 0 ? std::min<int64_t>(d.dim_value(), 64) : 1);
  auto z = Tensor::zeros(v.name(), static_cast<MRT_DType>(v.type().tensor_type().elem_type()), dims);
  if (!z) z = Tensor::zeros(v.name(), MRT_DTYPE_FLOAT32, {1});
  return std::move(*z);
}

TEST(Fuzz, HostileOnnxModelsThroughTheRuntime) {
  const std::vector<Seed> corpus = seeds();
  ASSERT_GT(corpus.size(), 800u) << "the onnx-node fixtures are missing";
  test::TempDir root;
  fs::copy(test::models_dir() / "onnx-residual-view", root.path() / "good", fs::copy_options::recursive);
  RuntimeConfig c;
  c.plugin_files = {MRT_ONEDNN_PLUGIN};
  ASSERT_TRUE(c.vfs.add_mount({"/models", root.path(), true}).is_ok());
  c.num_threads = 2;
  c.cache_budget_bytes = uint64_t{256} << 20;  // vnode.yml's required_mem_mb
  auto created = Runtime::create(std::move(c));
  ASSERT_TRUE(created);
  Runtime& rt = **created;

  InferRequest good;
  good.model_id = "good";
  good.tensors = test::read_dir(test::models_dir() / "onnx-residual-view" / "reference" / "inputs");
  auto baseline = rt.infer(good);
  ASSERT_TRUE(baseline) << baseline.status().to_string();

  const int mutants = mutant_count(150);
  Mutator mut(fuzz_seed());
  int answered = 0, refused = 0;
  for (int iter = 0; iter < mutants; ++iter) {
    Mutant mutant = next_mutant(corpus, mut);
    const Seed& seed = *mutant.seed;
    const ::onnx::ModelProto& m = mutant.model;
    const std::string& what = mutant.what;
    SCOPED_TRACE("mutant " + std::to_string(iter) + " of " + seed.name + ": " + what);
    const std::string id = "m" + std::to_string(iter);
    fs::create_directories(root.path() / id);
    std::ofstream(root.path() / id / "model.onnx", std::ios::binary) << m.SerializeAsString();
    std::ofstream(root.path() / id / "model.yml") << "format: onnx\ntask: tensor\nfiles: [model.onnx]\ndevice: cpu\n";

    InferRequest req;
    req.model_id = id;
    std::set<std::string> initializers;
    for (const auto& t : m.graph().initializer()) initializers.insert(t.name());
    size_t k = 0;
    for (const auto& v : m.graph().input()) {
      if (initializers.count(v.name())) continue;
      req.tensors.push_back(request_tensor(v, k < seed.inputs.size() ? &seed.inputs[k] : nullptr));
      ++k;
    }
    auto r = rt.infer(req);
    if (r) {
      ++answered;
    } else {
      ++refused;
      EXPECT_FALSE(r.status().message().empty()) << "an error must say what is wrong";
      // A hostile model or request is the caller's problem, never the runtime's.
      EXPECT_NE(r.status().code(), MRT_CODE_INTERNAL) << r.status().to_string();
      if (std::getenv("MRT_FUZZ_VERBOSE")) std::fprintf(stderr, "%s: %s\n", what.c_str(), r.status().to_string().c_str());
    }
    if (iter % 25 == 24) {  // the neighbour still gets exactly its answer
      auto again = rt.infer(good);
      ASSERT_TRUE(again) << again.status().to_string();
      ASSERT_EQ(again->tensors.size(), baseline->tensors.size());
      for (size_t o = 0; o < again->tensors.size(); ++o) {
        ASSERT_EQ(again->tensors[o].byte_size(), baseline->tensors[o].byte_size());
        EXPECT_EQ(std::memcmp(again->tensors[o].data(), baseline->tensors[o].data(), again->tensors[o].byte_size()), 0);
      }
    }
  }
  std::printf("%d mutants through the runtime: %d answered, %d refused with an error\n", mutants, answered, refused);
  EXPECT_GT(answered, mutants / 20);
  EXPECT_GT(refused, mutants / 4);
}

}  // namespace
}  // namespace mrt
