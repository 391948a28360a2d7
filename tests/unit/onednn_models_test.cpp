// The oneDNN backend through the in-process Runtime, on the committed
// fixture models (real architectures, random weights, reference outputs
// from onnxruntime): outputs within the stated tolerance at batch 1 and 2,
// concurrent calls at mixed batch sizes, and bad input at load and execute
// time answered with clear errors while the runtime keeps serving.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <iostream>
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

// A runtime with only the oneDNN plugin, serving the models under `root`.
std::unique_ptr<Runtime> onednn_runtime(const fs::path& root, int threads = 2) {
  RuntimeConfig c;
  c.plugin_files = {MRT_ONEDNN_PLUGIN};
  EXPECT_TRUE(c.vfs.add_mount({"/models", root, true}).is_ok());
  c.num_threads = threads;
  auto rt = Runtime::create(std::move(c));
  EXPECT_TRUE(rt);
  return rt ? std::move(*rt) : nullptr;
}

// The first output of model `id` on one input (empty, and a failure
// recorded, when the call fails).
Tensor first_output(Runtime& rt, const std::string& id, Tensor input) {
  InferRequest req;
  req.model_id = id;
  req.tensors.push_back(std::move(input));
  auto r = rt.infer(req);
  EXPECT_TRUE(r) << id << ": " << r.status().to_string();
  return r ? std::move(r->tensors[0]) : Tensor();
}

// Fixture `model`'s first reference input and onnxruntime's output for it.
std::pair<Tensor, Tensor> reference_io(const std::string& model) {
  fs::path dir = models_dir() / model;
  return {std::move(read_dir(dir / "reference" / "inputs")[0]), std::move(read_dir(dir / "reference" / "outputs")[0])};
}

// A oneDNN runtime serving fixture `model` under `root` once per variant:
// model id → options (YAML flow-map entries, "" for none).
std::unique_ptr<Runtime> runtime_with_variants(const test::TempDir& root, const std::string& model,
                                               const std::vector<std::pair<std::string, std::string>>& variants) {
  for (const auto& [id, options] : variants) test::stage_model(root, model, id, "cpu", options);
  return onednn_runtime(root.path());
}

// A request to model `id`, staged with a bad option, fails with `message`.
void expect_option_refused(Runtime& rt, const std::string& id, const Tensor& input, const std::string& message) {
  InferRequest bad;
  bad.model_id = id;
  bad.tensors.push_back(rows(input, 0, 1));
  auto r = rt.infer(bad);
  ASSERT_FALSE(r) << id;
  EXPECT_NE(r.status().message().find(message), std::string::npos) << r.status().to_string();
}

// Whether /proc/cpuinfo lists any of `flags` (e.g. " avx512f").
bool cpu_lists(std::initializer_list<const char*> flags) {
  std::ifstream in("/proc/cpuinfo");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* f : flags)
    if (text.find(f) != std::string::npos) return true;
  return false;
}

class OnednnModels : public ::testing::TestWithParam<std::string> {
 protected:
  static std::unique_ptr<Runtime> make(const fs::path& root, int threads = 2) { return onednn_runtime(root, threads); }
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
                         ::testing::Values("onnx-resnet", "onnx-mobilenetv2", "onnx-squeezenet", "onnx-bert", "onnx-bert17", "onnx-fusions", "onnx-exporter-ops",
                                           "onnx-residual-view", "onnx-sdpa"));

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

// precision: bf16 runs the CNN fixtures' convolutions in bfloat16 (float32
// accumulation) within a relative L2 error typical of bfloat16's 8-bit
// mantissa (≤ 3e-2) of onnxruntime's float32 outputs, at batch 2 and 1;
// on a CPU with bfloat16 arithmetic the result must differ from float32
// (proof it ran), elsewhere the plugin falls back to float32. An unknown
// precision is a load error naming it.
TEST(OnednnBackend, Bf16ConvolutionsStayCloseToFloat32) {
  test::TempDir root;
  const std::vector<std::string> models = {"onnx-resnet", "onnx-mobilenetv2"};
  for (const auto& m : models) {
    test::stage_model(root, m, m + "-bf16", "cpu", "precision: bf16");
    test::stage_model(root, m, m + "-fp32", "cpu", "precision: fp32");
  }
  test::stage_model(root, "onnx-resnet", "fp8", "cpu", "precision: fp8");
  auto rt = onednn_runtime(root.path());
  ASSERT_TRUE(rt);
  auto run = [&](const std::string& id, Tensor input) { return first_output(*rt, id, std::move(input)); };
  for (const auto& m : models) {
    auto [input, want] = reference_io(m);
    for (auto [begin, end] : {std::pair<int64_t, int64_t>{0, input.dims()[0]}, {1, 2}}) {
      Tensor half = run(m + "-bf16", rows(input, begin, end)), full = run(m + "-fp32", rows(input, begin, end));
      double e16 = test::relative_l2_error(half, rows(want, begin, end));
      double e32 = test::relative_l2_error(full, rows(want, begin, end));
      EXPECT_LE(e16, 3e-2) << m << " rows " << begin << "-" << end;
      EXPECT_LE(e32, 1e-4) << m << " rows " << begin << "-" << end;
      // bfloat16 arithmetic (AVX512-BF16 or AMX-BF16): bf16 really runs here.
      if (cpu_lists({" avx512_bf16", " amx_bf16"})) {
        EXPECT_GT(e16, e32) << m << ": bf16 gave float32's result; did it run bfloat16?";
      }
      ::testing::Test::RecordProperty(m + "_bf16_rel_l2", std::to_string(e16));
    }
  }
  expect_option_refused(*rt, "fp8", reference_io("onnx-resnet").first, "option precision 'fp8' is not fp32 or bf16");
}

