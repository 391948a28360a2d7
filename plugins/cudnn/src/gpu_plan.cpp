// Lowering of a fused ONNX graph to GPU steps (see gpu_plan.h). Every
// decision that does not need a device is made here, once per input dims.
#include "gpu_plan.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

#include "mrt/onnx/ops.h"

namespace mrt::cudnn {

using onnx::Node;
using onnx::OnnxError;
using onnx::PostOp;

Precision parse_precision(const std::string& s) {
  if (s == "fp32" || s == "float32") return Precision::kFloat32;
  if (s == "tf32") return Precision::kTF32;
  if (s == "fp16" || s == "float16") return Precision::kFloat16;
  if (s == "bf16" || s == "bfloat16") return Precision::kBFloat16;
  throw OnnxError("option precision '" + s + "' is not one of fp32, tf32, fp16, bf16");
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kFloat32: return "fp32";
    case Precision::kTF32: return "tf32";
    case Precision::kFloat16: return "fp16";
    case Precision::kBFloat16: return "bf16";
  }
  return "?";
}

DType storage_dtype(Precision p) {
  if (p == Precision::kFloat16) return DType::kFloat16;
  if (p == Precision::kBFloat16) return DType::kBFloat16;
  return DType::kFloat;
}

std::string conv_algorithm_key(const ConvGeometry& g, DType storage, Precision p, bool fused_relu) {
  std::string k;
  for (int64_t v : {g.n, g.c, g.h, g.w, g.k, g.r, g.s, g.group, g.pad_h, g.pad_w, g.stride_h, g.stride_w, g.dil_h, g.dil_w})
    k += std::to_string(v) + ",";
  return k + onnx::dtype_name(storage) + "," + precision_name(p) + (fused_relu ? ",relu" : "");
}

StridedView broadcast_view(const Dims& in, const Dims& out) {
  if (out.size() > static_cast<size_t>(kMaxKernelRank)) throw OnnxError("rank " + std::to_string(out.size()) + " is more than the GPU kernels handle (8)");
  StridedView v;
  v.rank = static_cast<int>(out.size());
  int64_t stride = 1;
  size_t lead = out.size() - in.size();
  for (size_t d = out.size(); d-- > 0;) {
    v.out_dims[d] = out[d];
    if (d < lead) continue;
    int64_t id = in[d - lead];
    v.in_strides[d] = id == 1 ? 0 : stride;
    stride *= id;
  }
  return v;
}

size_t GpuPlan::activation_bytes() const { return std::accumulate(buffer_bytes.begin(), buffer_bytes.end(), size_t{0}); }

std::vector<size_t> assign_buffers(const std::vector<size_t>& bytes, const std::vector<int>& first_use, const std::vector<int>& last_use,
                                   const std::vector<bool>& pinned, std::vector<int>& buffer_of) {
  size_t n = bytes.size();
  buffer_of.assign(n, -1);
  std::vector<size_t> sizes;
  std::vector<int> free_list;
  // Values in order of their first use; at each step, values whose last use
  // was earlier give their buffer back before new values take one.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return first_use[a] < first_use[b]; });
  std::vector<size_t> live;
  for (size_t v : order) {
    if (pinned[v]) {
      buffer_of[v] = static_cast<int>(sizes.size());
      sizes.push_back(bytes[v]);
      continue;
    }
    for (auto it = live.begin(); it != live.end();) {
      if (last_use[*it] < first_use[v]) {
        free_list.push_back(buffer_of[*it]);
        it = live.erase(it);
      } else {
        ++it;
      }
    }
    int best = -1;
    for (int b : free_list)  // the smallest free buffer that fits
      if (sizes[b] >= bytes[v] && (best < 0 || sizes[b] < sizes[best])) best = b;
    if (best < 0)  // none fits: grow the largest free one
      for (int b : free_list)
        if (best < 0 || sizes[b] > sizes[best]) best = b;
    if (best >= 0) {
      free_list.erase(std::find(free_list.begin(), free_list.end(), best));
      sizes[best] = std::max(sizes[best], bytes[v]);
    } else {
      best = static_cast<int>(sizes.size());
      sizes.push_back(bytes[v]);
    }
    buffer_of[v] = best;
    live.push_back(v);
  }
  return sizes;
}

