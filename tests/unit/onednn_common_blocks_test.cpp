// The blocks small CNNs and BERT-style encoders are made of, as PyTorch
// exports them (squeeze-and-excitation with SiLU or hard gates, RegNetY's
// grouped convolutions, ShuffleNetV2's split and channel shuffle, depthwise
// + pointwise pairs, masked multi-head attention with LayerNormalization and
// Gelu, the common activations), each planned at batch 1 and 8: no step may
// run oneDNN's reference kernel or a host kernel on a sizeable tensor
// (Plan::slow_steps(), the planner's report; the squeeze-and-excitation Mul
// ran oneDNN's reference binary kernel at batch > 1, 20x slower than
// onnxruntime on EfficientNet-B0), and every output must match the host
// reference kernels (plugins/onnx-frontend's evaluate(), with the naive Conv and
// GlobalAveragePool below) within 1e-4 relative L2.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "batch_split.h"
#include "mrt/onnx/ops.h"
#include "onednn_plan_support.h"

namespace mrt::onednn {
namespace {

using onnx::DType;
using onnx::Dims;
using onnx::HostTensor;

// A graph under construction: nodes named after their one output, float
// constants of deterministic values, int64 shape operands.
struct Blocks {
  onnx::Graph g;
  int seed = 0;

  Blocks(int64_t opset, std::vector<std::pair<std::string, Dims>> inputs, const std::string& output) {
    g.opset = opset;
    for (auto& [name, dims] : inputs) {
      g.inputs.push_back(name);
      g.types[name] = {DType::kFloat, dims};
    }
    g.outputs = {output};
  }

  std::string fresh(const std::string& p) { return p + "_" + std::to_string(g.nodes.size()) + "_" + std::to_string(seed++); }

  std::string constant(HostTensor t, const std::string& p) {
    std::string n = fresh(p);
    g.types[n] = {t.dtype(), t.dims()};
    g.constants.emplace(n, std::move(t));
    return n;
  }
  std::string floats(Dims d, float scale) { return constant(test::filled(std::move(d), scale, seed), "w"); }
  std::string scalar(float v) {
    HostTensor t(DType::kFloat, {});
    t.data<float>()[0] = v;
    return constant(std::move(t), "c");
  }
  std::string int64s(std::vector<int64_t> v) {
    HostTensor t(DType::kInt64, {static_cast<int64_t>(v.size())});
    for (size_t i = 0; i < v.size(); ++i) t.data<int64_t>()[i] = v[i];
    return constant(std::move(t), "shape");
  }

  std::string op(const std::string& type, std::vector<std::string> inputs, std::map<std::string, onnx::Attribute> attrs = {},
                 std::string out = "") {
    if (out.empty()) out = fresh(type);
    onnx::Node n = test::node(type, std::move(inputs), out);
    n.attrs = std::move(attrs);
    g.nodes.push_back(std::move(n));
    return out;
  }

  std::string conv(const std::string& x, int64_t cin, int64_t cout, int64_t k = 1, int64_t stride = 1, int64_t group = 1) {
    float scale = static_cast<float>(std::sqrt(2.0 / static_cast<double>(cin / group * k * k)));
    std::string w = floats({cout, cin / group, k, k}, scale), b = floats({cout}, 0.1f);
    return op("Conv", {x, w, b},
              {{"kernel_shape", test::ints({k, k})}, {"strides", test::ints({stride, stride})}, {"pads", test::ints({k / 2, k / 2, k / 2, k / 2})},
               {"group", test::one_int(group)}});
  }

  // silu as exporters write it (x * Sigmoid(x)), relu, hswish, relu6 (Clip).
  std::string act(const std::string& x, const std::string& kind) {
    if (kind == "silu") return op("Mul", {x, op("Sigmoid", {x})});
    if (kind == "hswish") return op("HardSwish", {x});
    if (kind == "relu6") return op("Clip", {x, scalar(0), scalar(6)});
    return op("Relu", {x});
  }

