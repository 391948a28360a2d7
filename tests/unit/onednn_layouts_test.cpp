// Which layouts the oneDNN plugin's plans keep between layers
// (plugins/onednn/src/lower_conv.cpp): a Winograd ResNet stays nChw16c with
// no reorder between convolutions, and a residual in plain NCHW is copied to
// the convolution's layout rather than sending it to oneDNN's GEMM-based
// NCHW kernel; a channel Concat joins in its inputs' layout, or is never
// built when its reader is a narrowing 1x1 convolution. Each plan's results
// are checked too.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "batch_split.h"
#include "onednn_plan_support.h"
#include "plan_builder.h"

namespace mrt::onednn {
namespace {

using onnx::HostTensor;
using test::filled;
using test::node;

// The ResNet fixture at batch 2: with Winograd its 3x3 stride-1
// convolutions write nChw16c, and the 1x1 and stride-2 ones read that as it
// is (oneDNN's blocked kernels), so the only run-time reorder left is the
// pooled features' to plain for the final Gemm. Without Winograd the direct
// kernels stay blocked too (the default conv_layout); with oneDNN's own
// layout choice (NHWC for brgconv) reorders appear where the stem's nChw16c
// meets them. All three plans compute the same logits within 1e-5 relative
// L2.
TEST(PlanLayouts, ActivationsStayBlockedBetweenConvolutions) {
  onnx::Graph g = test::load_fixture_graph("onnx-resnet");
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  std::map<std::string, onnx::Dims> dims = {{"input", {2, 3, 64, 64}}};
  PlanOptions direct_options, onednn_layout_options;
  direct_options.winograd = false;
  onednn_layout_options.winograd = false;
  onednn_layout_options.blocked_convolutions = false;
  auto wino = build_plan(eng, g, dims, PlanOptions{}), direct = build_plan(eng, g, dims, direct_options),
       onednn_layout = build_plan(eng, g, dims, onednn_layout_options);
  if (wino->winograd_convolutions() == 0) GTEST_SKIP() << "oneDNN has no Winograd convolution on this CPU (needs AVX-512)";
  EXPECT_EQ(direct->winograd_convolutions(), 0);
  EXPECT_LE(wino->num_reorder_steps(), 1u) << "a Winograd ResNet reorders activations between layouts";
  EXPECT_LE(direct->num_reorder_steps(), 1u) << "a blocked ResNet reorders activations between layouts";
  EXPECT_GT(onednn_layout->num_reorder_steps(), wino->num_reorder_steps());
  std::vector<float> input(2 * 3 * 64 * 64);
  for (size_t i = 0; i < input.size(); ++i) input[i] = std::sin(0.011f * static_cast<float>(i));
  std::vector<float> a = test::run_plan(*wino, input), b = test::run_plan(*direct, input), c = test::run_plan(*onednn_layout, input);
  EXPECT_LE(test::relative_l2(a, b), 1e-5);
  EXPECT_LE(test::relative_l2(c, b), 1e-5);
  std::cout << wino->winograd_convolutions() << " Winograd convolutions, " << wino->num_reorder_steps() << " reorder(s) against "
            << direct->num_reorder_steps() << " without Winograd and " << onednn_layout->num_reorder_steps()
            << " with oneDNN's layouts; rel L2 between them " << test::relative_l2(a, b) << ", " << test::relative_l2(c, b) << "\n";
}

// The same fixture with the default options on a CPU without oneDNN's
// Winograd kernels (AVX2): the 3x3 stride-1 convolutions are planned as
// direct ones from the start, so the plan is the direct one. Planned for
// Winograd, they fell back to the direct kernel with oneDNN's own layout
// (nChw8c) beside the plan's nChw16c: reorders in every block and residual
// adds that could not fuse.
TEST(PlanLayouts, DefaultPlanWithoutWinogradKernelsStaysBlocked) {
  onnx::Graph g = test::load_fixture_graph("onnx-resnet");
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  std::map<std::string, onnx::Dims> dims = {{"input", {2, 3, 64, 64}}};
  auto plan = build_plan(eng, g, dims, PlanOptions{});
  if (plan->winograd_convolutions() > 0) GTEST_SKIP() << "this CPU has Winograd kernels (AVX-512): the test above covers it";
  EXPECT_LE(plan->num_reorder_steps(), 1u) << "the default plan reorders activations between layouts";
  PlanOptions direct_options;
  direct_options.winograd = false;
  auto direct = build_plan(eng, g, dims, direct_options);
  std::vector<float> input(2 * 3 * 64 * 64);
  for (size_t i = 0; i < input.size(); ++i) input[i] = std::sin(0.011f * static_cast<float>(i));
  EXPECT_LE(test::relative_l2(test::run_plan(*plan, input), test::run_plan(*direct, input)), 1e-6);
}

// A graph with one float input "x" of [batch, c, hw, hw] and one output "z".
onnx::Graph image_graph(int64_t opset, int64_t c, int64_t hw) {
  onnx::Graph g;
  g.opset = opset;
  g.inputs = {"x"};
  g.outputs = {"z"};
  g.types["x"] = {onnx::DType::kFloat, {-1, c, hw, hw}};
  return g;
}

onnx::Node with_float(onnx::Node nd, const char* name, float v) {
  onnx::Attribute a;
  a.kind = onnx::Attribute::kFloat;
  a.f = v;
  nd.attrs[name] = a;
  return nd;
}

// Two 1x1 bottleneck blocks, relu(W2 relu(W1 x + b1) + b2 + x), the first
// on the graph input: its residual is plain NCHW. Before the residual copy
// oneDNN ran both blocks' expand convolutions with its GEMM-based kernel
// (ResNet-50's 14x14 stage that way at batch 8: 205 ms against 48).
TEST(PlanLayouts, PlainResidualDoesNotForceTheGemmKernel) {
  const int64_t n = 2, c = 32, w = 16, hw = 4;
  onnx::Graph g = image_graph(13, c, hw);
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

// InstanceNormalization, the activations exporters emit beyond Relu (Elu,
// Selu, Celu, Mish, PRelu), an inference Dropout and GlobalMaxPool all run as
// oneDNN primitives or views,
// none on the host, and match the ONNX formulas computed here in double.
TEST(PlanLayouts, ExporterActivationsRunAsPrimitives) {
  const int64_t n = 2, c = 3, hw = 5;
  onnx::Graph g = image_graph(18, c, hw);
  for (const char* k : {"in_scale", "in_bias"}) {
    g.constants.emplace(k, filled({c}, 0.8f, k[3]));
    g.types[k] = {onnx::DType::kFloat, {c}};
  }
  g.nodes.push_back(node("InstanceNormalization", {"x", "in_scale", "in_bias"}, "i"));
  g.nodes.push_back(with_float(node("Elu", {"i"}, "e"), "alpha", 0.5f));
  g.nodes.push_back(node("Selu", {"e"}, "s"));
  g.nodes.push_back(with_float(node("Celu", {"s"}, "c"), "alpha", 2.0f));
  g.nodes.push_back(node("Mish", {"c"}, "m"));
  g.constants.emplace("slope", filled({c, 1, 1}, 0.5f, 7));  // per channel, as after a convolution
  g.types["slope"] = {onnx::DType::kFloat, {c, 1, 1}};
  g.nodes.push_back(node("PRelu", {"m", "slope"}, "p"));
  g.nodes.push_back(node("Dropout", {"p"}, "d"));
  g.nodes.push_back(node("GlobalMaxPool", {"d"}, "z"));
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  auto plan = build_plan(eng, g, {{"x", {n, c, hw, hw}}}, PlanOptions{});
  EXPECT_EQ(plan->num_reference_steps(), 0u);

  std::vector<float> x(static_cast<size_t>(n * c * hw * hw));
  for (size_t i = 0; i < x.size(); ++i) x[i] = 3.0f * std::sin(0.37f * static_cast<float>(i));
  const double selu_a = 1.67326319217681884765625, selu_g = 1.05070102214813232421875;
  std::vector<float> want(static_cast<size_t>(n * c), -INFINITY);
  const size_t area = static_cast<size_t>(hw * hw);
  std::vector<double> mean(want.size(), 0), var(want.size(), 0);
  for (size_t i = 0; i < x.size(); ++i) mean[i / area] += x[i] / static_cast<double>(area);
  for (size_t i = 0; i < x.size(); ++i) var[i / area] += (x[i] - mean[i / area]) * (x[i] - mean[i / area]) / static_cast<double>(area);
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t ch = (i / area) % static_cast<size_t>(c);
    const auto constant = [&](const char* k) { return double(static_cast<const float*>(g.constants.at(k).raw())[ch]); };
    double v = (x[i] - mean[i / area]) / std::sqrt(var[i / area] + 1e-5) * constant("in_scale") + constant("in_bias");  // InstanceNorm
    v = v < 0 ? 0.5 * std::expm1(v) : v;                               // Elu, alpha 0.5
    v = selu_g * (v <= 0 ? selu_a * std::expm1(v) : v);                 // Selu
    v = std::max(0.0, v) + std::min(0.0, 2.0 * std::expm1(v / 2.0));  // Celu, alpha 2
    v = v * std::tanh(std::log1p(std::exp(v)));                         // Mish
    const size_t plane = i / static_cast<size_t>(hw * hw);
    const double slope = static_cast<const float*>(g.constants.at("slope").raw())[plane % static_cast<size_t>(c)];
    v = v < 0 ? slope * v : v;  // PRelu
    float& m = want[plane];
    m = std::max(m, static_cast<float>(v));
  }
  std::vector<float> got = test::run_plan(*plan, x);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5 + 1e-5 * std::abs(want[i])) << i;
}

// Naive NCHW convolution (stride 1, zero padding `pad`, bias), in double:
// the reference for the hand-built graphs below.
std::vector<float> conv2d(const std::vector<float>& x, int64_t n, int64_t c, int64_t hw, const HostTensor& w, const HostTensor& b,
                          int64_t pad, bool relu) {
  const int64_t oc = w.dims()[0], k = w.dims()[2];
  const float* wp = static_cast<const float*>(w.raw());
  const float* bp = static_cast<const float*>(b.raw());
  std::vector<float> y(static_cast<size_t>(n * oc * hw * hw));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < oc; ++o)
      for (int64_t r = 0; r < hw; ++r)
        for (int64_t q = 0; q < hw; ++q) {
          double v = bp[o];
          for (int64_t ch = 0; ch < c; ++ch)
            for (int64_t dr = 0; dr < k; ++dr)
              for (int64_t dq = 0; dq < k; ++dq) {
                int64_t rr = r + dr - pad, qq = q + dq - pad;
                if (rr < 0 || qq < 0 || rr >= hw || qq >= hw) continue;
                v += double(wp[((o * c + ch) * k + dr) * k + dq]) * x[static_cast<size_t>(((i * c + ch) * hw + rr) * hw + qq)];
              }
          y[static_cast<size_t>(((i * oc + o) * hw + r) * hw + q)] = static_cast<float>(relu ? std::max(v, 0.0) : v);
        }
  return y;
}

