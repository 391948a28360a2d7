// Normalisations, softmax, reductions, concat, split, transpose and element-wise
// ops: oneDNN primitives where one fits, else false (the host kernel runs).
#include <algorithm>

#include "plan_builder.h"

namespace mrt::onednn {

int PlanBuilder::vector_slot(const std::string& v, int64_t c, const Node& n) {
  int s = plain(value(v));
  if (onnx::element_count(p_.slots_[s].dims) != c) fail(n, "'" + v + "' must hold " + std::to_string(c) + " values");
  return alias_slot(s, {c}, plain_md({c}), p_.slots_[s].name + "/vec");
}

void PlanBuilder::lower_batch_norm(const Node& n) {
  int src = value(n.inputs[0]);
  int64_t c = p_.slots_[src].dims.size() > 1 ? p_.slots_[src].dims[1] : 1;
  auto flags = dnnl::normalization_flags::use_global_stats | dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
  auto desc = dnnl::batch_normalization_forward::desc(dnnl::prop_kind::forward_inference, p_.slots_[src].md, n.attr_float("epsilon", 1e-5f), flags);
  auto pd = dnnl::batch_normalization_forward::primitive_desc(desc, user_attr(), p_.engine_);
  int out = output_slot(n, 0, pd.dst_desc());
  primitive_step(dnnl::batch_normalization_forward(pd),
                 {{DNNL_ARG_SRC, src}, {DNNL_ARG_SCALE, vector_slot(n.inputs[1], c, n)}, {DNNL_ARG_SHIFT, vector_slot(n.inputs[2], c, n)},
                  {DNNL_ARG_MEAN, vector_slot(n.inputs[3], c, n)}, {DNNL_ARG_VARIANCE, vector_slot(n.inputs[4], c, n)}, {DNNL_ARG_DST, out}},
                 n.name, pd.scratchpad_desc().get_size());
}

bool PlanBuilder::lower_layer_norm(const Node& n) {
  int src = plain(value(n.inputs[0]));
  const Dims& xd = p_.slots_[src].dims;
  int64_t axis = n.attr_int("axis", -1);
  int64_t r = static_cast<int64_t>(xd.size());
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r) return false;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < r; ++i) (i < axis ? outer : inner) *= xd[i];
  Dims two = {outer, inner};
  int view = alias_slot(src, two, plain_md(two), p_.slots_[src].name + "/ln2d");
  bool shift = n.inputs.size() > 2 && !n.inputs[2].empty();
  auto flags = dnnl::normalization_flags::use_scale;
  if (shift) flags = flags | dnnl::normalization_flags::use_shift;
  auto desc = dnnl::layer_normalization_forward::desc(dnnl::prop_kind::forward_inference, plain_md(two), n.attr_float("epsilon", 1e-5f), flags);
  auto pd = dnnl::layer_normalization_forward::primitive_desc(desc, user_attr(), p_.engine_);
  int out = new_slot(n.outputs[0] + "/2d", DType::kFloat, two, plain_md(two));
  std::vector<std::pair<int, int>> args = {{DNNL_ARG_SRC, view}, {DNNL_ARG_SCALE, vector_slot(n.inputs[1], inner, n)}, {DNNL_ARG_DST, out}};
  if (shift) args.push_back({DNNL_ARG_SHIFT, vector_slot(n.inputs[2], inner, n)});
  primitive_step(dnnl::layer_normalization_forward(pd), args, n.name, pd.scratchpad_desc().get_size());
  const Dims& od = graph().types.at(n.outputs[0]).dims;
  define(n.outputs[0], alias_slot(out, od, plain_md(od), n.outputs[0]));
  return true;
}