  // Squeeze-and-excitation: x * gate(W2 act(W1 mean_hw(x))), the gate's
  // [N, C, 1, 1] broadcast over x's [N, C, H, W].
  // The mean is GlobalAveragePool (torchvision) or ReduceMean over H and W
  // (timm) with the hard gate.
  std::string se(const std::string& x, int64_t c, int64_t squeeze, const std::string& a, bool hard_gate) {
    std::string mean = hard_gate ? op("ReduceMean", {x}, {{"axes", test::ints({2, 3})}, {"keepdims", test::one_int(1)}})
                                 : op("GlobalAveragePool", {x});
    std::string s = act(conv(mean, c, squeeze), a);
    s = conv(s, squeeze, c);
    s = hard_gate ? op("HardSigmoid", {s}, {{"alpha", real(1.0f / 6)}, {"beta", real(0.5f)}}) : op("Sigmoid", {s});
    return op("Mul", {x, s});
  }

  static onnx::Attribute real(float v) {
    onnx::Attribute a;
    a.kind = onnx::Attribute::kFloat;
    a.f = v;
    return a;
  }
};

// --- the reference -----------------------------------------------------------------
// Conv (NCHW, groups, strides, explicit pads, bias) and GlobalAveragePool in
// double; everything else by the front end's host kernels.
HostTensor naive_conv(const onnx::Node& n, const HostTensor& x, const HostTensor& w, const HostTensor* b) {
  const Dims& xd = x.dims();
  const Dims& wd = w.dims();
  const int64_t N = xd[0], C = xd[1], H = xd[2], W = xd[3], O = wd[0], cg = wd[1], kh = wd[2], kw = wd[3];
  const int64_t group = n.attr_int("group", 1), og = O / group;
  const auto st = n.attr_ints("strides", {1, 1});
  const auto pads = n.attr_ints("pads", {0, 0, 0, 0});
  const int64_t OH = (H + pads[0] + pads[2] - kh) / st[0] + 1, OW = (W + pads[1] + pads[3] - kw) / st[1] + 1;
  HostTensor y(DType::kFloat, {N, O, OH, OW});
  const float *xp = x.data<float>(), *wp = w.data<float>();
  float* yp = y.data<float>();
  for (int64_t i = 0; i < N; ++i)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t r = 0; r < OH; ++r)
        for (int64_t q = 0; q < OW; ++q) {
          double v = b ? b->data<float>()[o] : 0.0;
          for (int64_t ci = 0; ci < cg; ++ci) {
            const int64_t ch = o / og * cg + ci;
            for (int64_t dr = 0; dr < kh; ++dr)
              for (int64_t dq = 0; dq < kw; ++dq) {
                int64_t rr = r * st[0] + dr - pads[0], qq = q * st[1] + dq - pads[1];
                if (rr < 0 || qq < 0 || rr >= H || qq >= W) continue;
                v += double(wp[((o * cg + ci) * kh + dr) * kw + dq]) * xp[((i * C + ch) * H + rr) * W + qq];
              }
          }
          yp[((i * O + o) * OH + r) * OW + q] = static_cast<float>(v);
        }
  return y;
}

std::map<std::string, HostTensor> reference(const onnx::Graph& g, const std::map<std::string, HostTensor>& inputs) {
  std::map<std::string, HostTensor> v = inputs;
  for (const auto& [name, t] : g.constants) v.emplace(name, t);
  for (const auto& n : g.nodes) {
    std::vector<const HostTensor*> in;
    for (const auto& name : n.inputs) in.push_back(name.empty() ? nullptr : &v.at(name));
    std::vector<HostTensor> out;
    if (n.op_type == "Conv") {
      out.push_back(naive_conv(n, *in[0], *in[1], in.size() > 2 ? in[2] : nullptr));
    } else if (n.op_type == "GlobalAveragePool") {
      const Dims& d = in[0]->dims();
      HostTensor y(DType::kFloat, {d[0], d[1], 1, 1});
      const int64_t area = d[2] * d[3];
      for (int64_t p = 0; p < d[0] * d[1]; ++p) {
        double s = 0;
        for (int64_t k = 0; k < area; ++k) s += in[0]->data<float>()[p * area + k];
        y.data<float>()[p] = static_cast<float>(s / static_cast<double>(area));
      }
      out.push_back(std::move(y));
    } else {
      out = onnx::evaluate(n, g.opset, in);
    }
    for (size_t i = 0; i < n.outputs.size(); ++i) v.insert_or_assign(n.outputs[i], std::move(out[i]));
  }
  return v;
}

std::vector<float> as_vector(const HostTensor& t) { return std::vector<float>(t.data<float>(), t.data<float>() + t.numel()); }

// The default "mask" input: ones, its last quarter zeros (no row fully
// masked).
float default_mask(int64_t i, const Dims& d) { return (i % d.back()) < d.back() * 3 / 4 ? 1.0f : 0.0f; }

// Plans `g` at `batch` (each input's first dim), requires no slow step,
// runs it on deterministic inputs (a "mask" input from `mask`) and compares
// with the reference. `kernel`, when given, must appear in the plan's
// kernel list.
void check_block(const onnx::Graph& g, int64_t batch,
                 const std::function<float(int64_t, const Dims&)>& mask = default_mask,
                 const std::string& kernel = "") {
  std::map<std::string, Dims> dims;
  std::map<std::string, HostTensor> inputs;
  for (const auto& name : g.inputs) {
    Dims d = g.types.at(name).dims;
    d[0] = batch;
    dims[name] = d;
    HostTensor t(DType::kFloat, d);
    float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i)
      p[i] = name == "mask" ? mask(i, d) : std::sin(0.37f * static_cast<float>(i) + 0.5f);
    inputs.emplace(name, std::move(t));
  }
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  auto plan = build_plan(eng, g, dims, PlanOptions{});
  for (const auto& s : plan->slow_steps()) ADD_FAILURE() << "batch " << batch << ": " << s.describe();
  EXPECT_EQ(plan->num_reference_steps(), 0u) << "batch " << batch;
  if (!kernel.empty()) {
    bool found = false;
    for (const auto& k : plan->kernels()) found = found || k.find(kernel) != std::string::npos;
    EXPECT_TRUE(found) << "no '" << kernel << "' step at batch " << batch;
  }