// Conv -> Elu -> Conv -> Mish: both activations ride on their convolution
// as oneDNN post-ops (no eltwise primitive of their own).
TEST(PlanLayouts, EluAndMishFuseIntoConvolutions) {
  const int64_t n = 2, c = 16, hw = 6;
  onnx::Graph g = image_graph(18, c, hw);
  for (const char* k : {"1", "2"}) {
    g.constants.emplace(std::string("w") + k, filled({c, c, 3, 3}, 0.1f, k[0]));
    g.constants.emplace(std::string("b") + k, filled({c}, 0.1f, k[0] + 10));
    g.types[std::string("w") + k] = {onnx::DType::kFloat, {c, c, 3, 3}};
    g.types[std::string("b") + k] = {onnx::DType::kFloat, {c}};
  }
  auto conv3x3 = [](std::string in, std::string k, std::string out) {
    onnx::Node nd = node("Conv", {std::move(in), "w" + k, "b" + k}, std::move(out));
    onnx::Attribute pads;
    pads.kind = onnx::Attribute::kInts;
    pads.ints = {1, 1, 1, 1};
    nd.attrs["pads"] = pads;
    return nd;
  };
  g.nodes.push_back(conv3x3("x", "1", "a"));
  g.nodes.push_back(with_float(node("Elu", {"a"}, "e"), "alpha", 0.7f));
  g.nodes.push_back(conv3x3("e", "2", "m"));
  g.nodes.push_back(node("Mish", {"m"}, "z"));
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  auto plan = build_plan(eng, g, {{"x", {n, c, hw, hw}}}, PlanOptions{});
  // Unfused, each activation would be a step named after its node ("e", "z").
  for (const auto& k : plan->kernels()) EXPECT_TRUE(k.rfind("e: ", 0) != 0 && k.rfind("z: ", 0) != 0) << k;
  EXPECT_EQ(plan->kernels().size(), 4u);  // the input's reorder, two convolutions, the output's reorder
  EXPECT_EQ(plan->num_reference_steps(), 0u);

  std::vector<float> x(static_cast<size_t>(n * c * hw * hw));
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::cos(0.21f * static_cast<float>(i));
  std::vector<float> want = conv2d(x, n, c, hw, g.constants.at("w1"), g.constants.at("b1"), 1, false);
  for (float& v : want) v = v < 0 ? 0.7f * std::expm1(v) : v;
  want = conv2d(want, n, c, hw, g.constants.at("w2"), g.constants.at("b2"), 1, false);
  for (float& v : want) v = static_cast<float>(v * std::tanh(std::log1p(std::exp(double(v)))));
  EXPECT_LE(test::relative_l2(test::run_plan(*plan, x), want), 1e-5);
}