// InstanceNormalization: each (image, channel) plane is one row of an
// [N*C, H*W] layer normalization (statistics per row, no affine), then the
// per-channel scale and bias as two broadcasting binaries over [N, C, ...].
bool PlanBuilder::lower_instance_norm(const Node& n) {
  int src = plain(value(n.inputs[0]));
  const Dims xd = p_.slots_[src].dims;
  if (xd.size() < 3) return false;
  const int64_t rows = xd[0] * xd[1], c = xd[1];
  if (rows == 0 || onnx::element_count(xd) == 0) return false;
  Dims two = {rows, onnx::element_count(xd) / rows};
  int view = alias_slot(src, two, plain_md(two), p_.slots_[src].name + "/in2d");
  auto desc = dnnl::layer_normalization_forward::desc(dnnl::prop_kind::forward_inference, plain_md(two), n.attr_float("epsilon", 1e-5f),
                                                      dnnl::normalization_flags::none);
  auto pd = dnnl::layer_normalization_forward::primitive_desc(desc, user_attr(), p_.engine_);
  int normed = new_slot(n.outputs[0] + "/normed", DType::kFloat, two, plain_md(two));
  primitive_step(dnnl::layer_normalization_forward(pd), {{DNNL_ARG_SRC, view}, {DNNL_ARG_DST, normed}}, n.name,
                 pd.scratchpad_desc().get_size());
  Dims per_channel(xd.size(), 1);
  per_channel[1] = c;
  auto channel_view = [&](const std::string& v) {
    int s = vector_slot(v, c, n);
    return alias_slot(s, per_channel, plain_md(per_channel), p_.slots_[s].name + "/nc11");
  };
  int full = alias_slot(normed, xd, plain_md(xd), n.outputs[0] + "/normed_nd");
  int scaled = binary_step(dnnl::algorithm::binary_mul, full, channel_view(n.inputs[1]), xd, n.name + "/scale");
  define(n.outputs[0], binary_step(dnnl::algorithm::binary_add, scaled, channel_view(n.inputs[2]), xd, n.name + "/bias"));
  return true;
}

bool PlanBuilder::lower_softmax(const Node& n) {
  int src = plain(value(n.inputs[0]));
  Dims xd = p_.slots_[src].dims;
  int64_t r = static_cast<int64_t>(xd.size());
  if (r == 0) return false;
  int64_t axis = n.attr_int("axis", graph().opset >= 13 ? -1 : 1);
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r) return false;
  Dims view_dims = xd;
  if (graph().opset < 13) {  // coerced to 2-D at axis
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < r; ++i) (i < axis ? outer : inner) *= xd[i];
    view_dims = {outer, inner};
    axis = 1;
  }
  int view = alias_slot(src, view_dims, plain_md(view_dims), p_.slots_[src].name + "/sm");
  int out = new_slot(n.outputs[0] + "/sm", DType::kFloat, view_dims, plain_md(view_dims));
  bool log = n.op_type == "LogSoftmax";
  if (log) {
    auto desc = dnnl::logsoftmax_forward::desc(dnnl::prop_kind::forward_inference, plain_md(view_dims), static_cast<int>(axis));
    auto pd = dnnl::logsoftmax_forward::primitive_desc(desc, user_attr(), p_.engine_);
    primitive_step(dnnl::logsoftmax_forward(pd), {{DNNL_ARG_SRC, view}, {DNNL_ARG_DST, out}}, n.name, pd.scratchpad_desc().get_size());
  } else {
    auto desc = dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, plain_md(view_dims), static_cast<int>(axis));
    auto pd = dnnl::softmax_forward::primitive_desc(desc, user_attr(), p_.engine_);
    primitive_step(dnnl::softmax_forward(pd), {{DNNL_ARG_SRC, view}, {DNNL_ARG_DST, out}}, n.name, pd.scratchpad_desc().get_size());
  }
  define(n.outputs[0], alias_slot(out, xd, plain_md(xd), n.outputs[0]));
  return true;
}

