// The cuDNN backend through the in-process Runtime. On a machine with a
// usable GPU: the fixture models against onnxruntime's outputs at every
// precision, CUDA-graph replays equal to the first run, concurrent calls at
// mixed batch sizes, device memory reported, and bad input refused while
// serving goes on. Without a GPU those skip with a message; what must hold
// everywhere runs everywhere: the plugin loads, reports no device, and the
// router sends a `device: any` model to the CPU backend instead.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "mrt/core/runtime.h"
#include "reference_outputs.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace mrt {
namespace {

using test::expect_close;
using test::models_dir;
using test::read_dir;
using test::read_tolerance;
using test::relative_l2_error;
using test::rows;
using test::stage_model;
using test::Tolerance;

std::unique_ptr<Runtime> make_runtime(const fs::path& root, std::vector<std::string> plugins) {
  RuntimeConfig c;
  c.plugin_files.assign(plugins.begin(), plugins.end());
  EXPECT_TRUE(c.vfs.add_mount({"/models", root, true}).is_ok());
  c.num_threads = 2;
  auto rt = Runtime::create(std::move(c));
  EXPECT_TRUE(rt) << rt.status().to_string();
  return std::move(*rt);
}

int gpu_devices(const Runtime& rt) {
  for (const auto& p : rt.plugins().plugins())
    if (p->name() == "cudnn") return p->device_count(MRT_DEVICE_GPU);
  return -1;
}

#define SKIP_WITHOUT_GPU(rt)                                                                             \
  do {                                                                                                   \
    int n = gpu_devices(rt);                                                                             \
    ASSERT_GE(n, 0) << "the cudnn plugin did not load";                                                  \
    if (n == 0) GTEST_SKIP() << "needs an NVIDIA GPU (sm_80 or newer): the cudnn plugin reports 0 devices"; \
  } while (0)

std::vector<Tensor> copies(const std::vector<Tensor>& ts) {
  std::vector<Tensor> out;
  for (const auto& t : ts) out.push_back(rows(t, 0, t.dims()[0]));
  return out;
}

Result<InferResult> infer(Runtime& rt, const std::string& model, std::vector<Tensor> tensors) {
  InferRequest req;
  req.model_id = model;
  req.tensors = std::move(tensors);
  return rt.infer(req);
}

// Everywhere: the plugin loads with no GPU, and `device: any` falls back.
TEST(CudnnBackend, LoadsEverywhereAndTheRouterPrefersItOnlyWithAGpu) {
  test::TempDir root;
  stage_model(root, "onnx-resnet", "resnet", "any");
  auto rt = make_runtime(root.path(), {MRT_CUDNN_PLUGIN, MRT_ONEDNN_PLUGIN});
  int n = gpu_devices(*rt);
  ASSERT_GE(n, 0) << "the cudnn plugin did not load";
  auto input = std::move(read_dir(root.path() / "resnet" / "reference" / "inputs")[0]);
  std::vector<Tensor> one;
  one.push_back(rows(input, 0, 1));
  auto r = infer(*rt, "resnet", std::move(one));
  ASSERT_TRUE(r) << r.status().to_string();
  EXPECT_EQ(r->plugin, n > 0 ? "cudnn" : "onednn");
  if (n == 0) {
    // Asking for the GPU alone is a clear refusal, not a crash.
    stage_model(root, "onnx-resnet", "resnet-gpu", "gpu");
    std::vector<Tensor> again;
    again.push_back(rows(input, 0, 1));
    auto g = infer(*rt, "resnet-gpu", std::move(again));
    ASSERT_FALSE(g);
    EXPECT_NE(g.status().message().find("no gpu device present"), std::string::npos) << g.status().to_string();
  }
}

struct Case {
  std::string model, precision, layout = "auto";
};

class CudnnModels : public ::testing::TestWithParam<Case> {};

TEST_P(CudnnModels, MatchesOnnxruntimeAtBatch2And1AndReplaysIdentically) {
  const Case& c = GetParam();
  test::TempDir root;
  std::string id = c.model + "-" + c.precision + "-" + c.layout;
  stage_model(root, c.model, id, "gpu", "precision: " + c.precision + ", layout: " + c.layout);
  auto rt = make_runtime(root.path(), {MRT_CUDNN_PLUGIN});
  SKIP_WITHOUT_GPU(*rt);
  fs::path dir = models_dir() / c.model;
  auto inputs = read_dir(dir / "reference" / "inputs");
  auto expected = read_dir(dir / "reference" / "outputs");
  Tolerance tol = read_tolerance(dir);
  // float32 must meet the fixture's tolerance; tf32/fp16/bf16 a relative
  // error typical of their mantissas.
  double max_rel = c.precision == "fp32" ? 0 : c.precision == "tf32" ? 5e-3 : c.precision == "fp16" ? 2e-2 : 5e-2;
  auto check = [&](const Result<InferResult>& r, int64_t begin, int64_t end, const std::string& what) {
    ASSERT_TRUE(r) << r.status().to_string();
    EXPECT_EQ(r->plugin, "cudnn");
    for (const auto& want_all : expected) {
      Tensor want = rows(want_all, begin, end);
      auto it = std::find_if(r->tensors.begin(), r->tensors.end(), [&](const Tensor& t) { return t.name() == want.name(); });
      ASSERT_NE(it, r->tensors.end()) << "no output " << want.name();
      if (max_rel == 0) {
        expect_close(*it, want, tol, want.name() + what);
      } else {
        double e = relative_l2_error(*it, want);
        EXPECT_LE(e, max_rel) << want.name() << what << " at " << c.precision;
        ::testing::Test::RecordProperty(want.name() + what + "_rel_l2", std::to_string(e));
      }
    }
  };
  auto first = infer(*rt, id, copies(inputs));
  check(first, 0, inputs[0].dims()[0], "_b2");
  // Runs 2 and 3 go through the captured CUDA graph: bit-identical to run 1.
  for (int run = 2; run <= 3; ++run) {
    auto again = infer(*rt, id, copies(inputs));
    ASSERT_TRUE(again) << again.status().to_string();
    for (size_t i = 0; i < first->tensors.size(); ++i)
      EXPECT_EQ(0, std::memcmp(again->tensors[i].data(), first->tensors[i].data(), first->tensors[i].byte_size()))
          << "run " << run << " differs from run 1 on " << first->tensors[i].name();
  }
  std::vector<Tensor> one;
  for (const auto& t : inputs) one.push_back(rows(t, 1, 2));
  check(infer(*rt, id, std::move(one)), 1, 2, "_b1");
  auto status = rt->load(id);
  ASSERT_TRUE(status);
  EXPECT_GT(status->device_bytes, 0u) << "device memory must be reported to the cache";
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (const char* m : {"onnx-resnet", "onnx-mobilenetv2", "onnx-bert", "onnx-bert17", "onnx-residual-view", "onnx-fusions"})
    for (const char* p : {"fp32", "tf32", "fp16", "bf16"}) out.push_back({m, p});
  // Exporters' extra operators (PReLU, ELU, Softplus, GlobalMaxPool, Dropout
  // on the GPU's kernels; InstanceNorm, bicubic Resize, Mish... as host steps):
  // float32 only, as the host kernels compute in float.
  out.push_back({"onnx-exporter-ops", "fp32"});
  // Half-precision CNNs default to channels-last; the NCHW path stays tested.
  for (const char* m : {"onnx-resnet", "onnx-mobilenetv2"}) out.push_back({m, "fp16", "nchw"});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CudnnModels, ::testing::ValuesIn(cases()), [](const auto& param_info) {
  std::string n = param_info.param.model + "_" + param_info.param.precision + (param_info.param.layout == "auto" ? "" : "_" + param_info.param.layout);
  for (char& ch : n)
    if (ch == '-') ch = '_';
  return n;
});

TEST(CudnnBackend, ConcurrentCallsAtMixedBatchSizes) {
  test::TempDir root;
  stage_model(root, "onnx-resnet", "resnet", "gpu");
  auto rt = make_runtime(root.path(), {MRT_CUDNN_PLUGIN});
  SKIP_WITHOUT_GPU(*rt);
  fs::path dir = models_dir() / "onnx-resnet";
  auto input = std::move(read_dir(dir / "reference" / "inputs")[0]);
  auto expected = std::move(read_dir(dir / "reference" / "outputs")[0]);
  Tolerance tol = read_tolerance(dir);
  EXPECT_EQ(test::concurrent_mixed_batches(*rt, "resnet", input, expected, tol, 4, 6), 24);
}

TEST(CudnnBackend, BadInputsGetClearErrorsAndServingContinues) {
  test::TempDir root;
  stage_model(root, "onnx-bert", "bert", "gpu");
  fs::create_directories(root.path() / "det");
  fs::copy_file(fs::path(MRT_SOURCE_ROOT) / "tests" / "fixtures" / "onnx-bad" / "unsupported-op.onnx", root.path() / "det" / "model.onnx");
  root.write("det/model.yml", "format: onnx\ntask: tensor\nfiles: [model.onnx]\ndevice: gpu\n");
  stage_model(root, "onnx-resnet", "resnet", "gpu", "precision: fp8");
  auto rt = make_runtime(root.path(), {MRT_CUDNN_PLUGIN});
  SKIP_WITHOUT_GPU(*rt);
  auto inputs = read_dir(models_dir() / "onnx-bert" / "reference" / "inputs");
  auto good = infer(*rt, "bert", copies(inputs));
  ASSERT_TRUE(good) << good.status().to_string();
  // A token id past the vocabulary: found on the device, named, refused.
  std::vector<Tensor> bad = copies(inputs);
  for (auto& t : bad)
    if (t.dtype() == MRT_DTYPE_INT64 && t.name().find("ids") != std::string::npos && t.name().find("type") == std::string::npos)
      t.data_as<int64_t>()[0] = 1 << 30;
  auto r = infer(*rt, "bert", std::move(bad));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), MRT_CODE_INVALID_ARGUMENT);
  EXPECT_NE(r.status().message().find("Gather index is out of range"), std::string::npos) << r.status().to_string();
  auto after = infer(*rt, "bert", copies(inputs));
  ASSERT_TRUE(after) << after.status().to_string();
  EXPECT_EQ(0, std::memcmp(after->tensors[0].data(), good->tensors[0].data(), good->tensors[0].byte_size()));
  // An operator nobody implements is a load error naming it.
  std::vector<Tensor> det_in;
  det_in.push_back(std::move(Tensor::zeros("x", MRT_DTYPE_FLOAT32, {2, 2}).value()));
  auto f = infer(*rt, "det", std::move(det_in));
  ASSERT_FALSE(f);
  EXPECT_NE(f.status().message().find("unsupported operator 'Det'"), std::string::npos) << f.status().to_string();
  // An unknown precision is refused by name.
  std::vector<Tensor> res;
  res.push_back(rows(read_dir(models_dir() / "onnx-resnet" / "reference" / "inputs")[0], 0, 1));
  auto p = infer(*rt, "resnet", std::move(res));
  ASSERT_FALSE(p);
  EXPECT_NE(p.status().message().find("precision 'fp8'"), std::string::npos) << p.status().to_string();
  // A wrong shape names the input.
  std::vector<Tensor> wrong;
  wrong.push_back(std::move(Tensor::zeros(inputs[0].name(), inputs[0].dtype(), {1, 2, 3}).value()));
  auto w = infer(*rt, "bert", std::move(wrong));
  ASSERT_FALSE(w);
  EXPECT_EQ(w.status().code(), MRT_CODE_INVALID_ARGUMENT);
}

}  // namespace
}  // namespace mrt
