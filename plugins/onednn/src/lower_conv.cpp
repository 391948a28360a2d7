// Conv, ConvTranspose and pooling: padding resolved from the inferred output
// dims, weights reordered once, post-ops fused where oneDNN can.
#include <algorithm>
#include <optional>
#include <string>

#include "plan_builder.h"

namespace mrt::onednn {

// The channel-blocked layout for a float32 2-D convolution's activations
// when the plan uses them (options.blocked_convolutions): nChw16c with
// AVX-512, nChw8c with AVX2, none below. Why not oneDNN's own choice (NHWC
// for its brgconv kernels on AVX-512): on this project's Zen 4 build
// machine the blocked kernels (jit_1x1, jit_dw, the first-layer jit) ran
// MobileNetV2 at batch 8 in 30.2 ms against 38.1 ms on NHWC (paired A/B,
// 12 blocks, 0.79x), ResNet-50 and SqueezeNet at parity, and only blocked
// 1x1 convolutions take a fused depthwise one (lower_depthwise_fusion.cpp).
std::optional<dnnl::memory::desc> PlanBuilder::blocked_md(const Dims& d) const {
  if (!p_.options_.blocked_convolutions || p_.options_.bf16_convolutions || d.size() != 4) return std::nullopt;
  if (cpu_has_isa(dnnl::cpu_isa::avx512_core)) return dnnl::memory::desc(to_dnnl(d), dt::f32, tag::nChw16c);
  if (cpu_has_isa(dnnl::cpu_isa::avx2)) return dnnl::memory::desc(to_dnnl(d), dt::f32, tag::nChw8c);
  return std::nullopt;
}

// A reference or GEMM-based convolution: what oneDNN falls back to for a
// shape or layout its direct kernels do not take.
bool PlanBuilder::slow_convolution(const dnnl::primitive_desc_base& pd) {
  std::string impl = pd.impl_info_str();
  return impl.rfind("ref", 0) == 0 || impl.find("gemm") != std::string::npos;
}

// Winograd (oneDNN's F(2x2, 3x3) or F(4x4, 3x3), by shape) for the 3x3
// stride-1 float32 convolutions it serves: 1.2-2.4x the direct kernel here.
// It reads and writes nChw16c, as the other convolutions do by default
// (blocked_md); with conv_layout onednn they keep the NHWC oneDNN prefers,
// with a reorder where the two meet.
bool PlanBuilder::runs_winograd(const Node& n) const {
  if (!p_.options_.winograd || p_.options_.bf16_convolutions || n.op_type != "Conv" || n.attr_int("group", 1) != 1) return false;
  // oneDNN 2.6 has float32 Winograd kernels for AVX-512 only. Elsewhere a
  // convolution planned for them fell back to the direct kernel with its
  // own layout choice, and the nChw16c the plan kept for Winograd met the
  // nChw8c of the direct kernels: ResNet-18 on this AVX2 host ran 16
  // reorders and 5 unfused residual adds a run.
  if (!cpu_has_isa(dnnl::cpu_isa::avx512_core)) return false;
  const Dims& xd = graph().types.at(n.inputs[0]).dims;
  const Dims& wd = graph().types.at(n.inputs[1]).dims;
  return xd.size() == 4 && wd.size() == 4 && wd[2] == 3 && wd[3] == 3 && all_ones(n.attr_ints("strides", {1, 1})) &&
         all_ones(n.attr_ints("dilations", {1, 1})) && xd[1] % 16 == 0 && wd[0] % 16 == 0;
}

void PlanBuilder::lower_conv(const Node& n, const std::vector<PostOp>& post) {
  bool transposed = n.op_type == "ConvTranspose";
  int src = value(n.inputs[0]);
  const HostTensor* w = constant(n.inputs[1]);
  const Dims xd = p_.slots_[src].dims;  // a copy: later slots may move slots_
  const Dims& od = graph().types.at(n.outputs[0]).dims;
  const Dims& wd = graph().types.at(n.inputs[1]).dims;
  size_t sp = xd.size() - 2;
  if (sp < 1 || sp > 3) fail(n, "input must have 1 to 3 spatial dims, got " + onnx::dims_string(xd));
  int64_t group = n.attr_int("group", 1);
  std::vector<int64_t> kernel(wd.begin() + 2, wd.end());
  auto strides = n.attr_ints("strides", std::vector<int64_t>(sp, 1));
  auto dil = n.attr_ints("dilations", std::vector<int64_t>(sp, 1));
  auto pads = n.attr_ints("pads", std::vector<int64_t>(2 * sp, 0));
  std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
  auto out_pad = n.attr_ints("output_padding");
  dnnl::memory::dims s(sp), d(sp), pl(sp), pr(sp);
  for (size_t i = 0; i < sp; ++i) {
    s[i] = strides[i];
    d[i] = dil[i] - 1;
    int64_t k_eff = (kernel[i] - 1) * dil[i] + 1;
    if (!transposed) {
      // Padding such that the inferred output dim comes out exactly.
      int64_t total = (od[2 + i] - 1) * strides[i] + k_eff - xd[2 + i];
      if (auto_pad == "NOTSET") pl[i] = pads[i];
      else if (auto_pad == "VALID") pl[i] = 0;
      else pl[i] = auto_pad == "SAME_UPPER" ? std::max<int64_t>(total, 0) / 2 : (std::max<int64_t>(total, 0) + 1) / 2;
      // Declared end pads as they are: oneDNN floors the output size like
      // ONNX, so a stride-2 1x1 conv on an even input needs no fix-up.
      pr[i] = auto_pad == "NOTSET" ? pads[sp + i] : std::max<int64_t>(total - pl[i], 0);
    } else {
      // ONNX splits its total padding (which counts output_padding) with
      // floor division; whatever the output still lacks goes at the end.
      int64_t total = (xd[2 + i] - 1) * strides[i] + k_eff - od[2 + i];
      int64_t onnx_total = total + (i < out_pad.size() ? out_pad[i] : 0);
      int64_t half = onnx_total >= 0 ? onnx_total / 2 : -((-onnx_total + 1) / 2);
      if (auto_pad == "NOTSET" && !n.has_attr("output_shape")) pl[i] = pads[i];
      else pl[i] = auto_pad == "SAME_UPPER" ? half : onnx_total - half;
      pr[i] = total - pl[i];
    }
  }
  if (transposed) {
    for (size_t i = 0; i < sp; ++i)
      if (pr[i] < 0) return lower_deconv_past_input(n, post, pl, pr);
  }
  int64_t oc = od[1], ic = xd[1];
  // Logical weight dims are (g,) o, i, k...; ONNX stores Conv weights as
  // [G*O/G, I/G, k...] and ConvTranspose weights as [G*I/G, O/G, k...]:
  // strides say which, so no format tag per rank is needed.
  int64_t K = 1;
  for (int64_t k : kernel) K *= k;
  int64_t og = oc / group, ig = ic / group;
  dnnl::memory::dims wdims = group > 1 ? dnnl::memory::dims{group, og, ig} : dnnl::memory::dims{og, ig};
  dnnl::memory::dims wstrides = transposed ? dnnl::memory::dims{K, og * K} : dnnl::memory::dims{ig * K, K};
  if (group > 1) wstrides.insert(wstrides.begin(), og * ig * K);
  int64_t ks = 1;
  std::vector<int64_t> kstrides(kernel.size());
  for (size_t i = kernel.size(); i-- > 0;) kstrides[i] = ks, ks *= kernel[i];
  wdims.insert(wdims.end(), kernel.begin(), kernel.end());
  wstrides.insert(wstrides.end(), kstrides.begin(), kstrides.end());
  dnnl::memory::desc w_user(wdims, dt::f32, wstrides);
  // In bfloat16 mode the activation and weights are converted by the
  // reorders that bring them to the convolution's layout anyway.
  auto compute = p_.options_.bf16_convolutions && !transposed ? dt::bf16 : dt::f32;
  bool wino = runs_winograd(n);
  dnnl::memory::desc any_src(to_dnnl(xd), compute, tag::any), any_w(wdims, compute, tag::any);
  // (conv_layout onednn) An image stem (1-4 input channels, float32) reads its plain NCHW input
  // as it is where the network runs blocked: oneDNN's first-layer kernel
  // takes NCHW and writes nChw16c. A large-kernel stem (ResNet's 7x7) is
  // 5-45% faster so at batch 8 than brgconv after a reorder to NHWC (6 of 6
  // back-to-back pairs); a 3x3 one in a Winograd network (SqueezeNet 1.1)
  // spares the input reorder and keeps everything after it blocked (1.05x
  // whole network). Not a 3x3 stem otherwise: MobileNetV2's depthwise
  // consumer wants NHWC, and the reorder back cost more than it gained.
  if (compute == dt::f32 && !transposed && group == 1 && sp == 2 && ic <= 4 && (kernel[0] >= 5 || winograd_network_) && is_plain(src))
    any_src = p_.slots_[src].md;
  // (conv_layout onednn) In a Winograd network the tensors between
  // convolutions are mostly nChw16c already (Winograd's and the stem's
  // outputs). A 1x1 or strided convolution reads such a source as it is: oneDNN's blocked kernels
  // (jit_1x1, jit) run ResNet-50's 1x1 and stride-2 layers at batch 8 in
  // 222 ms against brgconv's 221 on NHWC, and the network then needs no
  // reorder between layouts (28 at ResNet-50 batch 8, ~9 ms; whole network
  // 1.02-1.05x). Not for 3x3 stride-1 ones without Winograd: the blocked
  // direct kernel is slower there than brgconv (winograd off: 0.97x).
  bool unit_or_strided = std::all_of(kernel.begin(), kernel.end(), [](int64_t k) { return k == 1; }) ||
                         std::any_of(strides.begin(), strides.end(), [](int64_t st) { return st > 1; });
  if (winograd_network_ && compute == dt::f32 && !transposed && group == 1 && sp == 2 && ic % 16 == 0 && oc % 16 == 0 &&
      unit_or_strided && p_.slots_[src].md == dnnl::memory::desc(to_dnnl(xd), dt::f32, tag::nChw16c))
    any_src = p_.slots_[src].md;
  // Blocked layouts (the default; see blocked_md): the source and the
  // result in nChw16c, except an image stem's plain input, which oneDNN's
  // first-layer kernel reads as it is (MobileNetV2's 3x3 stem at batch 8:
  // 0.9 ms, against 1.5 ms plus a 0.45 ms input reorder for brgconv on NHWC).
  const dnnl::memory::desc unblocked_src = any_src;
  std::optional<dnnl::memory::desc> blocked_dst;
  if (compute == dt::f32 && !transposed && !wino) blocked_dst = blocked_md(od);
  if (blocked_dst) {
    if (!(ic <= 4 && is_plain(src))) {
      if (auto b = blocked_md(xd)) any_src = *b;
      else blocked_dst.reset();
    } else {
      any_src = p_.slots_[src].md;
    }
  }
  dnnl::memory::desc bias_md;
  bool bias = !n.input(2).empty();
  if (bias) bias_md = dnnl::memory::desc({oc}, dt::f32, tag::a);

  size_t fused = 0;
  int sum_slot = -1;
  std::vector<std::pair<int, int>> bargs;
  // A result only other bfloat16 convolutions read is written in bfloat16
  // (no float32 round trip between them); with residual adds or unfused
  // post-ops it stays float32.
  bool bf16_dst = compute == dt::bf16 &&
                  std::none_of(post.begin(), post.end(), [](const PostOp& p) { return p.kind == PostOp::kAdd; }) &&
                  only_bf16_convolutions_read(n.outputs[0]);
  auto conv_pd = [&](dnnl::algorithm alg, const dnnl::memory::desc& src_md, const dnnl::memory::desc& dst,
                     const dnnl::primitive_attr& attr) {
    auto cd = bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, alg, src_md, any_w, bias_md, dst, s, d, pl, pr)
                   : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, alg, src_md, any_w, dst, s, d, pl, pr);
    return dnnl::convolution_forward::primitive_desc(cd, attr, p_.engine_);
  };
  // oneDNN's F(4x4, 3x3) kernel (its pick at larger batches) is declined
  // for the direct kernel where it does not pay:
  // - on a single 16-channel input block it spends its time transforming
  //   tiles: the blocked direct kernel ran SqueezeNet 1.1's 16 -> 64
  //   expands at batch 8 1.3-1.7x faster (whole network 1.08x in one
  //   process, alternating). F(2x2, 3x3), oneDNN's pick at batch 1-2, keeps
  //   its edge there (direct: 0.94x).
  // - where the weights outweigh the source 4 to 1 (a deep layer on a
  //   small image): its packed weights are 4x the weights (6x6 tiles of
  //   3x3 kernels), so the layer held 3x its weights more to speed up
  //   arithmetic on activations a quarter their size. At batch 8,
  //   worker peak RSS and time: ResNet-18 (its 512-channel 7x7 layers)
  //   283 -> 177-193 MB, 72-76 -> 86-95 ms; Wide ResNet-50-2 984 -> 681
  //   MB, 566 -> 599 ms; ResNet-50 361 -> 293 MB and GoogLeNet 222 -> 198
  //   MB, times within noise. F(2x2, 3x3) (1.8x the weights) is kept.
  int64_t src_elements = 1;
  for (int64_t v : xd) src_elements *= v;
  bool weights_dominate = og * ig * K > 4 * src_elements;
  if (wino && (ic < 32 || weights_dominate)) {
    const dnnl::memory::desc blocked_src(to_dnnl(xd), dt::f32, tag::nChw16c);
    try {
      auto probe = conv_pd(dnnl::algorithm::convolution_winograd, blocked_src, dnnl::memory::desc(to_dnnl(od), dt::f32, tag::nChw16c),
                           user_attr());
      if (std::string(probe.impl_info_str()).find("jit_wino_4x3") != std::string::npos) {
        wino = false;
        if (p_.slots_[src].md == blocked_src) any_src = blocked_src;
      }
    } catch (const dnnl::error&) {  // no Winograd kernel at all: make() falls back to direct anyway
    }
  }
  auto make = [&](const dnnl::primitive_attr& attr, int sum) {
    dnnl::memory::desc dst = sum >= 0      ? p_.slots_[sum].md
                             : blocked_dst ? *blocked_dst
                                           : dnnl::memory::desc(to_dnnl(od), bf16_dst ? dt::bf16 : dt::f32, tag::any);
    if (!transposed) {
      std::optional<dnnl::convolution_forward::primitive_desc> pd;
      if (wino) try {
          dnnl::memory::desc blocked_src(to_dnnl(xd), dt::f32, tag::nChw16c);
          pd = conv_pd(dnnl::algorithm::convolution_winograd, blocked_src,
                       sum >= 0 ? dst : dnnl::memory::desc(to_dnnl(od), dt::f32, tag::nChw16c), attr);
        } catch (const dnnl::error&) {  // not with this residual's layout or post-ops: direct
        }
      if (!pd) {
        pd = conv_pd(dnnl::algorithm::convolution_direct, any_src, dst, attr);
        // A residual operand in a layout only the reference kernel takes
        // with this source: better an unfused add than that kernel.
        if (sum >= 0 && std::string(pd->impl_info_str()).rfind("ref", 0) == 0)
          throw dnnl::error(dnnl_unimplemented, "reference convolution");
      }
      return std::make_pair(dnnl::primitive(dnnl::convolution_forward(*pd)), dnnl::primitive_desc_base(*pd));
    }
    auto dd = bias ? dnnl::deconvolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct, any_src,
                                                       any_w, bias_md, dst, s, d, pl, pr)
                   : dnnl::deconvolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct, any_src,
                                                       any_w, dst, s, d, pl, pr);
    auto pd = dnnl::deconvolution_forward::primitive_desc(dd, attr, p_.engine_);
    return std::make_pair(dnnl::primitive(dnnl::deconvolution_forward(pd)), dnnl::primitive_desc_base(pd));
  };
  // A residual the convolution accumulates into fixes the layout it writes.
  // Where that layout would cost a slower kernel, the residual is copied
  // first (one pass over it) to the layout the convolution writes by
  // preference: nChw16c for Winograd (else it drops to the direct kernel),
  // and for a residual in plain NCHW (a graph input, or anything computed
  // by a step that writes plain) the layout oneDNN picks without it;
  // otherwise a plain residual sends the convolution, and every block after
  // it, to oneDNN's GEMM-based NCHW kernel: a chain of 1x1 bottlenecks on a
  // graph input ran 4x slower than with the copy.
  if (!transposed && compute == dt::f32 && !post.empty() && post[0].kind == PostOp::kAdd) {
    int r = value(post[0].operand);
    const Slot& rs = p_.slots_[r];
    if (rs.dims == od && !rs.constant && rs.dtype == DType::kFloat) {
      std::optional<dnnl::memory::desc> want;
      if (wino && remaining_uses_[post[0].operand] == 1) {
        want = dnnl::memory::desc(to_dnnl(od), dt::f32, tag::nChw16c);
      } else if (blocked_dst && remaining_uses_[post[0].operand] == 1) {
        want = *blocked_dst;
      } else if (!wino && is_plain(r)) {
        try {
          want = conv_pd(dnnl::algorithm::convolution_direct, any_src, dnnl::memory::desc(to_dnnl(od), dt::f32, tag::any), user_attr())
                     .dst_desc();
        } catch (const dnnl::error&) {  // no direct kernel: left as it is, the post-op search decides
        }
      }
      if (want && rs.md != *want) values_[post[0].operand] = in_layout(r, *want, "residual");
    }
  }
  auto built = with_post_ops(post, od, true, make, fused, sum_slot, bargs);
  // No blocked kernel for this shape (oneDNN fell back to a reference or
  // GEMM-based one): oneDNN's own layout choice instead.
  if (blocked_dst && slow_convolution(built.second)) {
    blocked_dst.reset();
    any_src = unblocked_src;
    built = with_post_ops(post, od, true, make, fused, sum_slot, bargs);
  }
  if (bf16_dst && fused != post.size()) {  // the rest of the chain runs as float32 steps
    bf16_dst = false;
    built = with_post_ops(post, od, true, make, fused, sum_slot, bargs);
  }
  auto& [prim, pd] = built;
  if (pd.query_md(dnnl::query::weights_md).data.format_kind == dnnl_format_kind_wino) ++p_.winograd_convolutions_;
  int src_ready = in_layout(src, pd.query_md(dnnl::query::src_md), "conv_src");
  // Constant weights are reordered now, once; weights computed at run time
  // (rare: a node test, a weight-generating subgraph) by a reorder step.
  int w_user_slot = w ? owned_constant(n.inputs[1] + "/user", HostTensor(*w), w_user)
                      : alias_slot(plain(value(n.inputs[1])), md_dims(w_user), w_user, n.inputs[1] + "/user");
  int w_slot = w ? packed_weight(n, n.inputs[1], w_user_slot, pd.query_md(dnnl::query::weights_md))
                 : in_layout(w_user_slot, pd.query_md(dnnl::query::weights_md), "packed");
  std::vector<std::pair<int, int>> args = {{DNNL_ARG_SRC, src_ready}, {DNNL_ARG_WEIGHTS, w_slot}};
  if (bias) args.push_back({DNNL_ARG_BIAS, vector_slot(n.input(2), oc, n)});
  int out;
  if (sum_slot >= 0) {
    out = alias_slot(sum_slot, od, p_.slots_[sum_slot].md, n.outputs[0]);
  } else {
    out = new_slot(n.outputs[0], DType::kFloat, od, pd.query_md(dnnl::query::dst_md));
  }
  args.push_back({DNNL_ARG_DST, out});
  args.insert(args.end(), bargs.begin(), bargs.end());
  primitive_step(prim, args, n.name, pd.query_md(dnnl::query::scratchpad_md).get_size());
  finish_anchor(n, out, post, fused);
}