// A SqueezeNet Fire module: a 1x1 squeeze, then a 1x1 and a 3x3 expand
// joined by Concat, read by a 1x1 convolution with `head_c` outputs; and its
// result computed by hand.
struct FireModule {
  static constexpr int64_t c = 16, ex = 32;
  int64_t head_c, n, sq, hw;
  onnx::Graph g;

  explicit FireModule(int64_t head_channels, int64_t batch = 2, int64_t squeeze = 32, int64_t size = 8)
      : head_c(head_channels), n(batch), sq(squeeze), hw(size) {
    g.opset = 13;
    g.inputs = {"x"};
    g.outputs = {"y"};
    g.types["x"] = {onnx::DType::kFloat, {-1, c, hw, hw}};
    weights("squeeze", sq, c, 1, 0);
    weights("e1", ex, sq, 1, 2);
    weights("e3", ex, sq, 3, 4);
    weights("head", head_c, 2 * ex, 1, 6);
    conv("x", "squeeze", false);
    g.nodes.push_back(node("Relu", {"squeeze"}, "s"));
    conv("s", "e1", false);
    g.nodes.push_back(node("Relu", {"e1"}, "e1r"));
    conv("s", "e3", true);
    g.nodes.push_back(node("Relu", {"e3"}, "e3r"));
    onnx::Node cat = node("Concat", {"e1r", "e3r"}, "cat");
    onnx::Attribute axis;
    axis.kind = onnx::Attribute::kInt;
    axis.i = 1;
    cat.attrs["axis"] = axis;
    g.nodes.push_back(cat);
    conv("cat", "head", false);
    g.nodes.push_back(node("Relu", {"head"}, "y"));
  }