namespace {

bool is_float_storage(DType t) { return t == DType::kFloat || t == DType::kFloat16 || t == DType::kBFloat16; }

const std::map<std::string, UnaryOp>& unary_ops() {
  static const std::map<std::string, UnaryOp> m = {
      {"Relu", UnaryOp::kRelu},       {"LeakyRelu", UnaryOp::kLeakyRelu}, {"Sigmoid", UnaryOp::kSigmoid},
      {"Tanh", UnaryOp::kTanh},       {"Erf", UnaryOp::kErf},             {"Gelu", UnaryOp::kGelu},
      {"GeluTanh", UnaryOp::kGeluTanh}, {"Exp", UnaryOp::kExp},           {"Log", UnaryOp::kLog},
      {"Sqrt", UnaryOp::kSqrt},       {"Neg", UnaryOp::kNeg},             {"Abs", UnaryOp::kAbs},
      {"Reciprocal", UnaryOp::kReciprocal}, {"Clip", UnaryOp::kClip},     {"HardSigmoid", UnaryOp::kHardSigmoid},
      {"HardSwish", UnaryOp::kHardSwish}, {"Softplus", UnaryOp::kSoftplus}, {"Elu", UnaryOp::kElu}, {"Mish", UnaryOp::kMish},
      {"Floor", UnaryOp::kFloor},     {"Ceil", UnaryOp::kCeil},
  };
  return m;
}

const std::map<std::string, BinaryOp>& binary_ops() {
  static const std::map<std::string, BinaryOp> m = {
      {"Add", BinaryOp::kAdd}, {"Sub", BinaryOp::kSub}, {"Mul", BinaryOp::kMul}, {"Div", BinaryOp::kDiv},
      {"Pow", BinaryOp::kPow}, {"Max", BinaryOp::kMax}, {"Min", BinaryOp::kMin}, {"PRelu", BinaryOp::kPRelu},
  };
  return m;
}

const std::set<std::string>& reshape_ops() {
  static const std::set<std::string> s = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"};
  return s;
}

class Lowering {
 public:
  Lowering(onnx::FusedGraph fused, Precision p, bool allow_nhwc) : plan_(std::make_unique<GpuPlan>()), allow_nhwc_(allow_nhwc) {
    plan_->fused = std::move(fused);
    plan_->precision = p;
  }

  std::unique_ptr<GpuPlan> run() {
    const onnx::Graph& g = graph();
    for (const auto& in : g.inputs) plan_->input_slots.push_back(slot_of(in, Slot::kInput));
    for (size_t i = 0; i < g.nodes.size(); ++i) lower(g.nodes[i], plan_->fused.post_ops[i]);
    for (const auto& out : g.outputs) {
      int s = slot_of(out, Slot::kActivation);
      if (plan_->slots[s].role == Slot::kActivation) plan_->slots[s].role = Slot::kOutput;
      plan_->output_slots.push_back(s);
    }
    if (allow_nhwc_ && storage_dtype(plan_->precision) != DType::kFloat) go_channels_last();
    place_buffers();
    return std::move(plan_);
  }

 private:
  const onnx::Graph& graph() const { return plan_->fused.graph; }
  const Dims& dims_of(const std::string& v) const { return graph().types.at(v).dims; }

  int slot_of(const std::string& name, Slot::Role role) {
    auto it = index_.find(name);
    if (it != index_.end()) return it->second;
    const onnx::Graph& g = graph();
    Slot s;
    s.name = name;
    auto t = g.types.find(name);
    if (t == g.types.end()) throw OnnxError("value '" + name + "' has no inferred type");
    s.host_dtype = t->second.dtype;
    s.dtype = s.host_dtype == DType::kFloat ? storage_dtype(plan_->precision) : s.host_dtype;
    s.dims = t->second.dims;
    s.bytes = static_cast<size_t>(onnx::element_count(s.dims)) * onnx::dtype_size(s.dtype);
    s.role = role;
    if (g.is_constant(name)) {
      s.role = Slot::kConstant;
      s.constant = &g.constants.at(name);
      plan_->constant_bytes += s.bytes;
    }
    plan_->slots.push_back(std::move(s));
    int id = static_cast<int>(plan_->slots.size() - 1);
    index_[name] = id;
    return id;
  }