// A ConvTranspose whose output reaches past the last input's contribution
// (an output_shape or output_padding beyond the kernel's reach: negative
// end padding, which oneDNN refuses): the deconvolution of the reachable
// part, zero-padded to the output, then bias and post-ops as steps.
void PlanBuilder::lower_deconv_past_input(const Node& n, const std::vector<PostOp>& post, const dnnl::memory::dims& pl,
                             const dnnl::memory::dims& pr) {
  Node core = n;
  core.inputs.resize(2);  // bias after padding
  Dims od = graph().types.at(n.outputs[0]).dims, reach = od;
  std::vector<int64_t> pads(2 * (od.size()), 0);
  for (size_t i = 0; i < pr.size(); ++i)
    if (pr[i] < 0) {
      reach[2 + i] += pr[i];
      pads[od.size() + 2 + i] = -pr[i];
    }
  // The core node sees explicit pads whose end part is clamped at 0.
  core.attrs.erase("output_shape");
  core.attrs.erase("output_padding");
  core.attrs.erase("auto_pad");
  onnx::Attribute pa;
  pa.kind = onnx::Attribute::kInts;
  pa.ints.assign(pl.begin(), pl.end());
  for (size_t i = 0; i < pr.size(); ++i) pa.ints.push_back(std::max<int64_t>(pr[i], 0));
  core.attrs["pads"] = pa;
  std::string reach_name = n.outputs[0] + "/reach";
  core.outputs = {reach_name};
  p_.graph_.types[reach_name] = {DType::kFloat, reach};
  lower_conv(core, {});
  int cur = pad_step(n, value(reach_name), pads, od);
  if (!n.input(2).empty()) {
    Dims cd(od.size(), 1);
    cd[1] = od[1];
    int b = plain(value(n.input(2)));
    cur = binary_step(dnnl::algorithm::binary_add, cur, alias_slot(b, cd, plain_md(cd), n.input(2) + "/per_channel"), od, n.name + "/bias");
  }
  finish_anchor(n, cur, post, 0);
}