  std::vector<float> input() const {
    std::vector<float> x(static_cast<size_t>(n * c * hw * hw));
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::cos(0.37f * static_cast<float>(i));
    return x;
  }

  std::vector<float> reference(const std::vector<float>& x) const {
    auto w = [&](const std::string& k) -> const HostTensor& { return g.constants.at(k); };
    std::vector<float> s = conv2d(x, n, c, hw, w("squeeze_w"), w("squeeze_b"), 0, true);
    std::vector<float> e1 = conv2d(s, n, sq, hw, w("e1_w"), w("e1_b"), 0, true), e3 = conv2d(s, n, sq, hw, w("e3_w"), w("e3_b"), 1, true);
    std::vector<float> joined;
    for (int64_t i = 0; i < n; ++i) {
      auto image = [&](const std::vector<float>& v) { return v.begin() + i * ex * hw * hw; };
      joined.insert(joined.end(), image(e1), image(e1) + ex * hw * hw);
      joined.insert(joined.end(), image(e3), image(e3) + ex * hw * hw);
    }
    return conv2d(joined, n, 2 * ex, hw, w("head_w"), w("head_b"), 0, true);
  }

 private:
  void weights(const std::string& name, int64_t o, int64_t i, int64_t k, int seed) {
    g.constants.emplace(name + "_w", filled({o, i, k, k}, 0.3f, seed));
    g.constants.emplace(name + "_b", filled({o}, 0.1f, seed + 1));
    g.types[name + "_w"] = {onnx::DType::kFloat, {o, i, k, k}};
    g.types[name + "_b"] = {onnx::DType::kFloat, {o}};
  }
  void conv(const std::string& in, const std::string& name, bool pad) {
    onnx::Node cv = node("Conv", {in, name + "_w", name + "_b"}, name);
    if (pad) {
      onnx::Attribute a;
      a.kind = onnx::Attribute::kInts;
      a.ints = {1, 1, 1, 1};
      cv.attrs["pads"] = a;
    }
    g.nodes.push_back(cv);
  }
};