  bool floats(const Step& st) const {
    for (int s : st.inputs)
      if (s >= 0 && !is_float_storage(plan_->slot(s).dtype)) return false;
    for (int s : st.outputs)
      if (s >= 0 && !is_float_storage(plan_->slot(s).dtype)) return false;
    return true;
  }

  onnx::OpContext context(const Node& n) const {
    onnx::OpContext ctx{n, graph().opset, {}, {}};
    for (const auto& in : n.inputs) {
      ctx.input_types.push_back(in.empty() ? nullptr : &graph().types.at(in));
      ctx.input_values.push_back(in.empty() || !graph().is_constant(in) ? nullptr : &graph().constants.at(in));
    }
    return ctx;
  }

  void host(Step& st, const std::string& why) {
    if (!onnx::has_reference(st.node->op_type))
      throw OnnxError(st.node->describe(graph().opset) + ": the cudnn backend cannot run it (" + why + ")");
    st.kind = Step::kHost;
    st.why_host = why;
    st.epilogue.clear();
  }

  void lower(const Node& n, const std::vector<PostOp>& post) {
    Step st;
    st.node = &n;
    for (const auto& in : n.inputs) st.inputs.push_back(in.empty() ? -1 : slot_of(in, Slot::kActivation));
    for (const auto& out : n.outputs) st.outputs.push_back(out.empty() ? -1 : slot_of(out, Slot::kActivation));
    onnx::with_node_context(n, graph().opset, [&] { choose(st, post); });
    if (st.kind == Step::kHost) {
      if (!post.empty()) throw OnnxError(n.describe(graph().opset) + ": post-ops on a host step");
      ++plan_->host_steps;
    }
    if (st.kind == Step::kGather) plan_->has_gather = true;
    plan_->steps.push_back(std::move(st));
  }

  Epilogue epilogue_of(const PostOp& p, const Dims& out) {
    Epilogue e;
    e.alpha = p.alpha;
    e.beta = p.beta;
    if (p.kind == PostOp::kAdd) {
      e.binary = true;
      e.alpha = 1;
      e.operand = slot_of(p.operand, Slot::kActivation);
      e.operand_view = broadcast_view(dims_of(p.operand), out);
    } else if (p.kind == PostOp::kLinear) {
      e.unary = UnaryOp::kLinear;
    } else {
      e.unary = unary_ops().at(p.op_type);
    }
    return e;
  }