  auto ctx = plan->make_context();
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    int slot = plan->input_slots()[i];
    std::memcpy(ctx->data(slot), inputs.at(g.inputs[i]).raw(), plan->slot(slot).bytes);
  }
  ASSERT_TRUE(plan->run(*ctx, nullptr));
  int out = plan->output_slots()[0];
  const float* p = static_cast<const float*>(ctx->data(out));
  std::vector<float> got(p, p + plan->slot(out).bytes / sizeof(float));
  std::vector<float> want = as_vector(reference(onnx::specialize(g, dims), inputs).at(g.outputs[0]));
  EXPECT_LE(test::relative_l2(got, want), 1e-4) << "batch " << batch;
}

void check_batches(const onnx::Graph& g) {
  for (int64_t batch : {1, 8}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    check_block(g, batch);
  }
}

// --- the blocks --------------------------------------------------------------------
// EfficientNet's MBConv middle: 3x3 depthwise + SiLU, SE (SiLU, Sigmoid),
// 1x1 projection; MobileNetV3's with HardSwish, Relu and HardSigmoid (and
// the mean as ReduceMean).
onnx::Graph se_block(int64_t c, int64_t hw, bool mobilenet_v3) {
  Blocks b(17, {{"x", {-1, c, hw, hw}}}, "z");
  std::string x = b.act(b.conv("x", c, c, 3, 1, c), mobilenet_v3 ? "hswish" : "silu");
  x = b.se(x, c, std::max<int64_t>(8, c / 4), mobilenet_v3 ? "relu" : "silu", mobilenet_v3);
  b.g.nodes.push_back(test::node("Identity", {b.conv(x, c, std::max<int64_t>(16, c / 6))}, "z"));
  return b.g;
}

TEST(CommonBlocks, SqueezeExcitationEfficientNet) {
  for (auto [c, hw] : {std::pair<int64_t, int64_t>{32, 28}, {96, 14}, {144, 14}, {240, 7}}) {
    SCOPED_TRACE("C " + std::to_string(c));
    check_batches(se_block(c, hw, false));
  }
}

TEST(CommonBlocks, SqueezeExcitationMobileNetV3) {
  for (auto [c, hw] : {std::pair<int64_t, int64_t>{72, 14}, {120, 14}}) {
    SCOPED_TRACE("C " + std::to_string(c));
    check_batches(se_block(c, hw, true));
  }
}