bool PlanBuilder::lower_reduce(const Node& n) {
  int src = value(n.inputs[0]);
  const Dims xd = p_.slots_[src].dims;  // a copy: later slots may move slots_
  int64_t r = static_cast<int64_t>(xd.size());
  std::vector<int64_t> axes = n.attr_ints("axes");
  bool axes_input = n.inputs.size() > 1 && !n.inputs[1].empty();
  if (axes_input) {
    const HostTensor* c = constant(n.inputs[1]);
    if (!c) return false;
    axes = c->to_int64();
  }
  if (axes.empty()) {
    if (n.attr_int("noop_with_empty_axes", 0)) return false;
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  }
  Dims kd = xd;
  for (int64_t a : axes) {
    if (a < 0) a += r;
    if (a < 0 || a >= r) return false;
    kd[a] = 1;
  }
  if (kd == xd || r == 0) return false;  // nothing reduced: the reference copies
  // The mean over H and W of a blocked 4-D tensor, kept [N, C, 1, 1]
  // (squeeze-and-excitation as timm exports it: x.mean((2, 3),
  // keepdim=True)): a global average pooling, which reads the blocked
  // layout as it is; oneDNN's reduction has jit kernels for plain layouts
  // only, so it would first copy the whole tensor to plain.
  if (n.op_type == "ReduceMean" && r == 4 && kd == Dims{xd[0], xd[1], 1, 1} && graph().types.at(n.outputs[0]).dims == kd && !is_plain(src)) {
    Node gap = n;
    gap.op_type = "GlobalAveragePool";
    gap.inputs.resize(1);
    gap.attrs.clear();
    lower_pool(gap);
    return true;
  }
  src = plain(src);
  auto alg = n.op_type == "ReduceMean" ? dnnl::algorithm::reduction_mean : dnnl::algorithm::reduction_sum;
  auto desc = dnnl::reduction::desc(alg, plain_md(xd), plain_md(kd), 0.f, 0.f);
  auto pd = dnnl::reduction::primitive_desc(desc, user_attr(), p_.engine_);
  int out = new_slot(n.outputs[0] + "/keep", DType::kFloat, kd, plain_md(kd));
  primitive_step(dnnl::reduction(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, out}}, n.name, pd.scratchpad_desc().get_size());
  const Dims& od = graph().types.at(n.outputs[0]).dims;
  define(n.outputs[0], alias_slot(out, od, plain_md(od), n.outputs[0]));
  return true;
}

void PlanBuilder::lower_concat(const Node& n) {
  const Dims& od = graph().types.at(n.outputs[0]).dims;
  int64_t r = static_cast<int64_t>(od.size());
  int64_t axis = n.attr_int("axis", 0);
  if (axis < 0) axis += r;
  std::vector<int> srcs;
  std::vector<dnnl::memory::desc> mds;
  for (const auto& in : n.inputs) {
    int s = value(in);
    if (onnx::element_count(p_.slots_[s].dims) == 0) continue;
    srcs.push_back(s);
  }
  // Inputs concatenate in one layout, the output in it too; the others
  // are reordered to it. For 4-D float inputs that is the CPU's channel-
  // blocked layout (nChw16c with AVX-512, nChw8c with AVX2) when any input
  // has it and every channel count is a whole number of blocks (a Winograd
  // or blocked-convolution network's layout: its 1x1 consumers then stay
  // blocked too), else the first input's NHWC, NCHW or blocked layout;
  // anything else concatenates plain. A CNN's branches (SqueezeNet's Fire
  // modules: a 1x1 and a 3x3 convolution) thus join without going to plain
  // NCHW and back: that took ~40% of SqueezeNet 1.1's batch-1 time, and
  // staying blocked gained another 1.10x at batch 8 (one process,
  // alternating runs).
  tag common = tag::undef, blocked = tag::undef;
  int64_t block = 0;
  auto has = [&](int s, tag t) { return p_.slots_[s].md == dnnl::memory::desc(to_dnnl(p_.slots_[s].dims), dt::f32, t); };
  for (int s : srcs) {
    const Slot& sl = p_.slots_[s];
    if (sl.constant || sl.dtype != DType::kFloat || sl.dims.size() != 4) {
      common = tag::undef;
      break;
    }
    for (auto [t, b] : {std::pair{tag::aBcd16b, int64_t{16}}, std::pair{tag::aBcd8b, int64_t{8}}})
      if (blocked == tag::undef && has(s, t)) {
        blocked = t;
        block = b;
      }
    if (s == srcs[0])
      for (tag t : {tag::acdb, tag::aBcd16b, tag::aBcd8b, tag::abcd})
        if (has(s, t)) common = t;
    if (common == tag::undef) break;
  }
  const bool common_blocked = common == tag::aBcd16b || common == tag::aBcd8b;
  bool whole_blocks = blocked != tag::undef;
  for (int s : srcs) whole_blocks = whole_blocks && p_.slots_[s].dims.size() == 4 && p_.slots_[s].dims[1] % block == 0;
  if (common != tag::undef && axis == 1) common = whole_blocks ? blocked : common_blocked ? tag::acdb : common;
  for (auto& s : srcs) {
    s = common != tag::undef ? in_layout(s, dnnl::memory::desc(to_dnnl(p_.slots_[s].dims), dt::f32, common), "concat") : plain(s);
    mds.push_back(p_.slots_[s].md);
  }
  if ((common == tag::aBcd16b || common == tag::aBcd8b) && axis == 1) {
    // oneDNN's concat has only its generic kernel for blocked layouts (5x
    // slower than for NHWC here), and so has its reorder into a blocked
    // slice. But with whole channel blocks each image's part is one
    // contiguous run in its input and in the output: each input is copied
    // by a reorder of [N, C_i*H*W] rows into rows of the output's stride.
    int out = output_slot(n, 0, dnnl::memory::desc(to_dnnl(od), dt::f32, common));
    const int64_t image = od[1] * od[2] * od[3], pixels = od[2] * od[3];
    dnnl::memory::desc rows({od[0], image}, dt::f32, dnnl::memory::dims{image, 1});
    int64_t channel = 0;
    for (size_t i = 0; i < srcs.size(); ++i) {
      const Dims d = p_.slots_[srcs[i]].dims;  // a copy: alias_slot grows slots_
      const int64_t part = d[1] * pixels;
      std::string name = n.outputs[0] + "/part" + std::to_string(i);
      int from = alias_slot(srcs[i], {d[0], part}, dnnl::memory::desc({d[0], part}, dt::f32, dnnl::memory::dims{part, 1}), name + "/rows");
      int to = alias_slot(out, {d[0], part}, rows.submemory_desc({d[0], part}, {0, channel * pixels}), name);
      reorder_step(from, to, n.name + " part " + std::to_string(i));
      channel += d[1];
    }
    return;
  }
  auto pd = common != tag::undef ? dnnl::concat::primitive_desc(dnnl::memory::desc(to_dnnl(od), dt::f32, common),
                                                                static_cast<int>(axis), mds, p_.engine_, user_attr())
                                 : dnnl::concat::primitive_desc(static_cast<int>(axis), mds, p_.engine_, user_attr());
  int out = output_slot(n, 0, pd.dst_desc());
  std::vector<std::pair<int, int>> args;
  for (size_t i = 0; i < srcs.size(); ++i) args.push_back({DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i), srcs[i]});
  args.push_back({DNNL_ARG_DST, out});
  primitive_step(dnnl::concat(pd), args, n.name, pd.scratchpad_desc().get_size());
}