// Zero padding of slot `src` (plain) by `pads` (ONNX order: begins then
// ends) into a new slot of dims `out`: a host Pad step.
int PlanBuilder::pad_step(const Node& n, int src, const std::vector<int64_t>& pads, const Dims& out) {
  std::string in_name = n.name + "/pad_in", pads_name = n.name + "/pads", out_name = n.name + "/padded";
  values_[in_name] = plain(src);
  p_.graph_.types[in_name] = {DType::kFloat, p_.slots_[src].dims};
  Node pad;
  pad.op_type = "Pad";
  pad.name = n.name + "/pad";
  pad.inputs = {in_name};
  if (graph().opset >= 11) {
    p_.graph_.constants[pads_name] = HostTensor::from_int64(pads, {static_cast<int64_t>(pads.size())});
    p_.graph_.types[pads_name] = {DType::kInt64, {static_cast<int64_t>(pads.size())}};
    pad.inputs.push_back(pads_name);
  } else {
    onnx::Attribute a;
    a.kind = onnx::Attribute::kInts;
    a.ints = pads;
    pad.attrs["pads"] = a;
  }
  pad.outputs = {out_name};
  p_.graph_.types[out_name] = {DType::kFloat, out};
  lower_reference(pad, "zero padding of a ConvTranspose output past the input's reach (oneDNN takes no negative padding)");
  return value(out_name);
}