// The ResNet fixture's 3x3 convolutions run as Winograd by default and as
// direct convolutions with `winograd: off`: both within 1e-5 (relative L2)
// of onnxruntime at batch 2 and 1, and on a CPU with AVX-512 not bitwise
// equal (proof the default took the other kernels). A value other than on
// or off is a load error naming it.
TEST(OnednnBackend, WinogradConvolutionsMatchDirectOnes) {
  test::TempDir root;
  auto rt = runtime_with_variants(root, "onnx-resnet", {{"winograd", ""}, {"direct", "winograd: off"}, {"maybe", "winograd: maybe"}});
  ASSERT_TRUE(rt);
  auto run = [&](const std::string& id, Tensor input) { return first_output(*rt, id, std::move(input)); };
  auto [input, want] = reference_io("onnx-resnet");
  for (auto [begin, end] : {std::pair<int64_t, int64_t>{0, input.dims()[0]}, {1, 2}}) {
    Tensor wino = run("winograd", rows(input, begin, end)), direct = run("direct", rows(input, begin, end));
    double ew = test::relative_l2_error(wino, rows(want, begin, end));
    double ed = test::relative_l2_error(direct, rows(want, begin, end));
    EXPECT_LE(ew, 1e-5) << "Winograd, rows " << begin << "-" << end;
    EXPECT_LE(ed, 1e-5) << "direct, rows " << begin << "-" << end;
    ::testing::Test::RecordProperty("winograd_rel_l2_rows_" + std::to_string(begin), std::to_string(ew));
    ::testing::Test::RecordProperty("direct_rel_l2_rows_" + std::to_string(begin), std::to_string(ed));
    std::cout << "rows " << begin << "-" << end << ": Winograd rel L2 " << ew << ", direct " << ed << "\n";
    if (cpu_lists({" avx512f"})) {  // oneDNN's Winograd kernels need AVX-512
      ASSERT_EQ(wino.byte_size(), direct.byte_size());
      EXPECT_NE(std::memcmp(wino.data(), direct.data(), wino.byte_size()), 0) << "winograd on and off gave identical bits";
    }
  }
  expect_option_refused(*rt, "maybe", input, "option winograd 'maybe' is not on or off");
}

// `copies` copies of `t` one after the other along the batch axis.
Tensor tiled(const Tensor& t, int64_t copies) {
  std::vector<int64_t> dims = t.dims();
  dims[0] *= copies;
  Tensor out = std::move(Tensor::zeros(t.name(), t.dtype(), dims).value());
  for (int64_t i = 0; i < copies; ++i) std::memcpy(out.data() + i * t.byte_size(), t.data(), t.byte_size());
  return out;
}

// Each staged variant of fixture `model`, fed `copies` copies of its
// reference batch, answers within 1e-5 (relative L2) of onnxruntime's rows.
void expect_variants_match_onnxruntime(Runtime& rt, const std::string& model, int64_t copies, std::initializer_list<const char*> variants) {
  auto [input, want] = reference_io(model);
  for (const char* variant : variants) {
    double e = test::relative_l2_error(first_output(rt, variant, tiled(input, copies)), tiled(want, copies));
    EXPECT_LE(e, 1e-5) << variant;
    std::cout << "batch " << input.dims()[0] * copies << ", " << variant << ": rel L2 " << e << "\n";
  }
}

// `conv_layout` (blocked by default, or onednn for oneDNN's own NHWC
// choice) through the plugin: the MobileNetV2 fixture at batch 16 (where
// its first 1x1 convolutions take their depthwise ones fused, blocked only)
// matches onnxruntime's rows either way. Another value is a load error
// naming it.
TEST(OnednnBackend, ConvLayoutOptionKeepsResults) {
  test::TempDir root;
  auto rt = runtime_with_variants(root, "onnx-mobilenetv2",
                                  {{"blocked", ""}, {"nhwc", "conv_layout: onednn"}, {"maybe", "conv_layout: nchw"}});
  ASSERT_TRUE(rt);
  expect_variants_match_onnxruntime(*rt, "onnx-mobilenetv2", 8, {"blocked", "nhwc"});
  expect_option_refused(*rt, "maybe", reference_io("onnx-mobilenetv2").first, "option conv_layout 'nchw' is not blocked or onednn");
}