// Split: each part a reorder from a view of its slice of the input (no
// host copy through HostTensors). A channel split of a blocked tensor
// into whole channel blocks stays blocked (ShuffleNetV2's halves: 116 = 2 x
// 58 channels is not, and goes plain); anything else splits the plain
// row-major tensor.
bool PlanBuilder::lower_split(const Node& n) {
  int src = value(n.inputs[0]);
  const Dims xd = p_.slots_[src].dims;
  int64_t r = static_cast<int64_t>(xd.size()), axis = n.attr_int("axis", 0);
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r) return false;
  std::vector<Dims> parts;
  int64_t total = 0;
  for (const auto& o : n.outputs) {
    if (o.empty()) return false;
    const auto& t = graph().types.at(o);
    if (t.dtype != DType::kFloat || t.dims.size() != xd.size() || onnx::element_count(t.dims) == 0) return false;
    parts.push_back(t.dims);
    total += t.dims[axis];
  }
  if (total != xd[axis]) return false;
  // Blocked when the input is and each part starts and ends on a block.
  std::optional<dnnl::memory::desc> blocked;
  if (!is_plain(src) && axis == 1 && same_layout(p_.slots_[src].md, xd)) {
    const auto& b = p_.slots_[src].md.data.format_desc.blocking;
    bool whole = b.inner_nblks == 1 && b.inner_idxs[0] == 1;
    for (const auto& d : parts) whole = whole && d[1] % b.inner_blks[0] == 0;
    if (whole) blocked = p_.slots_[src].md;
  }
  if (!blocked) src = plain(src);
  const dnnl::memory::desc whole_md = p_.slots_[src].md;
  int64_t at = 0;
  for (size_t k = 0; k < parts.size(); ++k) {
    dnnl::memory::dims offsets(xd.size(), 0);
    offsets[axis] = at;
    at += parts[k][axis];
    int view = alias_slot(src, parts[k], whole_md.submemory_desc(to_dnnl(parts[k]), offsets), n.outputs[k] + "/slice");
    dnnl::memory::desc out_md = blocked ? *same_layout(whole_md, parts[k]) : plain_md(parts[k]);
    reorder_step(view, output_slot(n, k, out_md), n.name + " part " + std::to_string(k));
  }
  return true;
}

