// Batch splitting in the oneDNN plugin (plugins/onednn/src/batch_split.*):
// where the cut goes (only past a depthwise convolution, never past an op
// that mixes images, only with at least 4 prefix runs), that a split plan
// computes what the whole-batch plan computes and what onnxruntime computed
// for the MobileNetV2 fixture, and which oneDNN layouts a sub-batch can be
// handed over in.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "batch_split.h"
#include "mrt/core/npy.h"
#include "onednn_plan_support.h"

namespace mrt::onednn {
namespace {

namespace fs = std::filesystem;
using onnx::HostTensor;

using test::fixture_dir;
using test::ints;
using test::one_int;
using test::load_fixture_graph;
using test::relative_l2;
using test::run_plan;

std::vector<float> read_floats(const fs::path& npy) {
  auto t = read_npy(npy, "t");
  EXPECT_TRUE(t) << npy;
  if (!t) return {};
  std::vector<float> out(t->byte_size() / sizeof(float));
  std::memcpy(out.data(), t->data(), out.size() * sizeof(float));
  return out;
}

// `v` repeated `times` times (a batch made of copies of the reference rows).
std::vector<float> tiled(const std::vector<float>& v, int times) {
  std::vector<float> out;
  for (int i = 0; i < times; ++i) out.insert(out.end(), v.begin(), v.end());
  return out;
}

PlanOptions split_at(size_t cache_bytes) {
  PlanOptions o;
  o.batch_split_cache_bytes = cache_bytes;
  return o;
}

// The MobileNetV2 fixture (64x64 inputs) at batch 4 with a 128 KiB cache:
// its expanded 32x32 tensors (384 KiB an image) outgrow it, so the first
// blocks run one image at a time. Split and whole-batch plans agree with
// each other and with onnxruntime within 1e-5 relative L2 (the fixture's
// float32 tolerance; oneDNN may pick other kernels for 1 and 4 images,
// which order the sums differently).
TEST(BatchSplit, MobileNetSplitMatchesWholeBatchAndOnnxruntime) {
  onnx::Graph g = load_fixture_graph("onnx-mobilenetv2");
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  std::vector<float> input = tiled(read_floats(fixture_dir("onnx-mobilenetv2") / "reference" / "inputs" / "input.npy"), 2);
  std::vector<float> want = tiled(read_floats(fixture_dir("onnx-mobilenetv2") / "reference" / "outputs" / "logits.npy"), 2);
  std::map<std::string, onnx::Dims> dims = {{"input", {4, 3, 64, 64}}};

  auto split = find_batch_split(onnx::specialize(g, dims), 128 << 10);
  ASSERT_TRUE(split);
  EXPECT_EQ(split->sub_batch, 1);
  EXPECT_GT(split->prefix_nodes, 0u);
  auto split_plan = build_plan(eng, g, dims, split_at(128 << 10));
  auto whole_plan = build_plan(eng, g, dims, split_at(0));
  EXPECT_EQ(split_plan->split_sub_batch(), 1);
  EXPECT_EQ(split_plan->split_cut(), split->cut);
  EXPECT_EQ(whole_plan->split_sub_batch(), 0);
  EXPECT_EQ(split_plan->num_primitives() > 0, true);
  std::vector<float> got_split = run_plan(*split_plan, input), got_whole = run_plan(*whole_plan, input);
  double e_split = relative_l2(got_split, want), e_whole = relative_l2(got_whole, want), e_between = relative_l2(got_split, got_whole);
  EXPECT_LE(e_split, 1e-5);
  EXPECT_LE(e_whole, 1e-5);
  EXPECT_LE(e_between, 1e-5);
  std::cout << "cut after '" << split->cut << "' (" << split->prefix_nodes << " nodes): split rel L2 " << e_split << ", whole "
            << e_whole << ", between " << e_between << "\n";
  // Each image's logits land in its own row: the rows of the two copies match.
  for (size_t i = 0; i < 20; ++i) EXPECT_NEAR(got_split[i], got_split[i + 20], 1e-5f) << i;
  // Two runs on one context (its prefix context reused per sub-batch and
  // per call), the second on other images: nothing is left over from the
  // first, and the first images give the first bits again.
  auto ctx = split_plan->make_context();
  std::vector<float> shifted(input.size());
  for (size_t i = 0; i < input.size(); ++i) shifted[i] = input[(i + 4096) % input.size()];
  std::vector<float> first = run_plan(*split_plan, *ctx, input), other = run_plan(*split_plan, *ctx, shifted),
                     again = run_plan(*split_plan, *ctx, input);
  EXPECT_EQ(std::memcmp(first.data(), got_split.data(), first.size() * sizeof(float)), 0);
  EXPECT_NE(std::memcmp(other.data(), first.data(), first.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(again.data(), first.data(), again.size() * sizeof(float)), 0);
}

TEST(BatchSplit, DenseCnnAndFewPrefixRunsStayWhole) {
  onnx::Graph resnet = load_fixture_graph("onnx-resnet");
  // No depthwise convolution: dense convolutions are bound by arithmetic,
  // and splitting measured 0.88-1.01x on ResNets.
  EXPECT_FALSE(find_batch_split(onnx::specialize(resnet, {{"input", {8, 3, 64, 64}}}), 128 << 10));
  onnx::Graph mobilenet = load_fixture_graph("onnx-mobilenetv2");
  // Fewer than 4 prefix runs: batches 2 and 3 at one image per run, or 8
  // at 4 images per run (a cache that holds 4 images' largest tensor).
  EXPECT_FALSE(find_batch_split(onnx::specialize(mobilenet, {{"input", {2, 3, 64, 64}}}), 128 << 10));
  EXPECT_FALSE(find_batch_split(onnx::specialize(mobilenet, {{"input", {3, 3, 64, 64}}}), 128 << 10));
  EXPECT_FALSE(find_batch_split(onnx::specialize(mobilenet, {{"input", {8, 3, 64, 64}}}), 4 * 192 << 10));
  // Everything fits the cache at full batch: nothing to gain.
  EXPECT_FALSE(find_batch_split(onnx::specialize(mobilenet, {{"input", {8, 3, 64, 64}}}), 64 << 20));
  auto at8 = find_batch_split(onnx::specialize(mobilenet, {{"input", {8, 3, 64, 64}}}), 2 * 192 << 10);
  ASSERT_TRUE(at8);
  EXPECT_EQ(at8->sub_batch, 2);
}

HostTensor weights(onnx::Dims dims) {
  HostTensor t(onnx::DType::kFloat, dims);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = std::sin(0.7f * static_cast<float>(i));
  return t;
}

// X[n,8,16,16] → depthwise Conv (x4 channels) → Relu → 1x1 Conv to 2
// channels → Transpose(1,0,2,3), which mixes images; `transpose_first`
// puts the Transpose before everything instead.
onnx::Graph mixing_graph(bool transpose_first) {
  onnx::Graph g;
  g.opset = 13;
  g.inputs = {"X"};
  g.outputs = {"T"};
  g.types["X"] = {onnx::DType::kFloat, {-1, 8, 16, 16}};
  g.constants["W1"] = weights({32, 1, 3, 3});
  g.constants["W2"] = weights({2, 32, 1, 1});
  for (const char* w : {"W1", "W2"}) g.types[w] = {onnx::DType::kFloat, g.constants[w].dims()};
  onnx::Node dw{"Conv", "dw", "", {"X", "W1"}, {"Y"}, {}};
  dw.attrs["group"] = one_int(8);
  dw.attrs["pads"] = ints({1, 1, 1, 1});
  dw.attrs["kernel_shape"] = ints({3, 3});
  onnx::Node relu{"Relu", "relu", "", {"Y"}, {"R"}, {}};
  onnx::Node pw{"Conv", "pw", "", {"R", "W2"}, {"Z"}, {}};
  onnx::Node tr{"Transpose", "mix", "", {"Z"}, {"T"}, {}};
  tr.attrs["perm"] = ints({1, 0, 2, 3});
  if (transpose_first) {
    tr.inputs = {"X"};
    tr.outputs = {"X2"};
    dw.inputs[0] = "X2";
    pw.outputs = {"T"};
    g.nodes = {tr, dw, relu, pw};
  } else {
    g.nodes = {dw, relu, pw, tr};
  }
  return g;
}

// The prefix ends before the Transpose; the cut is the small 2-channel
// tensor (not the 32-channel one, which would itself outgrow the cache, nor
// the depthwise output its Relu is fused into); the split result is the
// whole-batch one. A Transpose first leaves nothing to split.
TEST(BatchSplit, PrefixStopsAtAnOpThatMixesImages) {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  onnx::Graph g = mixing_graph(false);
  std::map<std::string, onnx::Dims> dims = {{"X", {8, 8, 16, 16}}};
  auto split = find_batch_split(onnx::specialize(g, dims), 64 << 10);
  ASSERT_TRUE(split);
  EXPECT_EQ(split->prefix_nodes, 3u);
  EXPECT_EQ(split->cut, "Z");
  EXPECT_EQ(split->sub_batch, 2);  // 64 KiB holds two images' 32 KiB depthwise output
  std::vector<float> input(8 * 8 * 16 * 16);
  for (size_t i = 0; i < input.size(); ++i) input[i] = std::cos(0.013f * static_cast<float>(i));
  auto split_plan = build_plan(eng, g, dims, split_at(64 << 10));
  auto whole_plan = build_plan(eng, g, dims, split_at(0));
  ASSERT_EQ(split_plan->split_sub_batch(), 2);
  EXPECT_LE(relative_l2(run_plan(*split_plan, input), run_plan(*whole_plan, input)), 1e-6);
  EXPECT_FALSE(find_batch_split(onnx::specialize(mixing_graph(true), {{"X", {8, 8, 16, 16}}}), 64 << 10));
}

// X[16,8,16,16] → depthwise Conv (x8 channels) → Relu → 1x1 Conv to 16
// channels → Mul by a second input M[16,16,16] → 1x1 Conv. M broadcasts
// from the right: its first axis meets the channels, not the batch (the
// sizes agree only because both are 16). Sliced per image it would scale
// the wrong channels, so the Mul is not per-image, M stays live past every
// candidate cut, and nothing is split. (Admitting the Mul would cut after
// it, 4 images per run.)
TEST(BatchSplit, LowerRankOperandIsNotSplitAlongTheBatch) {
  onnx::Graph g;
  g.opset = 13;
  g.inputs = {"X", "M"};
  g.outputs = {"T"};
  g.types["X"] = {onnx::DType::kFloat, {-1, 8, 16, 16}};
  g.types["M"] = {onnx::DType::kFloat, {-1, 16, 16}};
  g.constants["W1"] = weights({64, 1, 3, 3});
  g.constants["W2"] = weights({16, 64, 1, 1});
  g.constants["W3"] = weights({2, 16, 1, 1});
  for (const char* w : {"W1", "W2", "W3"}) g.types[w] = {onnx::DType::kFloat, g.constants[w].dims()};
  onnx::Node dw{"Conv", "dw", "", {"X", "W1"}, {"Y"}, {}};
  dw.attrs["group"] = one_int(8);
  dw.attrs["pads"] = ints({1, 1, 1, 1});
  g.nodes = {dw, {"Relu", "relu", "", {"Y"}, {"R"}, {}}, {"Conv", "pw", "", {"R", "W2"}, {"Z"}, {}},
             {"Mul", "scale", "", {"Z", "M"}, {"S"}, {}}, {"Conv", "head", "", {"S", "W3"}, {"T"}, {}}};
  auto specialized = onnx::specialize(g, {{"X", {16, 8, 16, 16}}, {"M", {16, 16, 16}}});
  EXPECT_FALSE(find_batch_split(specialized, 256 << 10));
}

TEST(BatchSplit, HandsOverOnlyBatchOutermostStridedLayouts) {
  using tag = dnnl::memory::format_tag;
  using dt = dnnl::memory::data_type;
  dnnl::memory::dims d{4, 32, 7, 7};
  EXPECT_TRUE(is_batch_strided(dnnl::memory::desc(d, dt::f32, tag::nchw)));
  EXPECT_TRUE(is_batch_strided(dnnl::memory::desc(d, dt::f32, tag::nhwc)));
  EXPECT_FALSE(is_batch_strided(dnnl::memory::desc(d, dt::f32, tag::nChw16c)));  // inner blocks
  EXPECT_FALSE(is_batch_strided(dnnl::memory::desc(d, dt::f32, tag::chwn)));      // batch innermost
  EXPECT_FALSE(is_batch_strided(dnnl::memory::desc(d, dt::bf16, tag::nhwc)));  // the suffix reads float32
}

}  // namespace
}  // namespace mrt::onednn
