// Gemm and MatMul: numpy batch broadcasting, transposed operands as strided
// views, constant B pre-packed (and a 2-D B folding A's batch into M), bias,
// alpha/beta and post-ops.
#include <algorithm>
#include <string>

#include "plan_builder.h"

namespace mrt::onednn {

void PlanBuilder::lower_matmul(const Node& n, const std::vector<PostOp>& post_in) {
  std::vector<PostOp> post = post_in;
  bool gemm = n.op_type == "Gemm";
  int a = value(n.inputs[0]);
  const Dims& od = graph().types.at(n.outputs[0]).dims;
  Dims ad = p_.slots_[a].dims, bd = graph().types.at(n.inputs[1]).dims;
  const HostTensor* bconst = constant(n.inputs[1]);
  float alpha = gemm ? n.attr_float("alpha", 1.0f) : 1.0f, beta = gemm ? n.attr_float("beta", 1.0f) : 1.0f;
  bool ta = gemm && n.attr_int("transA", 0), tb = gemm && n.attr_int("transB", 0);
  a = plain(a);
  // Logical operands [.., M, K] x [.., K, N] = [.., M, N], as plain memory
  // descs (a transposed operand is a strided view).
  Dims a2 = ad, b2 = bd;
  if (a2.size() == 1) a2.insert(a2.begin(), 1);
  if (b2.size() == 1) b2.push_back(1);
  Dims out = od;
  if (ad.size() == 1) out.insert(out.end() - (bd.size() == 1 ? 0 : 1), 1);
  if (bd.size() == 1) out.push_back(1);
  size_t rank = std::max({a2.size(), b2.size(), out.size()});
  // A constant 2-D B with a plain A: fold A's batch dims into M (one big
  // GEMM against pre-packed weights).
  bool flatten = bconst && b2.size() == 2 && a2.size() > 2 && !ta;
  dnnl::memory::desc a_md, b_md, dst_md;
  Dims dst_dims;
  if (flatten) {
    int64_t m = 1;
    for (size_t i = 0; i + 1 < a2.size(); ++i) m *= a2[i];
    a_md = plain_md({m, a2.back()});
    dst_dims = {m, b2[1]};
    rank = 2;
  } else {
    Dims ar = with_rank(a2, rank);
    a_md = ta ? plain_md(ar).permute_axes({1, 0}) : plain_md(ar);
    dst_dims = with_rank(out, rank);
  }
  Dims br = with_rank(b2, rank);
  b_md = tb ? plain_md(br).permute_axes({1, 0}) : plain_md(br);
  dst_md = plain_md(dst_dims);
  int b_slot;
  dnnl::memory::desc b_any = b_md;
  if (bconst) {
    HostTensor bt = *bconst;
    if (alpha != 1.0f) {
      for (int64_t i = 0; i < bt.numel(); ++i) bt.data<float>()[i] *= alpha;
      alpha = 1.0f;
    }
    b_slot = owned_constant(n.inputs[1] + "/user", std::move(bt), b_md);
    b_any = dnnl::memory::desc(b_md.dims(), dt::f32, tag::any);
    // Where oneDNN has only its sgemm-based kernel (gemm:jit: no brgemm
    // below AVX-512 in 2.6), `any` keeps the weights [K, N] row-major. Its
    // sgemm runs [N, K] (K contiguous, as Gemm's transB=1 and PyTorch's
    // Linear store them) up to 2x faster at 50-200 rows: 136 against 75
    // GFLOP/s for 128x768 x 768x3072 on 2 AVX2 cores (a BERT FFN at batch
    // 1, ViT's at 197 tokens), equal for many rows, within 5-12% below 48
    // rows. So a constant 2-D B is packed [N, K] there, once.
    if (rank == 2) {
      auto probe = dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, b_any, dst_md), p_.engine_);
      if (std::string(probe.impl_info_str()).rfind("gemm", 0) == 0)
        b_any = dnnl::memory::desc(b_md.dims(), dt::f32, tag::ba);
    }
  } else {
    b_slot = plain(value(n.inputs[1]));
    if (alpha != 1.0f) post.insert(post.begin(), PostOp{PostOp::kLinear, "", alpha, 0, "", n.name + "/alpha"});
  }
  // Gemm's C: a constant becomes the bias (times beta); a runtime C is a
  // residual-style add.
  const HostTensor* bias = nullptr;
  HostTensor scaled_bias;
  if (gemm && !n.input(2).empty()) {
    const HostTensor* c = constant(n.input(2));
    if (c) {
      scaled_bias = *c;
      // With a runtime B, alpha is a post-op scaling bias too: pre-divide.
      float k = alpha != 1.0f && alpha != 0.0f ? beta / alpha : beta;
      for (int64_t i = 0; i < scaled_bias.numel(); ++i) scaled_bias.data<float>()[i] *= k;
      bias = &scaled_bias;
    } else {
      std::string c_name = n.input(2);
      if (beta != 1.0f) {  // beta·C first, as its own step
        int scaled = eltwise_step(value(c_name), {dnnl::algorithm::eltwise_linear, beta, 0}, n.name + "/beta_C");
        c_name = n.name + "/beta_C";
        values_[c_name] = scaled;
        remaining_uses_[c_name] = 1;
      }
      // After alpha's scale when B is a runtime value: alpha·AB + beta·C.
      bool alpha_first = !post.empty() && post[0].source_node == n.name + "/alpha";
      post.insert(post.begin() + (alpha_first ? 1 : 0), PostOp{PostOp::kAdd, "", 0, 0, c_name, n.name + "/C"});
    }
  }
  // A constant vector Add right after the product is the bias too.
  if (!bias && !post.empty() && post[0].kind == PostOp::kAdd) {
    const HostTensor* c = constant(post[0].operand);
    if (c && c->numel() == dst_dims.back() && c->dtype() == DType::kFloat) {
      scaled_bias = *c;
      bias = &scaled_bias;
      post.erase(post.begin());
    }
  }
  dnnl::memory::desc bias_md;
  int bias_slot = -1;
  if (bias) {
    Dims bdims(rank, 1);
    const Dims& cd = bias->dims();
    if (bias->numel() == dst_dims.back()) bdims.back() = dst_dims.back();
    else if (cd.size() <= 2 && bias->numel() == dst_dims[0] * dst_dims.back() && rank == 2) bdims = dst_dims;
    else if (cd.size() <= 2 && bias->numel() == dst_dims[0] && rank == 2) bdims[0] = dst_dims[0];
    else if (bias->numel() != 1) fail(n, "bias of shape " + onnx::dims_string(cd) + " does not broadcast");
    HostTensor bt = *bias;
    bt.reshape(bdims);
    bias_md = plain_md(bdims);
    bias_slot = owned_constant(n.name + "/bias", std::move(bt), bias_md);
  }
  size_t fused = 0;
  int sum_slot = -1;
  std::vector<std::pair<int, int>> bargs;
  // Flattened to 2-D, only operands with all of the output's elements or
  // one row of them can be viewed with dst's dims; fusion stops before any
  // other (it then runs as its own step on the unflattened result).
  std::vector<PostOp> fusable;
  for (const auto& po : post) {
    if (flatten && po.kind == PostOp::kAdd) {
      int64_t ne = onnx::element_count(graph().types.at(po.operand).dims);
      if (ne != onnx::element_count(dst_dims) && ne != dst_dims.back()) break;
    }
    fusable.push_back(po);
  }
  auto make = [&](const dnnl::primitive_attr& attr, int) {
    auto md = bias ? dnnl::matmul::desc(a_md, b_any, bias_md, dst_md) : dnnl::matmul::desc(a_md, b_any, dst_md);
    auto pd = dnnl::matmul::primitive_desc(md, attr, p_.engine_);
    return std::make_pair(dnnl::primitive(dnnl::matmul(pd)), dnnl::primitive_desc_base(pd));
  };
  auto [prim, pd] = with_post_ops(fusable, dst_dims, false, make, fused, sum_slot, bargs, true);
  int a_view = alias_slot(a, md_dims(a_md), a_md, p_.slots_[a].name + "/mm_a");
  int b_ready = bconst ? packed_weight(n, n.inputs[1], b_slot, pd.query_md(dnnl::query::weights_md))
                       : alias_slot(b_slot, md_dims(b_md), b_md, p_.slots_[b_slot].name + "/mm_b");
  int outs = new_slot(n.outputs[0] + "/mm", DType::kFloat, dst_dims, dst_md);
  std::vector<std::pair<int, int>> args = {{DNNL_ARG_SRC, a_view}, {DNNL_ARG_WEIGHTS, b_ready}, {DNNL_ARG_DST, outs}};
  if (bias_slot >= 0) args.push_back({DNNL_ARG_BIAS, bias_slot});
  args.insert(args.end(), bargs.begin(), bargs.end());
  primitive_step(prim, args, n.name, pd.query_md(dnnl::query::scratchpad_md).get_size());
  int result = alias_slot(outs, od, plain_md(od), n.outputs[0]);
  finish_anchor(n, result, post, fused);
}

Dims PlanBuilder::md_dims(const dnnl::memory::desc& md) {
  auto d = md.dims();
  return Dims(d.begin(), d.end());
}

}  // namespace mrt::onednn
