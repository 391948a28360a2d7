// A 1x1 convolution and the 3x3 depthwise convolution that alone reads its
// result, run as one oneDNN primitive (a depthwise post-op): the expanded
// tensor between them (MobileNetV2 at batch 8: 8 x 96 x 112 x 112 floats,
// 38 MB) is consumed tile by tile while still in cache instead of going
// through memory twice. Standalone on this project's Zen 4 build machine,
// batch 8, nChw16c: 16 -> 96 at 112x112 with a stride-2 depthwise 2.27 ms
// fused against 3.52 ms as two primitives, 24 -> 144 at 56x56 (stride 1)
// 1.94 against 2.18, (stride 2) 1.42 against 1.75; at 28x28 and below,
// where the tensor fits the caches anyway, within 2-7% either way. oneDNN
// takes the fusion only as its jit_1x1 kernel on channel-blocked layouts;
// otherwise the two run as they would without it.
#include <algorithm>
#include <string>

#include "plan_builder.h"

namespace mrt::onednn {

namespace {

bool all_zero(const std::vector<int64_t>& v) {
  return std::all_of(v.begin(), v.end(), [](int64_t x) { return x == 0; });
}

// Only element-wise post-ops ride along (a residual operand would need its
// own argument at the depthwise output's dims).
bool elementwise_only(const std::vector<PostOp>& post) {
  return std::all_of(post.begin(), post.end(), [](const PostOp& p) { return p.kind != PostOp::kAdd; });
}

}  // namespace

long PlanBuilder::fusable_depthwise(size_t i) {
  const onnx::Graph& g = graph();
  const Node& c = g.nodes[i];
  if (c.op_type != "Conv" || !c.domain.empty() || c.inputs.size() < 2 || c.outputs.size() != 1) return -1;
  auto constant_or_absent = [&](const Node& n, size_t k) { return n.input(k).empty() || g.is_constant(n.input(k)); };
  auto float_dims = [&](const std::string& v) -> const Dims* {
    const auto& t = g.types.at(v);
    return t.dtype == DType::kFloat && onnx::element_count(t.dims) > 0 ? &t.dims : nullptr;
  };
  const Dims* xd = float_dims(c.inputs[0]);
  const Dims* md = float_dims(c.outputs[0]);
  if (!xd || !md || xd->size() != 4 || !blocked_md(*xd) || !g.is_constant(c.inputs[1]) || !constant_or_absent(c, 2)) return -1;
  const Dims& wd = g.types.at(c.inputs[1]).dims;
  if (wd.size() != 4 || wd[2] != 1 || wd[3] != 1 || c.attr_int("group", 1) != 1 || !all_ones(c.attr_ints("strides", {1, 1})) ||
      !all_ones(c.attr_ints("dilations", {1, 1})) || !all_zero(c.attr_ints("pads", {0, 0, 0, 0})) || !elementwise_only(post_ops_[i]))
    return -1;
  const std::string& mid = c.outputs[0];
  if (remaining_uses_[mid] != 1 || std::count(g.outputs.begin(), g.outputs.end(), mid)) return -1;
  for (size_t j = i + 1; j < g.nodes.size(); ++j) {
    const Node& d = g.nodes[j];
    if (std::find(d.inputs.begin(), d.inputs.end(), mid) == d.inputs.end()) continue;
    // The one reader: a depthwise 3x3, stride 1 or 2, padding 1 all round.
    int64_t oc = (*md)[1];
    auto strides = d.attr_ints("strides", {1, 1});
    if (d.op_type != "Conv" || !d.domain.empty() || d.inputs[0] != mid || d.outputs.size() != 1 || d.attr_int("group", 1) != oc ||
        !g.is_constant(d.inputs[1]) || !constant_or_absent(d, 2) || d.attr_string("auto_pad", "NOTSET") != "NOTSET" ||
        d.attr_ints("pads", {0, 0, 0, 0}) != std::vector<int64_t>{1, 1, 1, 1} || !all_ones(d.attr_ints("dilations", {1, 1})) ||
        strides.size() != 2 || strides[0] != strides[1] || (strides[0] != 1 && strides[0] != 2) || !elementwise_only(post_ops_[j]))
      return -1;
    const Dims& dwd = g.types.at(d.inputs[1]).dims;
    const Dims* od = float_dims(d.outputs[0]);
    if (dwd != Dims{oc, 1, 3, 3} || !od) return -1;
    return static_cast<long>(j);
  }
  return -1;
}

bool PlanBuilder::lower_conv_depthwise(const Node& c, const std::vector<PostOp>& post, const Node& d, const std::vector<PostOp>& dw_post) {
  int src = value(c.inputs[0]);
  const Dims xd = p_.slots_[src].dims;  // copies: new slots may move slots_
  const Dims mid = graph().types.at(c.outputs[0]).dims;
  const Dims od = graph().types.at(d.outputs[0]).dims;
  int64_t oc = mid[1], ic = xd[1], stride = d.attr_ints("strides", {1, 1})[0];
  dnnl::post_ops ops;
  int no_sum = -1;
  append_post_ops(ops, post, post.size(), mid, no_sum, false);  // element-wise only: no operands
  ops.append_dw(dt::f32, dt::f32, dt::f32, 3, stride, 1, 0, {});
  append_post_ops(ops, dw_post, dw_post.size(), od, no_sum, false);
  dnnl::primitive_attr attr = user_attr();
  attr.set_post_ops(ops);
  dnnl::memory::desc w_any({oc, ic, 1, 1}, dt::f32, tag::any), bias_md({oc}, dt::f32, tag::a);
  bool bias = !c.input(2).empty();
  std::optional<dnnl::convolution_forward::primitive_desc> pd;
  try {
    // Explicitly blocked, never `any`: oneDNN 2.6 accepts this fusion on
    // NHWC as well and computes it wrongly there (~90% of outputs differ;
    // the fusion test checks the blocked one against the two-step plan).
    auto src_md = *blocked_md(xd), dst_md = *blocked_md(mid);
    auto cd = bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md,
                                                     w_any, bias_md, dst_md, {1, 1}, {0, 0}, {0, 0})
                   : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md,
                                                     w_any, dst_md, {1, 1}, {0, 0}, {0, 0});
    pd.emplace(cd, attr, p_.engine_);
  } catch (const dnnl::error&) {
    return false;
  }
  // jit_1x1 computes the two together; anything else runs them one after
  // the other, as the plain lowering would anyway: ref_fused_convolution,
  // oneDNN's pick for channel counts off the 16-block, and where each
  // thread's share of the work is small (MobileNetV2's 14x14 layers at
  // batch 8 on 4 or more threads; its 112x112 and 56x56 ones still fuse).
  if (std::string(pd->impl_info_str()).rfind("jit_1x1", 0) != 0 || md_dims(pd->dst_desc()) != od) return false;

  int src_ready = in_layout(src, pd->src_desc(), "conv_src");
  int w = in_layout(value(c.inputs[1]), pd->weights_desc(), "packed");
  const Dims dw_dims = {oc, 1, 1, 3, 3};  // groups, out, in, kh, kw
  int dw_user = alias_slot(value(d.inputs[1]), dw_dims, plain_md(dw_dims), d.inputs[1] + "/goihw");
  int dw_w = in_layout(dw_user, pd->query_md(dnnl::query::exec_arg_md, DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS), "packed_dw");
  // The depthwise step always adds a bias: zeros when the node has none.
  int dw_b = d.input(2).empty() ? owned_constant(d.name + "/zero_bias", HostTensor(DType::kFloat, {oc}), plain_md({oc}))
                                : vector_slot(d.input(2), oc, d);
  std::vector<std::pair<int, int>> args = {{DNNL_ARG_SRC, src_ready},
                                           {DNNL_ARG_WEIGHTS, w},
                                           {DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS, dw_w},
                                           {DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_BIAS, dw_b}};
  if (bias) args.push_back({DNNL_ARG_BIAS, vector_slot(c.input(2), oc, c)});
  int out = new_slot(d.outputs[0], DType::kFloat, od, pd->dst_desc());
  args.push_back({DNNL_ARG_DST, out});
  primitive_step(dnnl::convolution_forward(*pd), args, c.name + " + " + d.name, pd->scratchpad_desc().get_size());
  ++p_.depthwise_fusions_;
  finish_anchor(d, out, dw_post, dw_post.size());
  return true;
}

}  // namespace mrt::onednn