// A Concat whose reader cannot take its parts (here a 1x1 convolution with
// more outputs than inputs: SqueezeNet's classifier) runs in the layout of
// its inputs (nChw16c when the 3x3 runs as Winograd, else the first input's
// NHWC) instead of both going to plain NCHW and the result back
// (SqueezeNet 1.1: 5.0 -> 2.7 ms at batch 1 in oneDNN's own timings).
// Zero-size tensors never reach oneDNN: its matmul descriptor raised
// SIGFPE for an empty inner axis (found by fuzz_onnx_models). A MatMul of
// [2,0] by [0,3] is a [2,3] of zeros (an empty sum), computed by the host
// kernels; a Relu of [0,3] is empty and needs no step.
TEST(PlanLayouts, EmptyTensorsTakeTheHostKernels) {
  onnx::Graph g;
  g.opset = 13;
  g.inputs = {"a", "e"};
  g.outputs = {"z", "r"};
  g.types["a"] = {onnx::DType::kFloat, {2, 0}};
  g.types["e"] = {onnx::DType::kFloat, {0, 3}};
  g.constants["b"] = HostTensor(onnx::DType::kFloat, {0, 3});
  g.types["b"] = {onnx::DType::kFloat, {0, 3}};
  g.nodes.push_back(node("MatMul", {"a", "b"}, "z"));
  g.nodes.push_back(node("Relu", {"e"}, "r"));
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  Plan plan(engine, prepare_graph(onnx::specialize(g, {{"a", {2, 0}}, {"e", {0, 3}}})));
  EXPECT_EQ(plan.num_primitives(), 0u);
  EXPECT_EQ(plan.num_reference_steps(), 1u);  // the MatMul; the Relu's output is empty and needs no step
  auto out = run_graph(engine, g, {HostTensor(onnx::DType::kFloat, {2, 0}), HostTensor(onnx::DType::kFloat, {0, 3})});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].dims(), (onnx::Dims{2, 3}));
  for (int64_t i = 0; i < out[0].numel(); ++i) EXPECT_EQ(out[0].data<float>()[i], 0.0f);
  EXPECT_EQ(out[1].dims(), (onnx::Dims{0, 3}));

  // The same MatMul with a bias Add and a Relu after it: no fusion onto the
  // empty product (the host kernels take no post-ops), so relu(0 + b) = relu(b).
  g.outputs = {"y"};
  g.constants["bias"] = filled({3}, 1.0f, 1);
  g.types["bias"] = {onnx::DType::kFloat, {3}};
  g.nodes.pop_back();
  g.nodes.push_back(node("Add", {"z", "bias"}, "zb"));
  g.nodes.push_back(node("Relu", {"zb"}, "y"));
  auto fused = run_graph(engine, g, {HostTensor(onnx::DType::kFloat, {2, 0}), HostTensor(onnx::DType::kFloat, {0, 3})});
  ASSERT_EQ(fused.size(), 1u);
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(fused[0].data<float>()[i], std::max(0.0f, g.constants["bias"].data<float>()[i % 3]));

  // A batch-0 convolution (no host kernel exists for Conv) has an empty
  // output and needs no step at all.
  onnx::Graph c = image_graph(13, 2, 4);
  c.constants["w"] = filled({3, 2, 1, 1}, 0.5f, 2);
  c.types["w"] = {onnx::DType::kFloat, {3, 2, 1, 1}};
  c.nodes.push_back(node("Conv", {"x", "w"}, "cv"));
  c.nodes.push_back(node("Relu", {"cv"}, "z"));
  Plan conv_plan(engine, prepare_graph(onnx::specialize(c, {{"x", {0, 2, 4, 4}}})));
  EXPECT_EQ(conv_plan.num_primitives(), 0u);
  auto empty = run_graph(engine, c, {HostTensor(onnx::DType::kFloat, {0, 2, 4, 4})});
  ASSERT_EQ(empty.size(), 1u);
  EXPECT_EQ(empty[0].dims(), (onnx::Dims{0, 3, 4, 4}));
}