// RegNetY: 1x1, 3x3 grouped (group width 8), SE (Relu, Sigmoid), 1x1,
// residual, Relu.
TEST(CommonBlocks, RegNetYGroupedWithSqueezeExcitation) {
  for (auto [c, hw] : {std::pair<int64_t, int64_t>{48, 14}, {104, 14}, {208, 7}, {440, 7}}) {
    SCOPED_TRACE("C " + std::to_string(c));
    Blocks b(17, {{"x", {-1, c, hw, hw}}}, "z");
    std::string y = b.act(b.conv("x", c, c), "relu");
    y = b.act(b.conv(y, c, c, 3, 1, c / 8), "relu");
    y = b.se(y, c, std::max<int64_t>(8, c / 4), "relu", false);
    b.op("Relu", {b.op("Add", {b.conv(y, c, c), "x"})}, {}, "z");
    check_batches(b.g);
  }
}

// ShuffleNetV2's unit: Split in halves, 1x1 / 3x3 depthwise / 1x1 on one,
// Concat, channel shuffle as Reshape [N, 2, C/2, H, W], Transpose, Reshape.
TEST(CommonBlocks, ShuffleNetChannelShuffle) {
  const int64_t c = 116, half = 58, hw = 14;
  Blocks b(17, {{"x", {-1, c, hw, hw}}}, "z");
  onnx::Node split = test::node("Split", {"x", b.int64s({half, half})}, "x1");
  split.outputs = {"x1", "x2"};
  split.attrs["axis"] = test::one_int(1);
  b.g.nodes.push_back(split);
  std::string y = b.act(b.conv("x2", half, half), "relu");
  y = b.act(b.conv(b.conv(y, half, half, 3, 1, half), half, half), "relu");
  std::string cat = b.op("Concat", {"x1", y}, {{"axis", test::one_int(1)}});
  std::string t = b.op("Transpose", {b.op("Reshape", {cat, b.int64s({0, 2, half, hw, hw})})}, {{"perm", test::ints({0, 2, 1, 3, 4})}});
  b.op("Reshape", {t, b.int64s({0, c, hw, hw})}, {}, "z");
  check_batches(b.g);
}

// MobileNetV2's depthwise + pointwise pair with Relu6 (Clip), stride 1 and 2.
TEST(CommonBlocks, DepthwisePointwise) {
  const int64_t c = 96, hw = 14;
  Blocks b(17, {{"x", {-1, c, hw, hw}}}, "z");
  std::string y = b.act(b.conv(b.act(b.conv("x", c, c, 3, 1, c), "relu6"), c, 64), "relu6");
  y = b.act(b.conv(y, 64, 64, 3, 2, 64), "relu6");
  b.op("Identity", {b.conv(y, 64, 160)}, {}, "z");
  check_batches(b.g);
}