void PlanBuilder::lower_pool(const Node& n) {
  int src = value(n.inputs[0]);
  const Dims xd = p_.slots_[src].dims;  // a copy: later slots may move slots_
  const Dims& od = graph().types.at(n.outputs[0]).dims;
  size_t sp = xd.size() - 2;
  dnnl::memory::dims k(sp), s(sp, 1), d(sp, 0), pl(sp, 0), pr(sp, 0);
  dnnl::algorithm alg = dnnl::algorithm::pooling_max;
  if (n.op_type == "GlobalAveragePool" || n.op_type == "GlobalMaxPool") {
    for (size_t i = 0; i < sp; ++i) k[i] = xd[2 + i];
    if (n.op_type == "GlobalAveragePool") alg = dnnl::algorithm::pooling_avg_exclude_padding;
  } else {
    auto kernel = n.attr_ints("kernel_shape");
    auto strides = n.attr_ints("strides", std::vector<int64_t>(sp, 1));
    auto dil = n.attr_ints("dilations", std::vector<int64_t>(sp, 1));
    auto pads = n.attr_ints("pads", std::vector<int64_t>(2 * sp, 0));
    std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
    if (n.op_type == "AveragePool")
      alg = n.attr_int("count_include_pad", 0) ? dnnl::algorithm::pooling_avg_include_padding : dnnl::algorithm::pooling_avg_exclude_padding;
    for (size_t i = 0; i < sp; ++i) {
      k[i] = kernel[i];
      s[i] = strides[i];
      d[i] = dil[i] - 1;
      int64_t k_eff = (kernel[i] - 1) * dil[i] + 1;
      int64_t total = (od[2 + i] - 1) * strides[i] + k_eff - xd[2 + i];
      if (auto_pad == "NOTSET") pl[i] = pads[i];
      else if (auto_pad == "VALID") pl[i] = 0;
      else pl[i] = auto_pad == "SAME_UPPER" ? std::max<int64_t>(total, 0) / 2 : (std::max<int64_t>(total, 0) + 1) / 2;
      // ceil_mode: the last window may need padding past the declared pads.
      pr[i] = std::max<int64_t>(auto_pad == "NOTSET" ? pads[sp + i] : 0, total - pl[i]);
    }
  }
  if (alg == dnnl::algorithm::pooling_avg_include_padding) {
    // ceil_mode windows past the declared pads: ONNX counts the declared
    // pads but not the extension. Pad explicitly with zeros, then average
    // excluding (only) the extension.
    auto declared = n.attr_ints("pads", std::vector<int64_t>(2 * sp, 0));
    bool extends = false;
    for (size_t i = 0; i < sp; ++i) extends = extends || pr[i] > (n.attr_string("auto_pad", "NOTSET") == "NOTSET" ? declared[sp + i] : pr[i]);
    if (extends) {
      Dims padded = xd;
      std::vector<int64_t> pads(2 * xd.size(), 0);
      for (size_t i = 0; i < sp; ++i) {
        pads[2 + i] = pl[i];
        pads[xd.size() + 2 + i] = declared[sp + i];
        padded[2 + i] += pl[i] + declared[sp + i];
        pr[i] -= declared[sp + i];
        pl[i] = 0;
      }
      src = pad_step(n, value(n.inputs[0]), pads, padded);
      alg = dnnl::algorithm::pooling_avg_exclude_padding;
    }
  }
  auto desc = dnnl::pooling_v2_forward::desc(dnnl::prop_kind::forward_inference, alg, p_.slots_[src].md,
                                             dnnl::memory::desc(to_dnnl(od), dt::f32, tag::any), s, k, d, pl, pr);
  auto pd = dnnl::pooling_v2_forward::primitive_desc(desc, user_attr(), p_.engine_);
  int out = output_slot(n, 0, pd.dst_desc());
  primitive_step(dnnl::pooling_v2_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, out}}, n.name, pd.scratchpad_desc().get_size());
}

}  // namespace mrt::onednn