// A scalar input added after a MatMul whose output rows are 1 wide rides
// as a post-op; its empty dims once reached dims.back() (UBSan, found by
// fuzz_onnx_service). y = a b + s.
// The views binary_step tries before oneDNN's reference binary kernel:
// runs of dims b broadcasts over (or has in full) merged, a's 1s dropped.
TEST(PlanLayouts, BroadcastRunsMergeIntoTheShapesJitKernelsTake) {
  using D = onnx::Dims;
  EXPECT_EQ(merge_broadcast_runs({64, 3, 49, 49}, {1, 3, 49, 49}), std::make_pair(D{64, 7203}, D{1, 7203}));
  EXPECT_EQ(merge_broadcast_runs({1, 64, 3, 49, 49}, {1, 64, 1, 49, 49}), std::make_pair(D{64, 3, 2401}, D{64, 1, 2401}));
  EXPECT_EQ(merge_broadcast_runs({8, 64, 3, 49, 49}, {1, 64, 1, 49, 49}),
            std::make_pair(D{8, 64, 3, 2401}, D{1, 64, 1, 2401}));
  EXPECT_EQ(merge_broadcast_runs({2, 3, 4}, {2, 3, 4}), std::make_pair(D{1, 24}, D{1, 24}));
  EXPECT_EQ(merge_broadcast_runs({2, 3, 4}, {1, 1, 1}), std::make_pair(D{1, 24}, D{1, 1}));
  EXPECT_EQ(merge_broadcast_runs({2, 3}, {2, 2}), std::make_pair(D{2, 3}, D{2, 2}));  // not a broadcast: unchanged
  // Written out over all but the leading broadcast: b [1, 2, 1, 3] as [1, 2, 2, 3].
  std::vector<float> b = {1, 2, 3, 4, 5, 6};
  HostTensor e = expand_broadcast(b.data(), {1, 2, 1, 3}, {1, 2, 2, 3});
  ASSERT_EQ(e.dims(), (D{1, 2, 2, 3}));
  EXPECT_EQ(std::vector<float>(e.data<float>(), e.data<float>() + 12),
            (std::vector<float>{1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6}));
}

TEST(PlanLayouts, ScalarResidualAfterAOneColumnMatMul) {
  onnx::Graph g;
  g.opset = 13;
  g.inputs = {"a", "s"};
  g.outputs = {"y"};
  g.types["a"] = {onnx::DType::kFloat, {2, 3}};
  g.types["s"] = {onnx::DType::kFloat, {}};
  g.constants["b"] = filled({3, 1}, 1.0f, 3);
  g.types["b"] = {onnx::DType::kFloat, {3, 1}};
  g.nodes.push_back(node("MatMul", {"a", "b"}, "m"));
  g.nodes.push_back(node("Add", {"m", "s"}, "y"));
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  HostTensor a = filled({2, 3}, 1.0f, 4), sc(onnx::DType::kFloat, {});
  sc.data<float>()[0] = 0.25f;
  auto out = run_graph(engine, g, {a, sc});
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].dims(), (onnx::Dims{2, 1}));
  const float* b = g.constants["b"].data<float>();
  for (int r = 0; r < 2; ++r) {
    float want = 0.25f;
    for (int k = 0; k < 3; ++k) want += a.data<float>()[r * 3 + k] * b[k];
    EXPECT_NEAR(out[0].data<float>()[r], want, 1e-5f);
  }
}