void PlanBuilder::lower_transpose(const Node& n) {
  int src = plain(value(n.inputs[0]));
  const Dims& xd = p_.slots_[src].dims;
  int r = static_cast<int>(xd.size());
  std::vector<int64_t> perm = n.attr_ints("perm");
  if (perm.empty())
    for (int i = r - 1; i >= 0; --i) perm.push_back(i);
  std::vector<int> to(r);
  for (int i = 0; i < r; ++i) to[perm[i] < 0 ? perm[i] + r : perm[i]] = i;
  const Dims& od = graph().types.at(n.outputs[0]).dims;
  if (r == 0) return lower_view(n);
  dnnl::memory::desc view_md = plain_md(xd).permute_axes(to);
  int view = alias_slot(src, od, view_md, p_.slots_[src].name + "/perm");
  int out = output_slot(n, 0, plain_md(od));
  reorder_step(view, out, n.name);
}

bool PlanBuilder::scalar(const std::string& v, float& out) const {
  const HostTensor* c = constant(v);
  if (!c || c->numel() != 1 || c->dtype() != DType::kFloat) return false;
  out = c->data<float>()[0];
  return true;
}

bool PlanBuilder::lower_binary(const Node& n) {
  const std::string& op = n.op_type;
  const Dims& od = graph().types.at(n.outputs[0]).dims;
  float c = 0;
  // A scalar constant operand: one eltwise (linear or pow).
  if (scalar(n.inputs[1], c) && graph().types.at(n.inputs[0]).dims == od) {
    Eltwise e = op == "Add" ? Eltwise{dnnl::algorithm::eltwise_linear, 1, c}
                : op == "Sub" ? Eltwise{dnnl::algorithm::eltwise_linear, 1, -c}
                : op == "Mul" ? Eltwise{dnnl::algorithm::eltwise_linear, c, 0}
                              : Eltwise{dnnl::algorithm::eltwise_linear, 1 / c, 0};
    define(n.outputs[0], eltwise_step(value(n.inputs[0]), e, n.name));
    return true;
  }
  if (scalar(n.inputs[0], c) && graph().types.at(n.inputs[1]).dims == od) {
    Eltwise e = op == "Add" ? Eltwise{dnnl::algorithm::eltwise_linear, 1, c}
                : op == "Sub" ? Eltwise{dnnl::algorithm::eltwise_linear, -1, c}
                : op == "Mul" ? Eltwise{dnnl::algorithm::eltwise_linear, c, 0}
                              : Eltwise{dnnl::algorithm::eltwise_pow, c, -1};
    define(n.outputs[0], eltwise_step(value(n.inputs[1]), e, n.name));
    return true;
  }
  auto alg = op == "Add" ? dnnl::algorithm::binary_add
             : op == "Sub" ? dnnl::algorithm::binary_sub
             : op == "Mul" ? dnnl::algorithm::binary_mul
                           : dnnl::algorithm::binary_div;
  int a = value(n.inputs[0]), b = value(n.inputs[1]);
  bool commutative = op == "Add" || op == "Mul";
  if (p_.slots_[a].dims != od) {
    if (!commutative || p_.slots_[b].dims != od) return false;  // src0 would need broadcasting
    std::swap(a, b);
  }
  if (onnx::element_count(od) == 0) return false;
  // Different layouts of two full operands: compute in a's layout. A
  // broadcast operand: binary_step picks layouts oneDNN has a jit kernel for.
  if (p_.slots_[b].dims == od && !(p_.slots_[b].md == p_.slots_[a].md)) b = in_layout(b, p_.slots_[a].md, "as_src0");
  int out = binary_step(alg, a, b, od, n.name);
  define(n.outputs[0], out);
  return true;
}

