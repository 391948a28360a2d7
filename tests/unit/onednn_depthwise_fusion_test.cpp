// A 1x1 convolution and the 3x3 depthwise convolution that alone reads it
// run as one oneDNN primitive (plugins/onednn/src/lower_depthwise_fusion.cpp):
// MobileNetV2's inverted-residual head, Conv 1x1 -> Clip(0, 6) -> depthwise
// Conv 3x3 -> Clip(0, 6). Each plan's result is checked against the same
// graph computed here in double, at shapes that take the fused kernel
// (stride 1 and 2, channel counts off the 16-channel block, odd sizes) and
// at ones that must not fuse.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "batch_split.h"
#include "onednn_plan_support.h"

namespace mrt::onednn {
namespace {

using onnx::HostTensor;
using test::filled;
using test::ints;
using test::node;
using test::one_int;

struct Shape {
  int64_t n, in_c, c, hw, stride;
  bool dw_bias;
};

// x -> Conv 1x1 (w1, b1) -> Clip(0, 6) -> "mid" -> depthwise Conv 3x3
// (w2, b2 when dw_bias; stride, padding 1) -> Clip(0, 6) -> z. With
// `mid_also_output`, "mid" is a graph output too (so nothing may fuse it
// away).
onnx::Graph inverted_residual_head(const Shape& s, bool mid_also_output) {
  onnx::Graph g;
  g.opset = 13;
  g.inputs = {"x"};
  g.outputs = {"z"};
  if (mid_also_output) g.outputs.push_back("mid");
  g.types["x"] = {onnx::DType::kFloat, {-1, s.in_c, s.hw, s.hw}};
  auto constant = [&](const std::string& name, HostTensor t) {
    g.types[name] = {t.dtype(), t.dims()};
    g.constants.emplace(name, std::move(t));
  };
  constant("w1", filled({s.c, s.in_c, 1, 1}, 0.6f, 1));
  constant("b1", filled({s.c}, 0.5f, 2));
  constant("w2", filled({s.c, 1, 3, 3}, 0.7f, 3));
  if (s.dw_bias) constant("b2", filled({s.c}, 0.5f, 4));
  HostTensor lo(onnx::DType::kFloat, {}), hi(onnx::DType::kFloat, {});
  *static_cast<float*>(hi.raw()) = 6.0f;  // lo stays 0
  constant("lo", std::move(lo));
  constant("hi", std::move(hi));
  g.nodes.push_back(node("Conv", {"x", "w1", "b1"}, "expand"));
  g.nodes.push_back(node("Clip", {"expand", "lo", "hi"}, "mid"));
  onnx::Node dw = node("Conv", {"mid", "w2"}, "dw");
  if (s.dw_bias) dw.inputs.push_back("b2");
  dw.attrs["group"] = one_int(s.c);
  dw.attrs["kernel_shape"] = ints({3, 3});
  dw.attrs["pads"] = ints({1, 1, 1, 1});
  dw.attrs["strides"] = ints({s.stride, s.stride});
  g.nodes.push_back(dw);
  g.nodes.push_back(node("Clip", {"dw", "lo", "hi"}, "z"));
  return g;
}

// The same graph in double, NCHW.
std::vector<float> reference(const onnx::Graph& g, const Shape& s, const std::vector<float>& x) {
  auto at = [&](const char* k) { return static_cast<const float*>(g.constants.at(k).raw()); };
  auto clip = [](double v) { return std::min(std::max(v, 0.0), 6.0); };
  const int64_t hw = s.hw, area = hw * hw, ohw = (hw - 1) / s.stride + 1;
  std::vector<double> mid(static_cast<size_t>(s.n * s.c * area));
  for (int64_t i = 0; i < s.n; ++i)
    for (int64_t o = 0; o < s.c; ++o)
      for (int64_t p = 0; p < area; ++p) {
        double v = at("b1")[o];
        for (int64_t k = 0; k < s.in_c; ++k) v += double(at("w1")[o * s.in_c + k]) * x[static_cast<size_t>((i * s.in_c + k) * area + p)];
        mid[static_cast<size_t>((i * s.c + o) * area + p)] = clip(v);
      }
  std::vector<float> z(static_cast<size_t>(s.n * s.c * ohw * ohw));
  for (int64_t i = 0; i < s.n; ++i)
    for (int64_t o = 0; o < s.c; ++o)
      for (int64_t r = 0; r < ohw; ++r)
        for (int64_t q = 0; q < ohw; ++q) {
          double v = s.dw_bias ? at("b2")[o] : 0.0;
          for (int64_t kr = 0; kr < 3; ++kr)
            for (int64_t kq = 0; kq < 3; ++kq) {
              int64_t y = r * s.stride + kr - 1, xx = q * s.stride + kq - 1;
              if (y < 0 || y >= hw || xx < 0 || xx >= hw) continue;
              v += double(at("w2")[o * 9 + kr * 3 + kq]) * mid[static_cast<size_t>((i * s.c + o) * area + y * hw + xx)];
            }
          z[static_cast<size_t>(((i * s.c + o) * ohw + r) * ohw + q)] = static_cast<float>(clip(v));
        }
  return z;
}

std::vector<float> image_input(const Shape& s) {
  std::vector<float> x(static_cast<size_t>(s.n * s.in_c * s.hw * s.hw));
  for (size_t i = 0; i < x.size(); ++i) x[i] = 2.0f * std::sin(0.013f * static_cast<float>(i)) + 0.5f * std::cos(0.7f * static_cast<float>(i));
  return x;
}

std::string kernels_of(const Plan& plan) {
  std::string all;
  for (const auto& k : plan.kernels()) all += k + "\n";
  return all;
}

bool has_blocked_kernels() { return cpu_has_isa(dnnl::cpu_isa::avx2); }

// oneDNN picks its fused kernel by each thread's share of the work: with
// two threads (this project's machines) at these shapes, with four or more
// it offers ref_fused_convolution (the two one after the other), which the
// planner declines. The thread count is fixed so the test means the same
// everywhere.
class DepthwiseFusion : public ::testing::TestWithParam<Shape> {
 protected:
  void SetUp() override { omp_set_num_threads(2); }
};

// Batch 8 (where the expanded tensor outgrows the caches and oneDNN picks
// its fused jit_1x1 kernel): one fused primitive, the graph's result.
TEST_P(DepthwiseFusion, FusedPlanMatchesTheGraph) {
  if (!has_blocked_kernels()) GTEST_SKIP() << "oneDNN's blocked kernels need AVX2; this CPU has none";
  const Shape s = GetParam();
  onnx::Graph g = inverted_residual_head(s, false);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  PlanOptions options;
  options.batch_split_cache_bytes = 0;
  auto plan = build_plan(eng, g, {{"x", {s.n, s.in_c, s.hw, s.hw}}}, options);
  EXPECT_EQ(plan->depthwise_fusions(), 1) << kernels_of(*plan);
  for (const auto& k : plan->kernels()) EXPECT_EQ(k.find("jit_dw"), std::string::npos) << "a depthwise step of its own: " << k;
  std::vector<float> x = image_input(s);
  double err = test::relative_l2(test::run_plan(*plan, x), reference(g, s, x));
  EXPECT_LE(err, 1e-6);
  std::cout << "N" << s.n << " " << s.in_c << "->" << s.c << " at " << s.hw << "x" << s.hw << ", stride " << s.stride
            << ": rel L2 against double " << err << "\n";
}

INSTANTIATE_TEST_SUITE_P(Shapes, DepthwiseFusion,
                         ::testing::Values(Shape{8, 16, 96, 30, 2, true},   // MobileNetV2's first expand, smaller
                                           Shape{8, 24, 144, 27, 1, true},  // 24 input channels: a padded block
                                           Shape{8, 16, 96, 31, 2, false},  // odd size, no depthwise bias
                                           Shape{8, 32, 64, 33, 1, false}));

// The exported MobileNetV2 fixture (BatchNormalization folded, ReLU6 as
// Clip) at batch 16: its large 1x1 + depthwise pairs fuse.
TEST(DepthwiseFusionModels, MobileNetV2FixtureFuses) {
  omp_set_num_threads(2);
  if (!has_blocked_kernels()) GTEST_SKIP() << "oneDNN's blocked kernels need AVX2; this CPU has none";
  onnx::Graph g = test::load_fixture_graph("onnx-mobilenetv2");
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  const std::string in = g.inputs[0];
  onnx::Dims dims = g.types.at(in).dims;
  dims[0] = 16;
  auto plan = build_plan(eng, g, {{in, dims}}, PlanOptions{});
  EXPECT_GE(plan->depthwise_fusions(), 1) << kernels_of(*plan);
  std::cout << plan->depthwise_fusions() << " depthwise convolutions fused at " << onnx::dims_string(dims) << "\n";
}

// Plans the head at shape `s` with `options` and checks that nothing was
// fused and that the two convolutions, run apart, still give the graph's
// result.
void expect_unfused_and_right(const Shape& s, bool mid_also_output, const PlanOptions& options) {
  omp_set_num_threads(2);
  onnx::Graph g = inverted_residual_head(s, mid_also_output);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  auto plan = build_plan(eng, g, {{"x", {s.n, s.in_c, s.hw, s.hw}}}, options);
  EXPECT_EQ(plan->depthwise_fusions(), 0) << kernels_of(*plan);
  std::vector<float> x = image_input(s);
  EXPECT_LE(test::relative_l2(test::run_plan(*plan, x), reference(g, s, x)), 1e-6);
}

// 40 channels (off the 16-block): oneDNN offers only ref_fused_convolution,
// so the two run as their own primitives.
TEST(DepthwiseFusionRefused, ForChannelsOffTheBlock) { expect_unfused_and_right({8, 24, 40, 31, 2, false}, false, PlanOptions{}); }

// The expanded tensor is also a graph output: it must exist.
TEST(DepthwiseFusionRefused, WhenTheExpandedTensorIsReadElsewhere) {
  expect_unfused_and_right({8, 16, 32, 12, 1, true}, true, PlanOptions{});
}

// conv_layout onednn (NHWC for brgconv), on which oneDNN 2.6 would compute
// the fusion wrongly.
TEST(DepthwiseFusionRefused, WithOneDnnsOwnLayouts) {
  PlanOptions options;
  options.blocked_convolutions = false;
  options.batch_split_cache_bytes = 0;
  expect_unfused_and_right({8, 16, 96, 30, 2, true}, false, options);
}

}  // namespace
}  // namespace mrt::onednn