TEST(PlanLayouts, ConcatKeepsItsInputsLayout) {
  FireModule fire(80);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  auto plan = build_plan(eng, fire.g, {{"x", {fire.n, fire.c, fire.hw, fire.hw}}}, PlanOptions{});
  const dnnl::memory::dims cat_dims = {fire.n, 2 * fire.ex, fire.hw, fire.hw};
  bool found = false;
  for (int i = 0; i < plan->num_slots(); ++i) {
    const Slot& s = plan->slot(i);
    if (s.name != "cat") continue;
    found = true;
    EXPECT_NE(s.md, dnnl::memory::desc(cat_dims, dnnl::memory::data_type::f32, dnnl::memory::format_tag::abcd))
        << "the Concat ran in plain NCHW";
    // With a Winograd 3x3 (AVX-512) one input is nChw16c, with blocked
    // convolutions on AVX2 nChw8c, and the channel counts are whole blocks:
    // the join stays blocked (reorders into slices of the output instead of
    // oneDNN's generic blocked concat).
    if (plan->winograd_convolutions() > 0) {
      EXPECT_EQ(s.md, dnnl::memory::desc(cat_dims, dnnl::memory::data_type::f32, dnnl::memory::format_tag::aBcd16b));
    } else if (!cpu_has_isa(dnnl::cpu_isa::avx512_core) && cpu_has_isa(dnnl::cpu_isa::avx2)) {
      EXPECT_EQ(s.md, dnnl::memory::desc(cat_dims, dnnl::memory::data_type::f32, dnnl::memory::format_tag::aBcd8b));
    }
  }
  EXPECT_TRUE(found) << "no slot named 'cat'";
  EXPECT_LE(test::relative_l2(test::run_plan(*plan, fire.input()), fire.reference(fire.input())), 1e-5);
}

// Read by a 1x1 convolution with fewer outputs than inputs (the next Fire
// module's squeeze), the Concat is never built: the convolution runs once
// per branch and sums (onnx::split_concat_consumers), so the plan has no
// slot for it and no copy or reorder step of its own (SqueezeNet 1.1: 1.07-1.10x
// whole network at batch 8).
TEST(PlanLayouts, ConcatReadByANarrowingConvolutionIsNeverBuilt) {
  FireModule fire(16);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  auto plan = build_plan(eng, fire.g, {{"x", {fire.n, fire.c, fire.hw, fire.hw}}}, PlanOptions{});
  for (int i = 0; i < plan->num_slots(); ++i) EXPECT_NE(plan->slot(i).name, "cat") << "the Concat was materialised";
  int head_parts = 0;
  for (const auto& k : plan->kernels()) {
    EXPECT_EQ(k.find("cat"), std::string::npos) << "a step for the Concat: " << k;
    head_parts += k.rfind("head/part", 0) == 0;
  }
  EXPECT_EQ(head_parts, 2) << "the head convolution should run once per branch";
  EXPECT_LE(test::relative_l2(test::run_plan(*plan, fire.input()), fire.reference(fire.input())), 1e-5);
}

// A 3x3 convolution on 16 input channels (SqueezeNet's first expands) at
// batch 8: oneDNN's F(4x4, 3x3) Winograd kernel spends its time on tile
// transforms there, so it runs oneDNN's blocked direct kernel on the
// nChw16c squeeze output instead.
TEST(PlanLayouts, SixteenChannelConvolutionSkipsLargeTileWinograd) {
  FireModule fire(16, 8, 16, 28);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  auto plan = build_plan(eng, fire.g, {{"x", {fire.n, fire.c, fire.hw, fire.hw}}}, PlanOptions{});
  bool e3 = false;
  for (const auto& k : plan->kernels()) {
    EXPECT_EQ(k.find("jit_wino_4x3"), std::string::npos) << k;
    if (k.rfind("e3: ", 0) == 0) {
      e3 = true;
      EXPECT_EQ(k.find("gemm"), std::string::npos) << k;
      EXPECT_EQ(k.find("ref"), std::string::npos) << k;
    }
  }
  EXPECT_TRUE(e3) << "no step for the 3x3 expand";
  EXPECT_LE(test::relative_l2(test::run_plan(*plan, fire.input()), fire.reference(fire.input())), 1e-5);
}

// Two 3x3 convolutions, c -> c on hw x hw images, padded to keep the size.
onnx::Graph three_by_three_pair(int64_t c, int64_t hw) {
  onnx::Graph g = image_graph(13, c, hw);
  std::string in = "x";
  for (int i = 0; i < 2; ++i) {
    std::string p = "c" + std::to_string(i);
    g.constants.emplace(p + "w", filled({c, c, 3, 3}, 0.05f, 2 * i));
    g.constants.emplace(p + "b", filled({c}, 0.1f, 2 * i + 1));
    for (const char* k : {"w", "b"}) g.types[p + k] = {onnx::DType::kFloat, g.constants.at(p + k).dims()};
    onnx::Node conv = node("Conv", {in, p + "w", p + "b"}, i == 1 ? "z" : p);
    conv.attrs["pads"] = test::ints({1, 1, 1, 1});
    g.nodes.push_back(conv);
    in = conv.outputs[0];
  }
  return g;
}