  void choose(Step& st, const std::vector<PostOp>& post) {
    const Node& n = *st.node;
    const std::string& op = n.op_type;
    const Dims& out = st.outputs.empty() || st.outputs[0] < 0 ? Dims{} : plan_->slot(st.outputs[0]).dims;
    for (const auto& p : post) st.epilogue.push_back(epilogue_of(p, out));
    bool all_float = floats(st);
    if (op == "Conv" && all_float) return conv(st, post);
    if (op == "ConvTranspose" && all_float) return conv_transpose(st);
    if ((op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool" || op == "GlobalMaxPool") && all_float) return pool(st);
    if ((op == "Gemm" || op == "MatMul") && all_float) return gemm(st);
    if ((op == "Softmax" || op == "LogSoftmax") && all_float) return softmax(st);
    if (op == "LayerNormalization" && all_float && n.outputs.size() == 1) {
      int64_t axis = n.attr_int("axis", -1);
      int64_t r = static_cast<int64_t>(out.size());
      if (axis < 0) axis += r;
      st.kind = Step::kLayerNorm;
      st.outer = onnx::element_count(Dims(out.begin(), out.begin() + axis));
      st.inner = onnx::element_count(Dims(out.begin() + axis, out.end()));
      st.epsilon = n.attr_float("epsilon", 1e-5f);
      return;
    }
    if (unary_ops().count(op) && all_float && op != "Clip" && op != "Gelu") {
      st.kind = Step::kUnary;
      st.unary = unary_ops().at(op);
      st.alpha = n.attr_float("alpha", op == "LeakyRelu" ? 0.01f : op == "HardSigmoid" ? 0.2f : 1.0f);
      st.beta = n.attr_float("beta", 0.5f);
      return;
    }
    if (op == "Gelu" && all_float) {
      st.kind = Step::kUnary;
      st.unary = n.attr_string("approximate", "none") == "tanh" ? UnaryOp::kGeluTanh : UnaryOp::kGelu;
      return;
    }
    if (op == "Clip" && all_float) {
      onnx::OpContext ctx = context(n);
      double lo = -3.0e38, hi = 3.0e38;
      if (graph().opset < 11) {
        lo = n.attr_float("min", -3.0e38f);
        hi = n.attr_float("max", 3.0e38f);
      } else {
        // Bounds are optional inputs; a given one must be a constant.
        auto bound = [&](size_t i, double& value) {
          if (i >= n.inputs.size() || n.inputs[i].empty()) return;
          if (!ctx.input_values[i])
            throw OnnxError(n.describe(graph().opset) + ": the cudnn backend needs Clip's bounds as constants");
          value = ctx.input_values[i]->to_double().at(0);
        };
        bound(1, lo);
        bound(2, hi);
      }
      st.kind = Step::kUnary;
      st.unary = UnaryOp::kClip;
      st.alpha = static_cast<float>(lo);
      st.beta = static_cast<float>(hi);
      return;
    }
    if (binary_ops().count(op) && all_float && n.inputs.size() == 2) {
      st.kind = Step::kBinary;
      st.binary = binary_ops().at(op);
      st.views[0] = broadcast_view(dims_of(n.inputs[0]), out);
      st.views[1] = broadcast_view(dims_of(n.inputs[1]), out);
      return;
    }
    if (reshape_ops().count(op) && st.outputs.size() == 1) {
      st.kind = Step::kStridedCopy;
      st.views[0] = broadcast_view({onnx::element_count(out)}, {onnx::element_count(out)});
      return;
    }
    if (op == "Transpose") return transpose(st);
    if (op == "Slice") return slice(st);
    if (op == "Expand") {
      st.kind = Step::kStridedCopy;
      st.views[0] = broadcast_view(dims_of(n.inputs[0]), out);
      return;
    }
    if (op == "Concat") {
      int64_t axis = n.attr_int("axis", 0);
      if (axis < 0) axis += static_cast<int64_t>(out.size());
      st.kind = Step::kConcat;
      st.outer = onnx::element_count(Dims(out.begin(), out.begin() + axis));
      st.axis = axis;
      return;
    }
    if (op == "Gather") {
      const Dims& data = dims_of(n.inputs[0]);
      int64_t axis = n.attr_int("axis", 0);
      if (axis < 0) axis += static_cast<int64_t>(data.size());
      DType it = plan_->slot(st.inputs[1]).dtype;
      if (it != DType::kInt64 && it != DType::kInt32) return host(st, "indices of dtype " + onnx::dtype_name(it));
      st.kind = Step::kGather;
      st.outer = onnx::element_count(Dims(data.begin(), data.begin() + axis));
      st.axis_dim = data[static_cast<size_t>(axis)];
      st.inner = onnx::element_count(Dims(data.begin() + axis + 1, data.end()));
      return;
    }
    if (op == "Cast") {  // kernels::cast covers every dtype the front end lets Cast carry
      st.kind = Step::kCast;
      return;
    }
    host(st, all_float ? "no GPU kernel for this operator" : "no GPU kernel for these dtypes");
  }

  void conv(Step& st, const std::vector<PostOp>& post) {
    const Node& n = *st.node;
    onnx::OpContext ctx = context(n);
    onnx::WindowSpec w = onnx::conv_window(ctx);
    const Dims& x = ctx.input_types[0]->dims;
    const Dims& wt = ctx.input_types[1]->dims;
    if (x.size() != 3 && x.size() != 4)
      throw OnnxError(n.describe(graph().opset) + ": the cudnn backend runs 1-D and 2-D convolutions only, not " + std::to_string(x.size() - 2) + "-D");
    bool two_d = x.size() == 4;
    for (size_t i = 0; i < w.pads_begin.size(); ++i)
      if (w.pads_begin[i] != w.pads_end[i])
        throw OnnxError(n.describe(graph().opset) + ": the cudnn backend needs symmetric pads (begin " + std::to_string(w.pads_begin[i]) +
                        ", end " + std::to_string(w.pads_end[i]) + ")");
    ConvGeometry& c = st.conv;
    c.n = x[0], c.c = x[1], c.h = two_d ? x[2] : 1, c.w = two_d ? x[3] : x[2];
    c.k = wt[0], c.r = two_d ? wt[2] : 1, c.s = two_d ? wt[3] : wt[2];
    c.group = w.group;
    c.pad_h = two_d ? w.pads_begin[0] : 0, c.pad_w = w.pads_begin.back();
    c.stride_h = two_d ? w.strides[0] : 1, c.stride_w = w.strides.back();
    c.dil_h = two_d ? w.dilations[0] : 1, c.dil_w = w.dilations.back();
    c.out_h = two_d ? w.out[0] : 1, c.out_w = w.out.back();
    st.kind = Step::kConv;
    // cudnnConvolutionBiasActivationForward computes relu(conv + z + bias):
    // used for [Relu] and [Add(same-shape residual), Relu] tails.
    const Dims& out = plan_->slot(st.outputs[0]).dims;
    size_t i = 0;
    if (i < post.size() && post[i].kind == PostOp::kAdd && dims_of(post[i].operand) == out) {
      st.residual = slot_of(post[i].operand, Slot::kActivation);
      ++i;
    }
    if (i + 1 == post.size() && post[i].kind == PostOp::kEltwise && post[i].op_type == "Relu") {
      st.fused_relu = true;
      st.epilogue.clear();
    } else {
      st.residual = -1;
    }
    st.algo_key = conv_algorithm_key(c, plan_->slot(st.outputs[0]).dtype, plan_->precision, st.fused_relu);
  }

  void pool(Step& st) {
    const Node& n = *st.node;
    const Dims& x = dims_of(n.inputs[0]);
    const Dims& out = plan_->slot(st.outputs[0]).dims;
    if (x.size() != 4) return host(st, "pooling over other than 2 spatial dims");
    if (n.outputs.size() > 1 && !n.outputs[1].empty()) return host(st, "MaxPool Indices output");
    PoolGeometry& p = st.pool;
    p.max = n.op_type == "MaxPool" || n.op_type == "GlobalMaxPool";
    p.n = x[0], p.c = x[1], p.h = x[2], p.w = x[3];
    p.out_h = out[2], p.out_w = out[3];
    if (n.op_type.rfind("Global", 0) == 0) {
      p.win_h = p.h, p.win_w = p.w;
    } else {
      onnx::OpContext ctx = context(n);
      onnx::WindowSpec w = onnx::pool_window(ctx);
      p.win_h = w.kernel[0], p.win_w = w.kernel[1];
      p.stride_h = w.strides[0], p.stride_w = w.strides[1];
      p.pad_h = w.pads_begin[0], p.pad_w = w.pads_begin[1];
      p.pad_h_end = w.pads_end[0], p.pad_w_end = w.pads_end[1];
      p.dil_h = w.dilations[0], p.dil_w = w.dilations[1];
      p.count_include_pad = n.attr_int("count_include_pad", 0) != 0;
      // cuDNN floors the output size with symmetric pads and no dilation.
      int64_t fh = (p.h + 2 * p.pad_h - p.win_h) / p.stride_h + 1, fw = (p.w + 2 * p.pad_w - p.win_w) / p.stride_w + 1;
      p.cudnn = fh == p.out_h && fw == p.out_w && p.pad_h_end == p.pad_h && p.pad_w_end == p.pad_w && p.dil_h == 1 && p.dil_w == 1;
    }
    st.kind = Step::kPool;
  }

  // ConvTranspose is the backward-data pass of the convolution that maps
  // its output back to its input: same filters (ONNX's [C_in, C_out/group,
  // k, k] is that convolution's [K, C/group, R, S]) and pads.
  void conv_transpose(Step& st) {
    const Node& n = *st.node;
    onnx::OpContext ctx = context(n);
    onnx::WindowSpec w = onnx::conv_transpose_window(ctx);
    const Dims& x = ctx.input_types[0]->dims;
    const Dims& wt = ctx.input_types[1]->dims;
    const Dims& out = plan_->slot(st.outputs[0]).dims;
    if (x.size() != 4)
      throw OnnxError(n.describe(graph().opset) + ": the cudnn backend runs 2-D transposed convolutions only");
    ConvGeometry& c = st.conv;
    c.n = x[0], c.k = x[1], c.out_h = x[2], c.out_w = x[3];  // the forward convolution's output
    c.c = out[1], c.h = out[2], c.w = out[3];                 // and its input
    c.r = wt[2], c.s = wt[3], c.group = w.group;
    c.pad_h = w.pads_begin[0], c.pad_w = w.pads_begin[1];
    c.stride_h = w.strides[0], c.stride_w = w.strides[1];
    c.dil_h = w.dilations[0], c.dil_w = w.dilations[1];
    // The forward convolution of the output must give back the input's
    // size; end pads and output_padding within a stride keep that true.
    for (int i = 0; i < 2; ++i) {
      int64_t in = i ? c.w : c.h, pad = i ? c.pad_w : c.pad_h, k = i ? c.s : c.r, dil = i ? c.dil_w : c.dil_h,
              stride = i ? c.stride_w : c.stride_h, want = i ? c.out_w : c.out_h;
      if ((in + 2 * pad - (k - 1) * dil - 1) / stride + 1 != want)
        throw OnnxError(n.describe(graph().opset) + ": the cudnn backend cannot express these ConvTranspose pads");
    }
    st.kind = Step::kConvTranspose;
    st.algo_key = "T" + conv_algorithm_key(c, plan_->slot(st.outputs[0]).dtype, plan_->precision, false);
  }

  void gemm(Step& st) {
    const Node& n = *st.node;
    const Dims& a = dims_of(n.inputs[0]);
    const Dims& b = dims_of(n.inputs[1]);
    const Dims& y = plan_->slot(st.outputs[0]).dims;
    GemmGeometry& g = st.gemm;
    if (n.op_type == "Gemm") {
      g.trans_a = n.attr_int("transA", 0) != 0;
      g.trans_b = n.attr_int("transB", 0) != 0;
      g.alpha = n.attr_float("alpha", 1.0f);
      g.m = y[0], g.n = y[1];
      g.k = g.trans_a ? a[0] : a[1];
      if (!n.input(2).empty()) {  // C, scaled by beta, added before the post-ops
        Epilogue e;
        e.binary = true;
        e.operand = slot_of(n.inputs[2], Slot::kActivation);
        e.operand_view = broadcast_view(dims_of(n.inputs[2]), y);
        e.alpha = n.attr_float("beta", 1.0f);
        st.epilogue.insert(st.epilogue.begin(), e);
      }
      st.kind = Step::kGemm;
      return;
    }
    // MatMul: 1-D operands are promoted like numpy; batch dims broadcast.
    if (a.size() < 2 || b.size() < 2) return host(st, "MatMul with a 1-D operand");
    g.m = a[a.size() - 2], g.k = a.back(), g.n = b.back();
    Dims ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2), yb(y.begin(), y.end() - 2);
    int64_t batch = onnx::element_count(yb);
    bool b_shared = onnx::element_count(bb) == 1;
    bool a_shared = onnx::element_count(ab) == 1;
    if (b_shared) {  // [..., M, K] x [K, N]: one GEMM with M' = batch * M
      g.m *= onnx::element_count(ab);
      g.batch = 1;
    } else if (ab == bb || (ab.size() < bb.size() && a_shared)) {
      g.batch = batch;
      g.stride_a = a_shared ? 0 : g.m * g.k;
      g.stride_b = g.k * g.n;
      g.stride_y = g.m * g.n;
      if (!a_shared && onnx::element_count(ab) != batch) return host(st, "MatMul with broadcast batch dims");
    } else {
      return host(st, "MatMul with broadcast batch dims");
    }
    st.kind = Step::kGemm;
  }

  void softmax(Step& st) {
    const Node& n = *st.node;
    const Dims& x = dims_of(n.inputs[0]);
    int64_t r = static_cast<int64_t>(x.size());
    int64_t axis = n.attr_int("axis", graph().opset >= 13 ? -1 : 1);
    if (axis < 0) axis += r;
    st.kind = Step::kSoftmax;
    st.log_softmax = n.op_type == "LogSoftmax";
    st.outer = onnx::element_count(Dims(x.begin(), x.begin() + axis));
    if (graph().opset >= 13) {  // over one axis
      st.axis_dim = x[static_cast<size_t>(axis)];
      st.inner = onnx::element_count(Dims(x.begin() + axis + 1, x.end()));
    } else {  // over everything from `axis` on, flattened
      st.axis_dim = onnx::element_count(Dims(x.begin() + axis, x.end()));
      st.inner = 1;
    }
  }

  void transpose(Step& st) {
    const Node& n = *st.node;
    const Dims& x = dims_of(n.inputs[0]);
    std::vector<int64_t> perm = n.attr_ints("perm");
    if (perm.empty())
      for (size_t d = x.size(); d-- > 0;) perm.push_back(static_cast<int64_t>(d));
    StridedView contiguous = broadcast_view(x, x);
    StridedView& v = st.views[0];
    v.rank = static_cast<int>(x.size());
    for (size_t d = 0; d < perm.size(); ++d) {
      v.out_dims[d] = x[static_cast<size_t>(perm[d])];
      v.in_strides[d] = contiguous.in_strides[static_cast<size_t>(perm[d])];
      if (x[static_cast<size_t>(perm[d])] == 1) v.in_strides[d] = 0;
    }
    st.kind = Step::kStridedCopy;
  }

  void slice(Step& st) {
    const Node& n = *st.node;
    onnx::OpContext ctx = context(n);
    onnx::SliceSpec s = onnx::slice_spec(ctx);
    const Dims& x = ctx.input_types[0]->dims;
    StridedView& view = st.views[0];
    view.rank = static_cast<int>(x.size());
    int64_t stride = 1;
    for (size_t d = x.size(); d-- > 0;) {
      view.out_dims[d] = s.out[d];
      view.in_strides[d] = stride * s.steps[d];
      view.base += s.starts[d] * stride;
      stride *= x[d];
    }
    st.kind = Step::kStridedCopy;
  }

  void place_buffers() {
    size_t n = plan_->slots.size();
    std::vector<size_t> bytes(n);
    std::vector<int> first(n, -1), last(n, -1);
    std::vector<bool> pinned(n, false);
    for (size_t s = 0; s < n; ++s) {
      bytes[s] = plan_->slots[s].bytes;
      pinned[s] = plan_->slots[s].role == Slot::kInput || plan_->slots[s].role == Slot::kOutput;
    }
    auto use = [&](int s, int i) {
      if (s < 0) return;
      if (first[s] < 0) first[s] = i;
      last[s] = std::max(last[s], i);
    };
    for (size_t i = 0; i < plan_->steps.size(); ++i) {
      const Step& st = plan_->steps[i];
      int at = static_cast<int>(i);
      for (int s : st.outputs) use(s, at);
      for (int s : st.inputs) use(s, at);
      use(st.residual, at);
      for (const auto& e : st.epilogue) use(e.operand, at);
    }
    // Constants live in their own uploads, not in the buffers.
    std::vector<size_t> ids;
    for (size_t s = 0; s < n; ++s)
      if (plan_->slots[s].role != Slot::kConstant) ids.push_back(s);
    std::vector<size_t> b;
    std::vector<int> f, l;
    std::vector<bool> p;
    for (size_t s : ids) {
      b.push_back(bytes[s]);
      f.push_back(first[s] < 0 ? 0 : first[s]);
      l.push_back(last[s] < 0 ? f.back() : last[s]);
      p.push_back(pinned[s]);
    }
    std::vector<int> buffer_of;
    plan_->buffer_bytes = assign_buffers(b, f, l, p, buffer_of);
    for (size_t i = 0; i < ids.size(); ++i) plan_->slots[ids[i]].buffer = buffer_of[i];
  }

  // A spatial value: 4-D, float, more than one pixel. (A 1x1 map is the
  // same bytes in either layout.)
  bool spatial(int s) const {
    const Slot& sl = plan_->slot(s);
    return sl.dims.size() == 4 && sl.dims[2] * sl.dims[3] > 1 && is_float_storage(sl.dtype);
  }

  // Channels-last when every spatial value is read and written only by
  // steps that work in NHWC: convolution (input, residual), cuDNN pooling,
  // unary steps, and binary steps whose operands all have the output's dims
  // (or are single values). Graph inputs get a transposing copy; spatial
  // graph outputs or constants keep the plan NCHW.
  void go_channels_last() {
    std::vector<bool> is_input(plan_->slots.size(), false);
    for (int s : plan_->input_slots) is_input[static_cast<size_t>(s)] = true;
    auto same_or_single = [&](int s, const Dims& out) {
      return plan_->slot(s).dims == out || onnx::element_count(plan_->slot(s).dims) == 1;
    };
    bool any_conv = false;
    for (const Step& st : plan_->steps) {
      bool conv = st.kind == Step::kConv, pool = st.kind == Step::kPool && st.pool.cudnn;
      bool eltwise = st.kind == Step::kUnary || st.kind == Step::kBinary;
      any_conv = any_conv || conv;
      bool touches = false;
      for (int s : st.inputs) touches = touches || (s >= 0 && spatial(s));
      for (int s : st.outputs) touches = touches || (s >= 0 && spatial(s));
      if (!touches) continue;
      if (!conv && !pool && !eltwise) return;
      const Dims& out = plan_->slot(st.outputs[0]).dims;
      if (st.kind == Step::kBinary && !(same_or_single(st.inputs[0], out) && same_or_single(st.inputs[1], out))) return;
      for (const Epilogue& e : st.epilogue)
        if (e.binary && !same_or_single(e.operand, out)) return;
      if (conv && plan_->slot(st.inputs[0]).role == Slot::kConstant) return;
    }
    for (size_t s = 0; s < plan_->slots.size(); ++s) {
      const Slot& sl = plan_->slots[s];
      if (!spatial(static_cast<int>(s))) continue;
      if (sl.role == Slot::kOutput || (sl.role == Slot::kConstant && onnx::element_count(sl.dims) > 1)) {
        // A spatial constant used as a filter is fine (uploaded KRSC); any other is not.
        bool filter_only = sl.role == Slot::kConstant;
        for (const Step& st : plan_->steps)
          for (size_t i = 0; i < st.inputs.size(); ++i)
            if (st.inputs[i] == static_cast<int>(s) && !(st.kind == Step::kConv && i == 1)) filter_only = false;
        if (!filter_only) return;
      }
    }
    if (!any_conv) return;
    // Eligible: mark values, filters and cuDNN steps; transpose the inputs.
    plan_->nhwc = true;
    for (size_t s = 0; s < plan_->slots.size(); ++s)
      if (spatial(static_cast<int>(s)) && plan_->slots[s].role == Slot::kActivation) plan_->slots[s].nhwc = true;
    for (Step& st : plan_->steps) {
      if (st.kind == Step::kConv) {
        st.nhwc = true;
        plan_->slots[static_cast<size_t>(st.inputs[1])].nhwc = true;
        st.algo_key += ",nhwc";
      }
      if (st.kind == Step::kPool) st.nhwc = true;
    }
    for (int in : std::vector<int>(plan_->input_slots)) {
      if (!spatial(in)) continue;
      Slot copy = plan_->slot(in);
      copy.name += "/nhwc";
      copy.role = Slot::kActivation;
      copy.nhwc = true;
      plan_->slots.push_back(copy);
      int to = static_cast<int>(plan_->slots.size() - 1);
      for (Step& st : plan_->steps) {
        for (int& s : st.inputs)
          if (s == in) s = to;
        if (st.residual == in) st.residual = to;
        for (Epilogue& e : st.epilogue)
          if (e.operand == in) e.operand = to;
      }
      // y[n, h, w, c] = x[n, c, h, w]
      const Dims& d = copy.dims;
      Step t;
      t.kind = Step::kStridedCopy;
      t.node = nullptr;
      t.inputs = {in};
      t.outputs = {to};
      StridedView& v = t.views[0];
      v.rank = 4;
      v.out_dims = {d[0], d[2], d[3], d[1], 0, 0, 0, 0};
      v.in_strides = {d[1] * d[2] * d[3], d[3], 1, d[2] * d[3], 0, 0, 0, 0};
      plan_->steps.insert(plan_->steps.begin(), t);
    }
  }

  std::unique_ptr<GpuPlan> plan_;
  bool allow_nhwc_ = true;
  std::map<std::string, int> index_;
};

}  // namespace

std::unique_ptr<GpuPlan> build_gpu_plan(onnx::FusedGraph fused, Precision precision, bool allow_nhwc) {
  return Lowering(std::move(fused), precision, allow_nhwc).run();
}

}  // namespace mrt::cudnn