// A [1, C, 1, ...] operand: oneDNN broadcasts it per channel over any layout.
bool PlanBuilder::is_channel_vector(int s, const Dims& od) const {
  const Dims& d = p_.slots_[s].dims;
  for (size_t i = 0; i < d.size(); ++i)
    if (d[i] != (i == 1 ? od[1] : 1)) return false;
  return od.size() > 1;
}

// PRelu as oneDNN's prelu primitive, its slope as the weights (broadcast
// per tensor, per channel or in full, as the ONNX slope is). A per-channel
// or single slope keeps a blocked source blocked, the slope reordered to
// the source's layout (oneDNN 2.6 has only its reference kernel for a
// blocked source with a plain [1, C, 1, 1] slope); any other slope is read
// against a plain source.
bool PlanBuilder::lower_prelu(const Node& n) {
  const Dims& od = graph().types.at(n.outputs[0]).dims;
  if (onnx::element_count(od) == 0 || od.size() < 2) return false;
  int a = value(n.inputs[0]);
  int w = operand_aligned(value(n.inputs[1]), od.size());
  if (!is_plain(a) && !is_channel_vector(w, od) && onnx::element_count(p_.slots_[w].dims) != 1) a = plain(a);
  if (!is_plain(a))
    if (auto like_a = same_layout(p_.slots_[a].md, p_.slots_[w].dims)) w = in_layout(w, *like_a, "as_src");
  try {
    auto d = dnnl::prelu_forward::desc(dnnl::prop_kind::forward_inference, p_.slots_[a].md, p_.slots_[w].md);
    auto pd = dnnl::prelu_forward::primitive_desc(d, user_attr(), p_.engine_);
    int out = new_slot(n.name, DType::kFloat, od, pd.dst_desc());
    primitive_step(dnnl::prelu_forward(pd), {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, out}}, n.name,
                   pd.scratchpad_desc().get_size());
    define(n.outputs[0], out);
    return true;
  } catch (const dnnl::error&) {  // no oneDNN kernel for these layouts: the host kernel runs it
    return false;
  }
}

bool PlanBuilder::lower_pow(const Node& n) {
  float e = 0;
  if (!scalar(n.inputs[1], e)) return false;
  Eltwise el = e == 2.0f ? Eltwise{dnnl::algorithm::eltwise_square, 0, 0}
               : e == 0.5f ? Eltwise{dnnl::algorithm::eltwise_sqrt, 0, 0}
                           : Eltwise{dnnl::algorithm::eltwise_pow, 1, e};
  define(n.outputs[0], eltwise_step(value(n.inputs[0]), el, n.name));
  return true;
}

bool PlanBuilder::lower_unary(const Node& n) {
  const std::string& op = n.op_type;
  float alpha = 0, beta = 0;
  std::string kind = op;
  if (op == "LeakyRelu") alpha = n.attr_float("alpha", 0.01f);
  if (op == "HardSigmoid") alpha = n.attr_float("alpha", 0.2f), beta = n.attr_float("beta", 0.5f);
  if (op == "Elu" || op == "Celu") alpha = n.attr_float("alpha", 1.0f);
  if (op == "Selu") alpha = n.attr_float("alpha", 1.67326319217681884765625f), beta = n.attr_float("gamma", 1.05070102214813232421875f);
  if (op == "Gelu" && n.attr_string("approximate", "none") == "tanh") kind = "GeluTanh";
  if (op == "Clip") {
    float lo = -3.0e38f, hi = 3.0e38f;
    if (graph().opset < 11) {
      lo = n.attr_float("min", lo);
      hi = n.attr_float("max", hi);
    } else {
      if (!n.input(1).empty() && !scalar(n.input(1), lo)) return false;
      if (!n.input(2).empty() && !scalar(n.input(2), hi)) return false;
    }
    alpha = lo, beta = hi;
  }
  auto ops = eltwise_for(kind, alpha, beta);
  if (ops.empty()) return false;
  int cur = value(n.inputs[0]);
  for (const auto& e : ops) cur = eltwise_step(cur, e, n.name);
  define(n.outputs[0], cur);
  return true;
}

}  // namespace mrt::onednn