// F(4x4, 3x3) Winograd holds its weights packed at 4x their size: a layer
// whose weights outweigh its source 4 to 1 (512 channels on 7x7 at batch
// 8: 9.4 MB of weights, 0.8 MB of source) runs the direct kernel, while a
// layer on a large image (64 channels on 28x28) keeps Winograd. Both
// compute what the direct plan does.
TEST(PlanLayouts, LargeTileWinogradOnlyWhereWeightsDoNotDominate) {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  PlanOptions direct;
  direct.winograd = false;
  const int64_t n = 8;
  struct Case {
    int64_t c, hw;
    bool winograd;
  };
  for (Case k : {Case{64, 28, true}, Case{512, 7, false}}) {
    onnx::Graph g = three_by_three_pair(k.c, k.hw);
    auto plan = build_plan(eng, g, {{"x", {n, k.c, k.hw, k.hw}}}, PlanOptions{});
    if (k.winograd && plan->winograd_convolutions() == 0)
      GTEST_SKIP() << "oneDNN has no Winograd convolution on this CPU (needs AVX-512)";
    if (k.winograd) {
      EXPECT_EQ(plan->winograd_convolutions(), 2) << k.c << " channels on " << k.hw << "x" << k.hw;
    } else {
      EXPECT_EQ(plan->winograd_convolutions(), 0) << k.c << " channels on " << k.hw << "x" << k.hw;
      for (const auto& kernel : plan->kernels()) EXPECT_EQ(kernel.find("wino"), std::string::npos) << kernel;
    }
    auto reference = build_plan(eng, g, {{"x", {n, k.c, k.hw, k.hw}}}, direct);
    std::vector<float> x(static_cast<size_t>(n * k.c * k.hw * k.hw));
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::cos(0.3f * static_cast<float>(i));
    EXPECT_LE(test::relative_l2(test::run_plan(*plan, x), test::run_plan(*reference, x)), 1e-5) << k.c << " channels";
  }
}

// A MatMul with constant [K, N] weights (how transformers and ViT export
// Linear) runs oneDNN's sgemm with the weights packed [N, K] wherever sgemm
// is the kernel (no brgemm below AVX-512): row-major [K, N] ran a BERT FFN
// at batch 1 (128 x 768 x 3072) at half the speed. The result must not
// change.
TEST(PlanLayouts, ConstantMatMulWeightsPackedForSgemm) {
  const int64_t rows = 48, k = 64, nout = 192;
  onnx::Graph g;
  g.opset = 17;
  g.inputs = {"x"};
  g.outputs = {"y"};
  g.types["x"] = {onnx::DType::kFloat, {-1, rows, k}};
  g.constants.emplace("w", filled({k, nout}, 0.1f, 7));
  g.types["w"] = {onnx::DType::kFloat, {k, nout}};
  g.nodes.push_back(node("MatMul", {"x", "w"}, "y"));
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  const int64_t n = 2;
  auto plan = build_plan(eng, g, {{"x", {n, rows, k}}}, PlanOptions{});
  bool sgemm = false;
  for (const auto& kern : plan->kernels()) sgemm = sgemm || kern.find("gemm:jit") != std::string::npos;
  bool packed_nk = false;
  const dnnl::memory::desc nk({k, nout}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ba);
  for (int i = 0; i < plan->num_slots(); ++i)
    packed_nk = packed_nk || (plan->slot(i).constant && plan->slot(i).md == nk);
  if (sgemm) {
    EXPECT_TRUE(packed_nk) << "sgemm runs the MatMul with its weights not packed [N, K]";
  }

  std::vector<float> x(static_cast<size_t>(n * rows * k));
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.7f * static_cast<float>(i));
  const float* w = static_cast<const float*>(g.constants.at("w").raw());
  std::vector<float> want(static_cast<size_t>(n * rows * nout));
  for (int64_t r = 0; r < n * rows; ++r)
    for (int64_t o = 0; o < nout; ++o) {
      double v = 0;
      for (int64_t j = 0; j < k; ++j) v += double(x[static_cast<size_t>(r * k + j)]) * w[j * nout + o];
      want[static_cast<size_t>(r * nout + o)] = static_cast<float>(v);
    }
  EXPECT_LE(test::relative_l2(test::run_plan(*plan, x), want), 1e-6);
}

}  // namespace
}  // namespace mrt::onednn
