// The oneDNN backend through the in-process Runtime, on the committed
// fixture models (real architectures, random weights, reference outputs
// from onnxruntime): outputs within the stated tolerance at batch 1 and 2,
// concurrent calls at mixed batch sizes, and bad input at load and execute
// time answered with clear errors while the runtime keeps serving.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <thread>

#include "mrt/core/npy.h"
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
using test::rows;
using test::Tolerance;

class OnednnModels : public ::testing::TestWithParam<std::string> {
 protected:
  static std::unique_ptr<Runtime> make(const fs::path& root, int threads = 2) {
    RuntimeConfig c;
    c.plugin_files = {MRT_ONEDNN_PLUGIN};
    EXPECT_TRUE(c.vfs.add_mount({"/models", root, true}).is_ok());
    c.num_threads = threads;
    auto rt = Runtime::create(std::move(c));
    EXPECT_TRUE(rt);
    return std::move(*rt);
  }
  Result<InferResult> infer(Runtime& rt, const std::string& model, std::vector<Tensor> tensors) {
    InferRequest req;
    req.model_id = model;
    req.tensors = std::move(tensors);
    return rt.infer(req);
  }
};

TEST_P(OnednnModels, MatchesOnnxruntimeAtBatch2And1) {
  fs::path dir = models_dir() / GetParam();
  auto rt = make(models_dir());
  auto inputs = read_dir(dir / "reference" / "inputs");
  auto expected = read_dir(dir / "reference" / "outputs");
  Tolerance tol = read_tolerance(dir);
  std::vector<Tensor> all;
  for (const auto& t : inputs) all.push_back(rows(t, 0, t.dims()[0]));
  auto r = infer(*rt, GetParam(), std::move(all));
  ASSERT_TRUE(r) << r.status().to_string();
  EXPECT_EQ(r->plugin, "onednn");
  ASSERT_EQ(r->tensors.size(), expected.size());
  for (const auto& want : expected) {
    auto it = std::find_if(r->tensors.begin(), r->tensors.end(), [&](const Tensor& t) { return t.name() == want.name(); });
    ASSERT_NE(it, r->tensors.end()) << "no output " << want.name();
    expect_close(*it, want, tol, want.name() + "_b2");
  }
  // The second item alone: a batch-1 plan gives the same row.
  std::vector<Tensor> one;
  for (const auto& t : inputs) one.push_back(rows(t, 1, 2));
  auto r1 = infer(*rt, GetParam(), std::move(one));
  ASSERT_TRUE(r1) << r1.status().to_string();
  for (const auto& want : expected)
    for (const auto& t : r1->tensors)
      if (t.name() == want.name()) expect_close(t, rows(want, 1, 2), tol, want.name() + "_b1");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, OnednnModels,
                         ::testing::Values("onnx-resnet", "onnx-mobilenetv2", "onnx-bert", "onnx-bert17", "onnx-fusions",
                                           "onnx-residual-view"));

TEST(OnednnBackend, ConcurrentCallsAtMixedBatchSizes) {
  fs::path dir = models_dir() / "onnx-resnet";
  RuntimeConfig c;
  c.plugin_files = {MRT_ONEDNN_PLUGIN};
  ASSERT_TRUE(c.vfs.add_mount({"/models", models_dir(), true}).is_ok());
  auto created = Runtime::create(std::move(c));
  ASSERT_TRUE(created);
  auto rt = std::move(*created);
  auto input = std::move(read_dir(dir / "reference" / "inputs")[0]);
  auto expected = std::move(read_dir(dir / "reference" / "outputs")[0]);
  Tolerance tol = read_tolerance(dir);
  EXPECT_EQ(test::concurrent_mixed_batches(*rt, "onnx-resnet", input, expected, tol, 4, 4), 16);
}

TEST(OnednnBackend, BadInputsGetClearErrorsAndServiceContinues) {
  test::TempDir root;
  fs::copy(models_dir() / "onnx-resnet", root.path() / "resnet", fs::copy_options::recursive);
  fs::path fixtures_bad = fs::path(MRT_SOURCE_ROOT) / "tests" / "fixtures" / "onnx-bad";
  for (const char* f : {"garbage", "truncated", "unsupported-op", "cycle"}) {
    fs::create_directories(root.path() / f);
    fs::copy_file(fixtures_bad / (std::string(f) + ".onnx"), root.path() / f / "model.onnx");
    root.write(std::string(f) + "/model.yml", "format: onnx\ntask: tensor\nfiles: [model.onnx]\ndevice: cpu\n");
  }
  RuntimeConfig c;
  c.plugin_files = {MRT_ONEDNN_PLUGIN};
  ASSERT_TRUE(c.vfs.add_mount({"/models", root.path(), true}).is_ok());
  auto created = Runtime::create(std::move(c));
  ASSERT_TRUE(created);
  auto rt = std::move(*created);
  auto input = std::move(read_dir(root.path() / "resnet" / "reference" / "inputs")[0]);
  InferRequest req;
  req.model_id = "resnet";
  req.tensors.push_back(rows(input, 0, 2));
  ASSERT_TRUE(rt->infer(req));

  auto fails_with = [&](const std::string& model, const std::string& needle) {
    InferRequest bad;
    bad.model_id = model;
    bad.tensors.push_back(rows(input, 0, 2));
    auto r = rt->infer(bad);
    ASSERT_FALSE(r) << model;
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().to_string();
  };
  fails_with("garbage", "not a valid ONNX protobuf");
  fails_with("truncated", "not a valid ONNX protobuf");
  fails_with("unsupported-op", "unsupported operator 'Det'");
  fails_with("cycle", "cycle");

  // Wrong shape and dtype at execute time name the input.
  InferRequest wrong;
  wrong.model_id = "resnet";
  wrong.tensors.push_back(std::move(Tensor::zeros("input", MRT_DTYPE_FLOAT32, {1, 4, 64, 64}).value()));
  auto r = rt->infer(wrong);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), MRT_CODE_INVALID_ARGUMENT);
  EXPECT_NE(r.status().message().find("'input'"), std::string::npos) << r.status().to_string();
  wrong.tensors[0] = std::move(Tensor::zeros("input", MRT_DTYPE_FLOAT64, {1, 3, 64, 64}).value());
  r = rt->infer(wrong);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("float32"), std::string::npos) << r.status().to_string();

  // And the good model still answers.
  auto again = rt->infer(req);
  ASSERT_TRUE(again) << again.status().to_string();
}

}  // namespace
}  // namespace mrt