// `batch_split` (auto by default, on, or off) through the plugin: the
// MobileNetV2 fixture at batch 64 (its expanded tensors, 12 MiB at that
// batch, outgrow any L2, so `on` splits on any CPU; the core test
// onednn_batch_split checks where) matches onnxruntime's rows with each,
// and with `auto` on oneDNN's own layouts (where auto splits too). Another
// value is a load error naming it.
TEST(OnednnBackend, BatchSplitOptionKeepsResults) {
  test::TempDir root;
  auto rt = runtime_with_variants(root, "onnx-mobilenetv2",
                                  {{"auto", ""},
                                   {"on", "batch_split: on"},
                                   {"whole", "batch_split: off"},
                                   {"nhwc", "conv_layout: onednn"},
                                   {"maybe", "batch_split: maybe"}});
  ASSERT_TRUE(rt);
  expect_variants_match_onnxruntime(*rt, "onnx-mobilenetv2", 32, {"auto", "on", "whole", "nhwc"});  // 64 images
  expect_option_refused(*rt, "maybe", reference_io("onnx-mobilenetv2").first, "option batch_split 'maybe' is not auto, on or off");
}

// `loaded_weights` (release by default: a loaded weight that lives packed
// in the plans lets go of its pages between plan builds, and comes back
// before the next; keep: the graph keeps its copy) through the plugin: the
// MobileNetV2 fixture at batch 16, 2 and 16 again (a new plan after the
// release, then a cached one) matches onnxruntime's rows either way.
// Another value is a load error naming it.
TEST(OnednnBackend, LoadedWeightsOptionKeepsResults) {
  test::TempDir root;
  auto rt = runtime_with_variants(
      root, "onnx-mobilenetv2",
      {{"release", ""}, {"keep", "loaded_weights: keep"}, {"maybe", "loaded_weights: sometimes"}});
  ASSERT_TRUE(rt);
  for (int images : {8, 1, 8}) expect_variants_match_onnxruntime(*rt, "onnx-mobilenetv2", images, {"release", "keep"});
  expect_option_refused(*rt, "maybe", reference_io("onnx-mobilenetv2").first,
                        "option loaded_weights 'sometimes' is not release or keep");
}

// A batch whose plan would need more memory per call than the model's
// max_call_memory_mb is refused with RESOURCE_EXHAUSTED naming the limit,
// before anything is allocated or cached; the same model goes on serving
// batches that fit, with the right results. A limit that is not a whole
// number of MiB is a load error naming it.
TEST(OnednnBackend, OversizedBatchIsRefusedAndTheModelKeepsServing) {
  test::TempDir root;
  auto rt = runtime_with_variants(root, "onnx-mobilenetv2", {{"capped", "max_call_memory_mb: 8"}, {"bad", "max_call_memory_mb: lots"}});
  ASSERT_TRUE(rt);
  auto [input, want] = reference_io("onnx-mobilenetv2");
  for (int attempt = 0; attempt < 2; ++attempt) {  // twice: a refused plan must not be cached
    InferRequest big;
    big.model_id = "capped";
    big.tensors.push_back(tiled(input, 128));  // 256 images of 64x64: 69 MiB of activations
    auto r = rt->infer(big);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.status().code(), MRT_CODE_RESOURCE_EXHAUSTED) << r.status().to_string();
    EXPECT_NE(r.status().message().find("max_call_memory_mb of 8"), std::string::npos) << r.status().to_string();
    EXPECT_NE(r.status().message().find("[256,3,64,64]"), std::string::npos) << r.status().to_string();
    if (attempt == 0) std::cout << r.status().to_string() << "\n";
  }
  Tensor fits = first_output(*rt, "capped", rows(input, 0, input.dims()[0]));
  EXPECT_LE(test::relative_l2_error(fits, want), 1e-5);
  expect_option_refused(*rt, "bad", input, "option max_call_memory_mb 'lots' is not a whole number from 1 to");
}

// A value the model cannot take (a token id past the vocabulary, found by a
// host Gather while the request runs) is the caller's error, not the
// runtime's: INVALID_ARGUMENT naming the node, and the next request runs.
TEST(OnednnBackend, OutOfRangeTokenIsTheCallersError) {
  test::TempDir root;
  test::stage_model(root, "onnx-bert", "bert", "cpu", "");
  auto rt = onednn_runtime(root.path());
  ASSERT_TRUE(rt);
  InferRequest req;
  req.model_id = "bert";
  req.tensors = read_dir(models_dir() / "onnx-bert" / "reference" / "inputs");
  ASSERT_TRUE(rt->infer(req));
  InferRequest bad;
  bad.model_id = "bert";
  bad.tensors = read_dir(models_dir() / "onnx-bert" / "reference" / "inputs");
  for (auto& t : bad.tensors)
    if (t.name() == "input_ids") t.data_as<int64_t>()[3] = 1000000;
  auto r = rt->infer(bad);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), MRT_CODE_INVALID_ARGUMENT) << r.status().to_string();
  EXPECT_NE(r.status().message().find("index 1000000 is out of range"), std::string::npos) << r.status().to_string();
  EXPECT_TRUE(rt->infer(req));
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