// One BERT encoder layer as exported at opset 17: a [N, S] 0/1 mask turned
// into an additive [N, 1, 1, S] one, four heads, Softmax, residual,
// LayerNormalization, Gelu written out with Erf.
TEST(CommonBlocks, MaskedAttentionLayerNormGelu) {
  const int64_t s = 32, d = 64, heads = 4, dh = d / heads;
  Blocks b(17, {{"x", {-1, s, d}}, {"mask", {-1, s}}}, "z");
  auto linear = [&](const std::string& x, int64_t in, int64_t out) {
    return b.op("Add", {b.op("MatMul", {x, b.floats({in, out}, static_cast<float>(1 / std::sqrt(double(in))))}), b.floats({out}, 0.1f)});
  };
  std::string m = b.op("Mul", {b.op("Sub", {b.scalar(1), "mask"}), b.scalar(-10000)});
  m = b.op("Unsqueeze", {m, b.int64s({1, 2})});
  auto split_heads = [&](const std::string& x, std::vector<int64_t> perm) {
    return b.op("Transpose", {b.op("Reshape", {x, b.int64s({0, s, heads, dh})})}, {{"perm", test::ints(std::move(perm))}});
  };
  std::string q = split_heads(linear("x", d, d), {0, 2, 1, 3}), k = split_heads(linear("x", d, d), {0, 2, 3, 1}),
              v = split_heads(linear("x", d, d), {0, 2, 1, 3});
  std::string att = b.op("Div", {b.op("MatMul", {q, k}), b.scalar(std::sqrt(static_cast<float>(dh)))});
  att = b.op("Softmax", {b.op("Add", {att, m})}, {{"axis", test::one_int(-1)}});
  std::string ctx = b.op("Transpose", {b.op("MatMul", {att, v})}, {{"perm", test::ints({0, 2, 1, 3})}});
  ctx = b.op("Reshape", {ctx, b.int64s({0, s, d})});
  auto layer_norm = [&](const std::string& x, const std::string& out) {
    return b.op("LayerNormalization", {x, b.floats({d}, 1.0f), b.floats({d}, 0.1f)}, {{"axis", test::one_int(-1)}}, out);
  };
  std::string h = layer_norm(b.op("Add", {linear(ctx, d, d), "x"}), "");
  std::string f = linear(h, d, 4 * d);
  std::string erf = b.op("Erf", {b.op("Div", {f, b.scalar(std::sqrt(2.0f))})});
  f = b.op("Mul", {b.op("Mul", {f, b.op("Add", {erf, b.scalar(1)})}), b.scalar(0.5f)});
  layer_norm(b.op("Add", {linear(f, 4 * d, d), h}), "z");
  check_batches(b.g);
}

// GPT-2's MLP: c_fc, "gelu_new" (the tanh approximation, written out with
// Pow(x, 3) as transformers exports it, and with x*x*x), c_proj. The
// written-out Gelu must become one eltwise fused into c_fc, matching the
// written-out reference.
TEST(CommonBlocks, Gpt2MlpWithTanhGelu) {
  const int64_t s = 16, d = 64;
  for (bool pow_form : {true, false}) {
    SCOPED_TRACE(pow_form ? "Pow(x, 3)" : "x*x*x");
    Blocks b(17, {{"x", {-1, s, d}}}, "z");
    std::string h = b.op("Add", {b.op("MatMul", {"x", b.floats({d, 4 * d}, 0.125f)}), b.floats({4 * d}, 0.1f)});
    std::string cube = pow_form ? b.op("Pow", {h, b.scalar(3)}) : b.op("Mul", {h, b.op("Mul", {h, h})});
    std::string inner = b.op("Add", {h, b.op("Mul", {b.scalar(0.044715f), cube})});
    std::string t = b.op("Tanh", {b.op("Mul", {b.scalar(0.7978845608f), inner})});
    std::string g = b.op("Mul", {b.op("Mul", {b.scalar(0.5f), h}), b.op("Add", {b.scalar(1), t})});
    b.op("Add", {b.op("MatMul", {g, b.floats({4 * d, d}, 0.0625f)}), b.floats({d}, 0.1f)}, {}, "z");
    onnx::FusedGraph fused = prepare_graph(onnx::specialize(b.g, {{"x", {1, s, d}}}));
    for (const auto& n : fused.graph.nodes) {
      EXPECT_NE(n.op_type, "Pow");
      EXPECT_NE(n.op_type, "Tanh");
    }
    check_batches(b.g);
  }
}

