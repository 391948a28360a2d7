// Which layouts the oneDNN plugin's plans keep between layers
// (plugins/onednn/src/lower_conv.cpp): a Winograd ResNet stays nChw16c with
// no reorder between convolutions, and a residual in plain NCHW is copied to
// the convolution's layout rather than sending it to oneDNN's GEMM-based
// NCHW kernel. Each plan's results are checked too.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "batch_split.h"
#include "onednn_plan_support.h"

namespace mrt::onednn {
namespace {

using onnx::HostTensor;

// The ResNet fixture at batch 2: with Winograd its 3x3 stride-1
// convolutions write nChw16c, and the 1x1 and stride-2 ones read that as it
// is (oneDNN's blocked kernels), so the only run-time reorder left is the
// pooled features' to plain for the final Gemm. Without Winograd the direct
// kernels keep NHWC, with reorders where the stem's nChw16c meets them.
// Both plans compute the same logits within 1e-5 relative L2.
TEST(PlanLayouts, ActivationsStayBlockedBetweenConvolutions) {
  onnx::Graph g = test::load_fixture_graph("onnx-resnet");
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  std::map<std::string, onnx::Dims> dims = {{"input", {2, 3, 64, 64}}};
  PlanOptions direct_options;
  direct_options.winograd = false;
  auto wino = build_plan(eng, g, dims, PlanOptions{}), direct = build_plan(eng, g, dims, direct_options);
  if (wino->winograd_convolutions() == 0) GTEST_SKIP() << "oneDNN has no Winograd convolution on this CPU (needs AVX-512)";
  EXPECT_EQ(direct->winograd_convolutions(), 0);
  EXPECT_LE(wino->num_reorder_steps(), 1u) << "a Winograd ResNet reorders activations between layouts";
  EXPECT_GT(direct->num_reorder_steps(), wino->num_reorder_steps());
  std::vector<float> input(2 * 3 * 64 * 64);
  for (size_t i = 0; i < input.size(); ++i) input[i] = std::sin(0.011f * static_cast<float>(i));
  std::vector<float> a = test::run_plan(*wino, input), b = test::run_plan(*direct, input);
  EXPECT_LE(test::relative_l2(a, b), 1e-5);
  std::cout << wino->winograd_convolutions() << " Winograd convolutions, " << wino->num_reorder_steps() << " reorder(s) against "
            << direct->num_reorder_steps() << " without Winograd; rel L2 between them " << test::relative_l2(a, b) << "\n";
}

onnx::Node node(std::string op, std::vector<std::string> inputs, std::string output) {
  onnx::Node n;
  n.op_type = std::move(op);
  n.name = output;
  n.inputs = std::move(inputs);
  n.outputs = {std::move(output)};
  return n;
}

HostTensor filled(onnx::Dims dims, float scale, int seed) {
  HostTensor t(onnx::DType::kFloat, std::move(dims));
  float* p = static_cast<float*>(t.raw());
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = scale * std::sin(0.7f * static_cast<float>(i) + static_cast<float>(seed));
  return t;
}

// Two 1x1 bottleneck blocks, relu(W2 relu(W1 x + b1) + b2 + x), the first
// on the graph input: its residual is plain NCHW. Before the residual copy
// oneDNN ran both blocks' expand convolutions with its GEMM-based kernel
// (ResNet-50's 14x14 stage that way at batch 8: 205 ms against 48).
TEST(PlanLayouts, PlainResidualDoesNotForceTheGemmKernel) {
  const int64_t n = 2, c = 32, w = 16, hw = 4;
  onnx::Graph g;
  g.opset = 13;
  g.inputs = {"x"};
  g.outputs = {"z"};
  g.types["x"] = {onnx::DType::kFloat, {-1, c, hw, hw}};
  std::vector<const float*> weights;
  std::string in = "x";
  for (int b = 0; b < 2; ++b) {
    std::string p = "b" + std::to_string(b);
    g.constants.emplace(p + "w1", filled({w, c, 1, 1}, 0.2f, 4 * b));
    g.constants.emplace(p + "b1", filled({w}, 0.1f, 4 * b + 1));
    g.constants.emplace(p + "w2", filled({c, w, 1, 1}, 0.2f, 4 * b + 2));
    g.constants.emplace(p + "b2", filled({c}, 0.1f, 4 * b + 3));
    for (const char* k : {"w1", "b1", "w2", "b2"}) g.types[p + k] = {onnx::DType::kFloat, g.constants.at(p + k).dims()};
    std::string out = b == 1 ? "z" : p + "y";
    g.nodes.push_back(node("Conv", {in, p + "w1", p + "b1"}, p + "a"));
    g.nodes.push_back(node("Relu", {p + "a"}, p + "ar"));
    g.nodes.push_back(node("Conv", {p + "ar", p + "w2", p + "b2"}, p + "c"));
    g.nodes.push_back(node("Add", {p + "c", in}, p + "s"));
    g.nodes.push_back(node("Relu", {p + "s"}, out));
    in = out;
  }
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  auto plan = build_plan(eng, g, {{"x", {n, c, hw, hw}}}, PlanOptions{});
  for (const auto& k : plan->kernels()) EXPECT_EQ(k.find("gemm"), std::string::npos) << k;

  std::vector<float> x(static_cast<size_t>(n * c * hw * hw));
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::cos(0.3f * static_cast<float>(i));
  std::vector<float> want = x;
  for (int b = 0; b < 2; ++b) {  // the blocks by hand, in double
    std::string p = "b" + std::to_string(b);
    auto at = [&](const std::string& k) { return static_cast<const float*>(g.constants.at(p + k).raw()); };
    std::vector<float> next(want.size());
    for (int64_t i = 0; i < n; ++i)
      for (int64_t s = 0; s < hw * hw; ++s) {
        auto px = [&](int64_t ch) { return double(want[static_cast<size_t>((i * c + ch) * hw * hw + s)]); };
        std::vector<double> a(static_cast<size_t>(w));
        for (int64_t o = 0; o < w; ++o) {
          double v = at("b1")[o];
          for (int64_t ch = 0; ch < c; ++ch) v += at("w1")[o * c + ch] * px(ch);
          a[static_cast<size_t>(o)] = std::max(v, 0.0);
        }
        for (int64_t o = 0; o < c; ++o) {
          double v = at("b2")[o] + px(o);
          for (int64_t k = 0; k < w; ++k) v += at("w2")[o * w + k] * a[static_cast<size_t>(k)];
          next[static_cast<size_t>((i * c + o) * hw * hw + s)] = static_cast<float>(std::max(v, 0.0));
        }
      }
    want = next;
  }
  EXPECT_LE(test::relative_l2(test::run_plan(*plan, x), want), 1e-6);
}

}  // namespace
}  // namespace mrt::onednn