// PyTorch's scaled_dot_product_attention export (transformers' BERT,
// DistilBERT, GPT-2, MiniLM): the mask is additive, -inf where a key is
// masked, and Where(IsNaN(p), 0, p) follows the softmax to zero the rows
// whose every key is masked (softmax over all -inf is NaN). The guard must
// plan as one host kernel on the arena (NanToValue), not two reference
// steps over [batch, heads, seq, seq], and an all-masked row must come out
// as zeros, not NaN.
TEST(CommonBlocks, SdpaAttentionNanGuard) {
  const int64_t s = 32, d = 64, heads = 4, dh = d / heads;
  Blocks b(17, {{"x", {-1, s, d}}, {"mask", {-1, s}}}, "z");
  auto proj = [&](std::vector<int64_t> perm) {
    std::string y = b.op("MatMul", {"x", b.floats({d, d}, static_cast<float>(1 / std::sqrt(double(d))))});
    return b.op("Transpose", {b.op("Reshape", {y, b.int64s({0, s, heads, dh})})},
                {{"perm", test::ints(std::move(perm))}});
  };
  std::string q = proj({0, 2, 1, 3}), k = proj({0, 2, 3, 1}), v = proj({0, 2, 1, 3});
  // 1 - 1/mask: 0 where mask is 1, -inf where it is 0 (a jit eltwise; the
  // export's Where over a bool mask is a small host step).
  std::string m = b.op("Add", {b.op("Neg", {b.op("Reciprocal", {"mask"})}), b.scalar(1)});
  m = b.op("Unsqueeze", {m, b.int64s({1, 2})});
  std::string att = b.op("Div", {b.op("MatMul", {q, k}), b.scalar(std::sqrt(static_cast<float>(dh)))});
  att = b.op("Softmax", {b.op("Add", {att, m})}, {{"axis", test::one_int(-1)}});
  att = b.op("Where", {b.op("IsNaN", {att}), b.scalar(0), att});
  std::string ctx = b.op("Transpose", {b.op("MatMul", {att, v})}, {{"perm", test::ints({0, 2, 1, 3})}});
  b.op("Reshape", {ctx, b.int64s({0, s, d})}, {}, "z");
  for (int64_t batch : {1, 8}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    check_block(b.g, batch, default_mask, "NanToValue");
    // Batch element 0 (and at batch 8 every odd one) has every key masked.
    check_block(b.g, batch, [](int64_t i, const Dims& dims) {
      const int64_t n = i / dims.back();
      return n == 0 || n % 2 == 1 ? 0.0f : default_mask(i, dims);
    });
  }
}

// Swin's shifted-window attention as torchvision exports it: 4 windows of
// 7x7 tokens per image, 3 heads of 32, the scores plus a learned relative
// position bias [1, heads, 49, 49] (broadcast over the windows) and the
// shift mask [1, windows, 1, 49, 49] (broadcast over the heads). oneDNN
// took the bias as a matmul post-op only in its reference kernel (304 ms a
// call on Swin-T, 0.05x onnxruntime), and the mask add in its reference
// binary kernel.
TEST(CommonBlocks, ShiftedWindowAttentionWithPositionBias) {
  const int64_t windows = 4, tokens = 49, heads = 3, dh = 32, d = heads * dh;
  Blocks b(17, {{"x", {-1, windows, tokens, d}}}, "z");
  auto project = [&](std::vector<int64_t> perm) {
    std::string y = b.op("MatMul", {"x", b.floats({d, d}, static_cast<float>(1 / std::sqrt(double(d))))});
    return b.op("Transpose", {b.op("Reshape", {y, b.int64s({-1, tokens, heads, dh})})}, {{"perm", test::ints(std::move(perm))}});
  };
  std::string q = project({0, 2, 1, 3}), k = project({0, 2, 3, 1}), v = project({0, 2, 1, 3});
  std::string att = b.op("Mul", {b.op("MatMul", {q, k}), b.scalar(1 / std::sqrt(static_cast<float>(dh)))});
  att = b.op("Add", {att, b.floats({1, heads, tokens, tokens}, 1.0f)});
  att = b.op("Reshape", {att, b.int64s({-1, windows, heads, tokens, tokens})});
  att = b.op("Add", {att, b.floats({1, windows, 1, tokens, tokens}, 2.0f)});
  att = b.op("Softmax", {b.op("Reshape", {att, b.int64s({-1, heads, tokens, tokens})})}, {{"axis", test::one_int(-1)}});
  std::string ctx = b.op("Transpose", {b.op("MatMul", {att, v})}, {{"perm", test::ints({0, 2, 1, 3})}});
  b.op("Reshape", {ctx, b.int64s({-1, windows, tokens, d})}, {}, "z");
  check_batches(b.g);
}

// Slices and Gathers as views copied out by one reorder (lower_slice.cpp):
// Swin's cyclic shift (two Slices and a Concat) and patch merging
// (x[:, 0::2, 0::2, :] and its three siblings, steps of 2), q, k and v
// taken out of one projection by Gather at a constant index (scalar and
// one-element indices, a negative one), and ShuffleNet's channel halves of
// a blocked activation.
TEST(CommonBlocks, SlicesAndConstantGathersAsViews) {
  const int64_t hw = 8, c = 16;
  Blocks b(17, {{"x", {-1, hw, hw, c}}}, "z");
  auto slice = [&](const std::string& x, std::vector<int64_t> starts, std::vector<int64_t> ends, std::vector<int64_t> axes,
                   std::vector<int64_t> steps) {
    return b.op("Slice", {x, b.int64s(std::move(starts)), b.int64s(std::move(ends)), b.int64s(std::move(axes)), b.int64s(std::move(steps))});
  };
  std::string rolled = b.op("Concat", {slice("x", {-3}, {hw}, {1}, {1}), slice("x", {0}, {-3}, {1}, {1})}, {{"axis", test::one_int(1)}});
  std::vector<std::string> quarters;
  for (auto [h, w] : {std::pair<int64_t, int64_t>{0, 0}, {1, 0}, {0, 1}, {1, 1}})
    quarters.push_back(slice(rolled, {h, w}, {hw, hw}, {1, 2}, {2, 2}));
  std::string merged = b.op("Concat", quarters, {{"axis", test::one_int(-1)}});  // [N, 4, 4, 64]
  std::string qkv = b.op("Reshape", {b.op("MatMul", {merged, b.floats({4 * c, 3 * c}, 0.125f)}), b.int64s({0, 16, 3, c})});
  qkv = b.op("Transpose", {qkv}, {{"perm", test::ints({2, 0, 1, 3})}});  // [3, N, 16, c]
  auto at = [&](int64_t i, bool vector) {
    HostTensor idx(DType::kInt64, vector ? Dims{1} : Dims{});
    idx.data<int64_t>()[0] = i;
    std::string g = b.op("Gather", {qkv, b.constant(std::move(idx), "idx")}, {{"axis", test::one_int(0)}});
    return vector ? b.op("Squeeze", {g, b.int64s({0})}) : g;
  };
  std::string q = at(0, false), k = at(-2, true), v = at(2, false);  // [N, 16, c]
  std::string att = b.op("Softmax", {b.op("MatMul", {q, b.op("Transpose", {k}, {{"perm", test::ints({0, 2, 1})}})})},
                         {{"axis", test::one_int(-1)}});
  // [N, 16, c] as an image [N, c, 4, 4] through convolutions (blocked), its
  // channels split in halves by Slice.
  std::string img = b.op("Transpose", {b.op("Reshape", {b.op("MatMul", {att, v}), b.int64s({0, 4, 4, c})})},
                         {{"perm", test::ints({0, 3, 1, 2})}});
  img = b.act(b.conv(img, c, 2 * c), "relu");
  std::string lo = slice(img, {0}, {c}, {1}, {1}), hi = slice(img, {c}, {2 * c}, {1}, {1});
  b.op("Concat", {b.conv(hi, c, c), lo}, {{"axis", test::one_int(1)}}, "z");
  check_batches(b.g);
}

// Gelu, SiLU and HardSwish on a graph input (plain NCHW) and after a
// convolution and a per-channel PRelu (the blocked layout), with a
// per-channel scale and a full-size Mul between the two.
TEST(CommonBlocks, Activations) {
  const int64_t c = 40, hw = 14;
  Blocks b(17, {{"x", {-1, c, hw, hw}}}, "z");
  auto all = [&](std::string x) {
    std::string e = b.op("Erf", {b.op("Div", {x, b.scalar(std::sqrt(2.0f))})});
    x = b.op("Mul", {b.op("Mul", {x, b.op("Add", {e, b.scalar(1)})}), b.scalar(0.5f)});
    return b.act(b.act(x, "silu"), "hswish");
  };
  std::string y = all("x");
  y = b.op("Mul", {y, b.floats({c, 1, 1}, 1.0f)});
  y = all(b.op("PRelu", {b.conv(y, c, c), b.floats({c, 1, 1}, 0.5f)}));
  b.op("Mul", {y, b.conv("x", c, c, 3)}, {}, "z");
  check_batches(b.g);
}

}  // namespace
}  // namespace mrt::onednn
