// Lowering of a fused ONNX graph to oneDNN primitives. Heavy float32 ops
// become primitives whose weights are reordered once, here; activations
// stay in whatever (blocked) layout the producing primitive chose, and a
// reorder to plain row-major is inserted only where a consumer needs it
// (reference steps, reshapes, outputs).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "ops.h"
#include "plan.h"

namespace mrt::onednn {

using onnx::FusedGraph;
using onnx::Node;
using onnx::OnnxError;
using onnx::PostOp;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace {

dnnl::memory::dims to_dnnl(const Dims& d) { return d.empty() ? dnnl::memory::dims{1} : dnnl::memory::dims(d.begin(), d.end()); }

dnnl::memory::desc plain_md(const Dims& d) {
  auto dims = to_dnnl(d);
  dnnl::memory::dims strides(dims.size(), 1);
  for (size_t i = dims.size() - 1; i-- > 0;) strides[i] = strides[i + 1] * std::max<int64_t>(dims[i + 1], 1);
  return dnnl::memory::desc(dims, dt::f32, strides);
}

Dims with_rank(const Dims& d, size_t rank) {
  Dims out(rank - std::min(rank, d.size()), 1);
  out.insert(out.end(), d.begin(), d.end());
  return out;
}

struct Eltwise {
  dnnl::algorithm alg;
  float alpha, beta;
};

// ONNX activation → one or two oneDNN eltwise operations.
std::vector<Eltwise> eltwise_for(const std::string& op, float alpha, float beta) {
  using a = dnnl::algorithm;
  if (op == "Relu") return {{a::eltwise_relu, 0, 0}};
  if (op == "LeakyRelu") return {{a::eltwise_relu, alpha, 0}};
  if (op == "Clip") return {{a::eltwise_clip_v2, alpha, beta}};
  if (op == "Sigmoid") return {{a::eltwise_logistic, 0, 0}};
  if (op == "Tanh") return {{a::eltwise_tanh, 0, 0}};
  if (op == "HardSigmoid") return {{a::eltwise_linear, alpha, beta}, {a::eltwise_clip_v2, 0, 1}};
  if (op == "HardSwish") return {{a::eltwise_hardswish, 0, 0}};
  if (op == "Gelu") return {{a::eltwise_gelu_erf, 0, 0}};
  if (op == "GeluTanh") return {{a::eltwise_gelu_tanh, 0, 0}};
  if (op == "Sqrt") return {{a::eltwise_sqrt, 0, 0}};
  if (op == "Exp") return {{a::eltwise_exp, 0, 0}};
  if (op == "Neg") return {{a::eltwise_linear, -1, 0}};
  if (op == "Reciprocal") return {{a::eltwise_pow, 1, -1}};
  if (op == "Abs") return {{a::eltwise_abs, 0, 0}};
  if (op == "Linear") return {{a::eltwise_linear, alpha, beta}};
  return {};
}

}  // namespace

class PlanBuilder {
 public:
  PlanBuilder(Plan& plan, FusedGraph fg) : p_(plan), post_ops_(std::move(fg.post_ops)) {
    p_.graph_ = std::move(fg.graph);
    p_.fused_nodes_ = fg.fused_nodes;
  }

  void build() {
    const onnx::Graph& g = p_.graph_;
    for (const auto& name : g.outputs) remaining_uses_[name]++;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      for (const auto& in : g.nodes[i].inputs)
        if (!in.empty()) remaining_uses_[in]++;
      for (const auto& po : post_ops_[i])
        if (!po.operand.empty()) remaining_uses_[po.operand]++;
    }
    for (const auto& name : g.inputs) {
      const auto& t = g.types.at(name);
      int s = new_slot(name, t.dtype, t.dims, t.dtype == DType::kFloat ? plain_md(t.dims) : dnnl::memory::desc());
      values_[name] = s;
      p_.inputs_.push_back(s);
    }
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      try {
        lower(n, post_ops_[i]);
      } catch (const dnnl::error& e) {
        throw OnnxError(n.describe(g.opset) + ": oneDNN: " + e.what());
      }
      for (const auto& in : n.inputs)
        if (!in.empty()) remaining_uses_[in]--;
      for (const auto& po : post_ops_[i])
        if (!po.operand.empty()) remaining_uses_[po.operand]--;
    }
    for (const auto& name : g.outputs) {
      int s = value(name);
      if (p_.slots_[s].dtype == DType::kFloat) s = plain(s);
      p_.outputs_.push_back(s);
    }
    assign_buffers();
  }

 private:
  Plan& p_;
  std::vector<std::vector<PostOp>> post_ops_;
  std::map<std::string, int> values_;      // ONNX value → slot
  std::map<int, int> plain_of_;            // slot → its plain-layout copy
  std::map<std::string, int> remaining_uses_;
  std::vector<int> alias_of_;              // slot → slot whose buffer it shares (-1: own)
  std::vector<std::vector<int>> step_reads_, step_writes_;

  const onnx::Graph& graph() const { return p_.graph_; }

  // --- slots -----------------------------------------------------------------

  int new_slot(const std::string& name, DType dtype, const Dims& dims, const dnnl::memory::desc& md) {
    Slot s;
    s.name = name;
    s.dtype = dtype;
    s.dims = dims;
    s.md = md;
    s.bytes = dtype == DType::kFloat ? md.get_size() : static_cast<size_t>(onnx::element_count(dims)) * onnx::dtype_size(dtype);
    p_.slots_.push_back(std::move(s));
    alias_of_.push_back(-1);
    return static_cast<int>(p_.slots_.size() - 1);
  }

  int alias_slot(int of, const Dims& dims, const dnnl::memory::desc& md, const std::string& name) {
    int s = new_slot(name, p_.slots_[of].dtype, dims, md);
    p_.slots_[s].constant = p_.slots_[of].constant;
    p_.slots_[s].owned = p_.slots_[of].owned;
    alias_of_[s] = root(of);
    return s;
  }

  int root(int s) const { return alias_of_[s] < 0 ? s : alias_of_[s]; }

  int constant_slot(const std::string& name, const HostTensor& t) {
    int s = new_slot(name, t.dtype(), t.dims(), t.dtype() == DType::kFloat ? plain_md(t.dims()) : dnnl::memory::desc());
    p_.slots_[s].constant = &t;
    return s;
  }

  int owned_constant(const std::string& name, HostTensor t, const dnnl::memory::desc& md) {
    auto holder = std::make_shared<HostTensor>(std::move(t));
    int s = new_slot(name, DType::kFloat, holder->dims(), md);
    p_.slots_[s].constant = holder.get();
    p_.slots_[s].owned = holder;
    p_.constant_bytes_ += holder->bytes();
    return s;
  }

  int value(const std::string& name) {
    auto it = values_.find(name);
    if (it != values_.end()) return it->second;
    auto c = graph().constants.find(name);
    if (c == graph().constants.end()) throw OnnxError("value '" + name + "' is used before it is computed");
    int s = constant_slot(name, c->second);
    values_[name] = s;
    return s;
  }

  bool is_plain(int s) const {
    const Slot& sl = p_.slots_[s];
    return sl.dtype != DType::kFloat || sl.md == plain_md(sl.dims);
  }

  // The slot in plain row-major layout (a reorder step when it is blocked).
  int plain(int s) {
    if (is_plain(s)) return s;
    auto it = plain_of_.find(s);
    if (it != plain_of_.end()) return it->second;
    int d = new_slot(p_.slots_[s].name + "/plain", DType::kFloat, p_.slots_[s].dims, plain_md(p_.slots_[s].dims));
    reorder_step(s, d, p_.slots_[s].name + " to plain");
    plain_of_[s] = d;
    return d;
  }

  // A slot of `s`'s data in layout `md` (a reorder step when different);
  // constants are reordered now, once.
  int in_layout(int s, const dnnl::memory::desc& md, const std::string& why) {
    if (p_.slots_[s].md == md) return s;
    if (p_.slots_[s].constant) {
      // Uninitialized: the reorder writes every byte (oneDNN zero-pads the
      // padded tail of blocked formats when memory is bound to a handle).
      HostTensor t(DType::kFloat, {static_cast<int64_t>((md.get_size() + 3) / 4)}, HostTensor::Uninitialized{});
      dnnl::memory src(p_.slots_[s].md, p_.engine_, const_cast<void*>(p_.slots_[s].constant->raw()));
      dnnl::memory dst(md, p_.engine_, t.raw());
      dnnl::stream st(p_.engine_);
      dnnl::reorder(src, dst).execute(st, src, dst);
      st.wait();
      int c = owned_constant(p_.slots_[s].name + "/" + why, std::move(t), md);
      p_.slots_[c].dims = p_.slots_[s].dims;
      return c;
    }
    int d = new_slot(p_.slots_[s].name + "/" + why, DType::kFloat, p_.slots_[s].dims, md);
    reorder_step(s, d, p_.slots_[s].name + " " + why);
    return d;
  }

  // --- steps -------------------------------------------------------------------

  void primitive_step(const dnnl::primitive& prim, std::vector<std::pair<int, int>> args, const std::string& what,
                      size_t scratchpad) {
    Step st;
    st.kind = 0;
    st.prim.primitive = prim;
    st.prim.args = std::move(args);
    st.prim.what = what;
    p_.scratchpad_bytes_ = std::max(p_.scratchpad_bytes_, scratchpad);
    std::vector<int> reads, writes;
    for (const auto& [arg, slot] : st.prim.args) (arg == DNNL_ARG_DST ? writes : reads).push_back(slot);
    p_.steps_.push_back(std::move(st));
    step_reads_.push_back(std::move(reads));
    step_writes_.push_back(std::move(writes));
  }

  void reorder_step(int src, int dst, const std::string& what) {
    auto pd = dnnl::reorder::primitive_desc(p_.engine_, p_.slots_[src].md, p_.engine_, p_.slots_[dst].md, user_attr());
    primitive_step(dnnl::reorder(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}}, what, pd.scratchpad_desc().get_size());
  }

  static dnnl::primitive_attr user_attr() {
    dnnl::primitive_attr a;
    a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return a;
  }

  void define(const std::string& name, int slot) {
    values_[name] = slot;
    p_.slots_[slot].name = name;
  }

  int output_slot(const Node& n, size_t i, const dnnl::memory::desc& md) {
    const auto& t = graph().types.at(n.outputs[i]);
    int s = new_slot(n.outputs[i], t.dtype, t.dims, md);
    values_[n.outputs[i]] = s;
    return s;
  }

  bool is_float(const std::string& v) const { return graph().types.at(v).dtype == DType::kFloat; }

  const HostTensor* constant(const std::string& v) const {
    auto it = graph().constants.find(v);
    return it == graph().constants.end() ? nullptr : &it->second;
  }

  [[noreturn]] void fail(const Node& n, const std::string& why) const { throw OnnxError(n.describe(graph().opset) + ": " + why); }

  // --- lowering ---------------------------------------------------------------------

  void lower(const Node& n, const std::vector<PostOp>& post) {
    const std::string& op = n.op_type;
    bool all_float = true;
    for (const auto& in : n.inputs)
      if (!in.empty() && !is_float(in)) all_float = false;
    for (const auto& o : n.outputs)
      if (!o.empty() && !is_float(o)) all_float = false;
    if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze" || op == "Identity") return lower_view(n);
    if (all_float) {
      if (op == "Conv" || op == "ConvTranspose") return lower_conv(n, post);
      if (op == "Gemm" || op == "MatMul") return lower_matmul(n, post);
      if (!post.empty()) fail(n, "internal: post-ops on a node that cannot take them");
      if (op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool") return lower_pool(n);
      if (op == "BatchNormalization" && n.outputs.size() == 1) return lower_batch_norm(n);
      if (op == "LayerNormalization" && n.outputs.size() == 1 && lower_layer_norm(n)) return;
      if ((op == "Softmax" || op == "LogSoftmax") && lower_softmax(n)) return;
      if ((op == "ReduceMean" || op == "ReduceSum") && lower_reduce(n)) return;
      if (op == "Concat") return lower_concat(n);
      if (op == "Transpose") return lower_transpose(n);
      if ((op == "Add" || op == "Sub" || op == "Mul" || op == "Div") && lower_binary(n)) return;
      if (op == "Pow" && lower_pow(n)) return;
      if (!eltwise_for(op, 0, 0).empty() || op == "LeakyRelu" || op == "Clip" || op == "HardSigmoid" || op == "Gelu")
        if (lower_unary(n)) return;
    }
    if (!post.empty()) fail(n, "internal: post-ops on a reference step");
    if (!onnx::has_reference(op)) fail(n, "no CPU kernel for this op with these dtypes");
    lower_reference(n);
  }

  void lower_reference(const Node& n) {
    Step st;
    st.kind = 1;
    st.ref.node = n;
    std::vector<int> reads, writes;
    for (const auto& in : n.inputs) {
      int s = in.empty() ? -1 : plain(value(in));
      st.ref.inputs.push_back(s);
      if (s >= 0) reads.push_back(s);
    }
    for (size_t i = 0; i < n.outputs.size(); ++i) {
      if (n.outputs[i].empty()) {
        st.ref.outputs.push_back(-1);
        continue;
      }
      const auto& t = graph().types.at(n.outputs[i]);
      int s = output_slot(n, i, t.dtype == DType::kFloat ? plain_md(t.dims) : dnnl::memory::desc());
      st.ref.outputs.push_back(s);
      writes.push_back(s);
    }
    p_.steps_.push_back(std::move(st));
    step_reads_.push_back(std::move(reads));
    step_writes_.push_back(std::move(writes));
  }

  // Reshape and friends: the same bytes under new dims (plain layout).
  void lower_view(const Node& n) {
    int s = value(n.inputs[0]);
    if (p_.slots_[s].dtype == DType::kFloat) s = plain(s);
    const auto& t = graph().types.at(n.outputs[0]);
    int v = alias_slot(s, t.dims, t.dtype == DType::kFloat ? plain_md(t.dims) : dnnl::memory::desc(), n.outputs[0]);
    define(n.outputs[0], v);
  }

  // Appends post-ops [0, count) to `ops`; returns the binary operands'
  // (arg index, slot) pairs. `sum_slot` is set for an in-place residual.
  std::vector<std::pair<int, int>> append_post_ops(dnnl::post_ops& ops, const std::vector<PostOp>& post, size_t count,
                                                   const Dims& out_dims, int& sum_slot, bool allow_sum) {
    std::vector<std::pair<int, int>> binary_args;
    for (size_t i = 0; i < count; ++i) {
      const PostOp& po = post[i];
      if (po.kind == PostOp::kEltwise) {
        for (const auto& e : eltwise_for(po.op_type, po.alpha, po.beta)) ops.append_eltwise(1.0f, e.alg, e.alpha, e.beta);
      } else if (po.kind == PostOp::kLinear) {
        ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_linear, po.alpha, po.beta);
      } else {
        int r = value(po.operand);
        if (allow_sum && i == 0 && sum_slot < 0 && p_.slots_[r].dims == out_dims && !p_.slots_[r].constant &&
            remaining_uses_[po.operand] == 1 && !is_graph_input(r)) {
          sum_slot = r;  // the residual's buffer becomes the destination
          ops.append_sum(1.0f);
          continue;
        }
        int aligned = operand_for(r, out_dims);
        int idx = ops.len();
        ops.append_binary(dnnl::algorithm::binary_add, p_.slots_[aligned].md);
        binary_args.push_back({DNNL_ARG_ATTR_MULTIPLE_POST_OP(idx) | DNNL_ARG_SRC_1, aligned});
      }
    }
    return binary_args;
  }

  bool is_graph_input(int s) const {
    for (int in : p_.inputs_)
      if (root(s) == root(in)) return true;
    return false;
  }

  // An operand viewed with `rank` dims (leading 1s), in plain layout unless
  // it already has the full rank.
  int operand_aligned(int s, size_t rank) {
    if (p_.slots_[s].dims.size() == rank && !p_.slots_[s].dims.empty()) return s;
    s = plain(s);
    Dims d = with_rank(p_.slots_[s].dims, rank);
    return alias_slot(s, d, plain_md(d), p_.slots_[s].name + "/aligned");
  }

  // An operand seen with dst's dims: the same elements reshaped (a
  // flattened matmul), else broadcast with leading 1s.
  int operand_for(int s, const Dims& dst) {
    if (p_.slots_[s].dims == dst) return s;
    if (onnx::element_count(p_.slots_[s].dims) == onnx::element_count(dst)) {
      s = plain(s);
      return alias_slot(s, dst, plain_md(dst), p_.slots_[s].name + "/as_dst");
    }
    if (!dst.empty() && onnx::element_count(p_.slots_[s].dims) == dst.back() && p_.slots_[s].dims.back() == dst.back()) {
      s = plain(s);
      Dims row(dst.size(), 1);
      row.back() = dst.back();
      return alias_slot(s, row, plain_md(row), p_.slots_[s].name + "/row");
    }
    return operand_aligned(s, dst.size());
  }

  // Emits post-ops [from, end) as standalone steps on slot `cur`.
  int standalone_post_ops(int cur, const std::vector<PostOp>& post, size_t from, const std::string& name) {
    for (size_t i = from; i < post.size(); ++i) {
      const PostOp& po = post[i];
      if (po.kind == PostOp::kAdd) {
        cur = binary_step(dnnl::algorithm::binary_add, cur, value(po.operand), p_.slots_[cur].dims, name + "/" + po.source_node);
      } else {
        auto ops = po.kind == PostOp::kLinear ? std::vector<Eltwise>{{dnnl::algorithm::eltwise_linear, po.alpha, po.beta}}
                                              : eltwise_for(po.op_type, po.alpha, po.beta);
        for (const auto& e : ops) cur = eltwise_step(cur, e, name + "/" + po.source_node);
      }
    }
    return cur;
  }

  int eltwise_step(int src, const Eltwise& e, const std::string& what) {
    const Slot& s = p_.slots_[src];
    auto d = dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, e.alg, s.md, e.alpha, e.beta);
    auto pd = dnnl::eltwise_forward::primitive_desc(d, user_attr(), p_.engine_);
    int out = new_slot(what, DType::kFloat, s.dims, pd.dst_desc());
    primitive_step(dnnl::eltwise_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, out}}, what, pd.scratchpad_desc().get_size());
    return out;
  }

  // dst = a (op) b with b broadcast into `out_dims`; a must have out_dims.
  int binary_step(dnnl::algorithm alg, int a, int b, const Dims& out_dims, const std::string& what) {
    int b2 = operand_aligned(b, out_dims.size());
    if (p_.slots_[a].dims.size() != out_dims.size()) a = operand_aligned(a, out_dims.size());
    auto d = dnnl::binary::desc(alg, p_.slots_[a].md, p_.slots_[b2].md, p_.slots_[a].md);
    auto pd = dnnl::binary::primitive_desc(d, user_attr(), p_.engine_);
    int out = new_slot(what, DType::kFloat, out_dims, pd.dst_desc());
    primitive_step(dnnl::binary(pd), {{DNNL_ARG_SRC_0, a}, {DNNL_ARG_SRC_1, b2}, {DNNL_ARG_DST, out}}, what,
                   pd.scratchpad_desc().get_size());
    return out;
  }

  // Finishes an anchor: the primitive was made with the first `fused`
  // post-ops; the rest run as their own steps; the result defines the
  // node's output.
  void finish_anchor(const Node& n, int out, const std::vector<PostOp>& post, size_t fused) {
    out = standalone_post_ops(out, post, fused, n.name);
    define(n.outputs[0], out);
  }

  // Tries to make a primitive_desc with the first k post-ops, k from all
  // down to 0 (a post-op oneDNN cannot fuse here runs on its own).
  template <typename MakePd>
  auto with_post_ops(const std::vector<PostOp>& post, const Dims& out_dims, bool allow_sum, MakePd make, size_t& fused,
                     int& sum_slot, std::vector<std::pair<int, int>>& binary_args) {
    for (size_t k = post.size() + 1; k-- > 0;) {
      dnnl::post_ops ops;
      int sum = -1;
      auto args = append_post_ops(ops, post, k, out_dims, sum, allow_sum);
      dnnl::primitive_attr attr = user_attr();
      attr.set_post_ops(ops);
      try {
        auto pd = make(attr, sum);
        fused = k;
        sum_slot = sum;
        binary_args = std::move(args);
        return pd;
      } catch (const dnnl::error&) {
        if (k == 0) throw;
      }
    }
    throw OnnxError("unreachable");
  }

  void lower_conv(const Node& n, const std::vector<PostOp>& post) {
    bool transposed = n.op_type == "ConvTranspose";
    int src = value(n.inputs[0]);
    const HostTensor* w = constant(n.inputs[1]);
    const Dims& xd = p_.slots_[src].dims;
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
    dnnl::memory::desc any_src(to_dnnl(xd), dt::f32, tag::any), any_w(wdims, dt::f32, tag::any);
    dnnl::memory::desc bias_md;
    bool bias = !n.input(2).empty();
    if (bias) bias_md = dnnl::memory::desc({oc}, dt::f32, tag::a);

    size_t fused = 0;
    int sum_slot = -1;
    std::vector<std::pair<int, int>> bargs;
    auto make = [&](const dnnl::primitive_attr& attr, int sum) {
      dnnl::memory::desc dst = sum >= 0 ? p_.slots_[sum].md : dnnl::memory::desc(to_dnnl(od), dt::f32, tag::any);
      if (!transposed) {
        auto cd = bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, any_src,
                                                         any_w, bias_md, dst, s, d, pl, pr)
                       : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, any_src,
                                                         any_w, dst, s, d, pl, pr);
        return std::make_pair(dnnl::primitive(dnnl::convolution_forward(dnnl::convolution_forward::primitive_desc(cd, attr, p_.engine_))),
                              dnnl::primitive_desc_base(dnnl::convolution_forward::primitive_desc(cd, attr, p_.engine_)));
      }
      auto dd = bias ? dnnl::deconvolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct, any_src,
                                                         any_w, bias_md, dst, s, d, pl, pr)
                     : dnnl::deconvolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct, any_src,
                                                         any_w, dst, s, d, pl, pr);
      auto pd = dnnl::deconvolution_forward::primitive_desc(dd, attr, p_.engine_);
      return std::make_pair(dnnl::primitive(dnnl::deconvolution_forward(pd)), dnnl::primitive_desc_base(pd));
    };
    auto [prim, pd] = with_post_ops(post, od, true, make, fused, sum_slot, bargs);
    int src_ready = in_layout(src, pd.query_md(dnnl::query::src_md), "conv_src");
    // Constant weights are reordered now, once; weights computed at run time
    // (rare: a node test, a weight-generating subgraph) by a reorder step.
    int w_user_slot = w ? owned_constant(n.inputs[1] + "/user", HostTensor(*w), w_user)
                        : alias_slot(plain(value(n.inputs[1])), md_dims(w_user), w_user, n.inputs[1] + "/user");
    int w_slot = in_layout(w_user_slot, pd.query_md(dnnl::query::weights_md), "packed");
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
  void lower_deconv_past_input(const Node& n, const std::vector<PostOp>& post, const dnnl::memory::dims& pl,
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
  int pad_step(const Node& n, int src, const std::vector<int64_t>& pads, const Dims& out) {
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
    lower_reference(pad);
    return value(out_name);
  }

  void lower_matmul(const Node& n, const std::vector<PostOp>& post_in) {
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
    auto [prim, pd] = with_post_ops(fusable, dst_dims, false, make, fused, sum_slot, bargs);
    int a_view = alias_slot(a, md_dims(a_md), a_md, p_.slots_[a].name + "/mm_a");
    int b_ready = bconst ? in_layout(b_slot, pd.query_md(dnnl::query::weights_md), "packed")
                         : alias_slot(b_slot, md_dims(b_md), b_md, p_.slots_[b_slot].name + "/mm_b");
    int outs = new_slot(n.outputs[0] + "/mm", DType::kFloat, dst_dims, dst_md);
    std::vector<std::pair<int, int>> args = {{DNNL_ARG_SRC, a_view}, {DNNL_ARG_WEIGHTS, b_ready}, {DNNL_ARG_DST, outs}};
    if (bias_slot >= 0) args.push_back({DNNL_ARG_BIAS, bias_slot});
    args.insert(args.end(), bargs.begin(), bargs.end());
    primitive_step(prim, args, n.name, pd.query_md(dnnl::query::scratchpad_md).get_size());
    int result = alias_slot(outs, od, plain_md(od), n.outputs[0]);
    finish_anchor(n, result, post, fused);
  }

  static Dims md_dims(const dnnl::memory::desc& md) {
    auto d = md.dims();
    return Dims(d.begin(), d.end());
  }

  void lower_pool(const Node& n) {
    int src = value(n.inputs[0]);
    const Dims& xd = p_.slots_[src].dims;
    const Dims& od = graph().types.at(n.outputs[0]).dims;
    size_t sp = xd.size() - 2;
    dnnl::memory::dims k(sp), s(sp, 1), d(sp, 0), pl(sp, 0), pr(sp, 0);
    dnnl::algorithm alg = dnnl::algorithm::pooling_max;
    if (n.op_type == "GlobalAveragePool") {
      for (size_t i = 0; i < sp; ++i) k[i] = xd[2 + i];
      alg = dnnl::algorithm::pooling_avg_exclude_padding;
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

  int vector_slot(const std::string& v, int64_t c, const Node& n) {
    int s = plain(value(v));
    if (onnx::element_count(p_.slots_[s].dims) != c) fail(n, "'" + v + "' must hold " + std::to_string(c) + " values");
    return alias_slot(s, {c}, plain_md({c}), p_.slots_[s].name + "/vec");
  }

  void lower_batch_norm(const Node& n) {
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

  bool lower_layer_norm(const Node& n) {
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

  bool lower_softmax(const Node& n) {
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

  bool lower_reduce(const Node& n) {
    int src = plain(value(n.inputs[0]));
    const Dims& xd = p_.slots_[src].dims;
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
    auto alg = n.op_type == "ReduceMean" ? dnnl::algorithm::reduction_mean : dnnl::algorithm::reduction_sum;
    auto desc = dnnl::reduction::desc(alg, plain_md(xd), plain_md(kd), 0.f, 0.f);
    auto pd = dnnl::reduction::primitive_desc(desc, user_attr(), p_.engine_);
    int out = new_slot(n.outputs[0] + "/keep", DType::kFloat, kd, plain_md(kd));
    primitive_step(dnnl::reduction(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, out}}, n.name, pd.scratchpad_desc().get_size());
    const Dims& od = graph().types.at(n.outputs[0]).dims;
    define(n.outputs[0], alias_slot(out, od, plain_md(od), n.outputs[0]));
    return true;
  }

  void lower_concat(const Node& n) {
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
    // Mixed layouts concatenate in plain layout.
    bool same = true;
    for (int s : srcs) same = same && p_.slots_[s].md.data.format_desc.blocking.inner_nblks == p_.slots_[srcs[0]].md.data.format_desc.blocking.inner_nblks;
    for (auto& s : srcs) {
      if (!same || p_.slots_[s].constant) s = plain(s);
      mds.push_back(p_.slots_[s].md);
    }
    auto pd = dnnl::concat::primitive_desc(static_cast<int>(axis), mds, p_.engine_, user_attr());
    int out = output_slot(n, 0, pd.dst_desc());
    std::vector<std::pair<int, int>> args;
    for (size_t i = 0; i < srcs.size(); ++i) args.push_back({DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i), srcs[i]});
    args.push_back({DNNL_ARG_DST, out});
    primitive_step(dnnl::concat(pd), args, n.name, pd.scratchpad_desc().get_size());
  }

  void lower_transpose(const Node& n) {
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

  bool scalar(const std::string& v, float& out) const {
    const HostTensor* c = constant(v);
    if (!c || c->numel() != 1 || c->dtype() != DType::kFloat) return false;
    out = c->data<float>()[0];
    return true;
  }

  bool lower_binary(const Node& n) {
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
    // Different layouts of two full operands: compute in a's layout.
    if (p_.slots_[b].dims == od && !(p_.slots_[b].md == p_.slots_[a].md)) b = in_layout(b, p_.slots_[a].md, "as_src0");
    if (p_.slots_[b].dims != od && !is_plain(a) && !(p_.slots_[b].dims.size() == od.size() && is_channel_vector(b, od))) a = plain(a);
    int out = binary_step(alg, a, b, od, n.name);
    define(n.outputs[0], out);
    return true;
  }

  // A [1, C, 1, ...] operand: oneDNN broadcasts it per channel over any layout.
  bool is_channel_vector(int s, const Dims& od) const {
    const Dims& d = p_.slots_[s].dims;
    for (size_t i = 0; i < d.size(); ++i)
      if (d[i] != (i == 1 ? od[1] : 1)) return false;
    return od.size() > 1;
  }

  bool lower_pow(const Node& n) {
    float e = 0;
    if (!scalar(n.inputs[1], e)) return false;
    Eltwise el = e == 2.0f ? Eltwise{dnnl::algorithm::eltwise_square, 0, 0}
                 : e == 0.5f ? Eltwise{dnnl::algorithm::eltwise_sqrt, 0, 0}
                             : Eltwise{dnnl::algorithm::eltwise_pow, 1, e};
    define(n.outputs[0], eltwise_step(value(n.inputs[0]), el, n.name));
    return true;
  }

  bool lower_unary(const Node& n) {
    const std::string& op = n.op_type;
    float alpha = 0, beta = 0;
    std::string kind = op;
    if (op == "LeakyRelu") alpha = n.attr_float("alpha", 0.01f);
    if (op == "HardSigmoid") alpha = n.attr_float("alpha", 0.2f), beta = n.attr_float("beta", 0.5f);
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

  // --- arena ---------------------------------------------------------------------

  // Liveness-based buffer sharing: a value's buffer is reused once its last
  // reader has run (best fit among free blocks). Plan inputs and outputs
  // stay live throughout.
  void assign_buffers() {
    size_t n_slots = p_.slots_.size();
    std::vector<long> first(n_slots, -1), last(n_slots, -1);
    auto touch = [&](int s, long step) {
      int r = root(s);
      if (p_.slots_[r].constant) return;
      if (first[r] < 0) first[r] = step;
      last[r] = std::max(last[r], step);
    };
    for (int s : p_.inputs_) touch(s, -1);
    long n_steps = static_cast<long>(p_.steps_.size());
    for (long i = 0; i < n_steps; ++i) {
      for (int s : step_writes_[i]) touch(s, i);
      for (int s : step_reads_[i]) touch(s, i);
    }
    for (int s : p_.inputs_) first[root(s)] = -1, last[root(s)] = n_steps;
    for (int s : p_.outputs_) last[root(s)] = n_steps;
    // Size of a root buffer: the largest view of it.
    std::vector<size_t> need(n_slots, 0);
    for (size_t s = 0; s < n_slots; ++s) need[root(static_cast<int>(s))] = std::max(need[root(static_cast<int>(s))], p_.slots_[s].bytes);
    struct Block {
      size_t offset, size;
    };
    std::vector<Block> free_blocks;
    size_t top = 0;
    std::vector<std::vector<int>> born(n_steps + 2), dies(n_steps + 2);
    for (size_t s = 0; s < n_slots; ++s) {
      if (root(static_cast<int>(s)) != static_cast<int>(s) || p_.slots_[s].constant || (first[s] < 0 && last[s] < 0)) continue;
      born[first[s] + 1].push_back(static_cast<int>(s));
      dies[last[s] + 1].push_back(static_cast<int>(s));
    }
    std::vector<size_t> offset(n_slots, 0);
    auto round = [](size_t b) { return (std::max<size_t>(b, 1) + 63) / 64 * 64; };
    for (long t = 0; t <= n_steps + 1; ++t) {
      for (int s : born[t]) {
        size_t want = round(need[s]);
        long best = -1;
        for (size_t k = 0; k < free_blocks.size(); ++k)
          if (free_blocks[k].size >= want && (best < 0 || free_blocks[k].size < free_blocks[best].size)) best = static_cast<long>(k);
        if (best >= 0) {
          offset[s] = free_blocks[best].offset;
          if (free_blocks[best].size > want) free_blocks[best] = {free_blocks[best].offset + want, free_blocks[best].size - want};
          else free_blocks.erase(free_blocks.begin() + best);
        } else {
          offset[s] = top;
          top += want;
        }
      }
      for (int s : dies[t]) free_blocks.push_back({offset[s], round(need[s])});
    }
    p_.buffer_offsets_.assign(n_slots, 0);
    for (size_t s = 0; s < n_slots; ++s) {
      int r = root(static_cast<int>(s));
      if (p_.slots_[r].constant) continue;
      p_.slots_[s].buffer = static_cast<int>(s);
      p_.buffer_offsets_[s] = offset[r];
    }
    p_.arena_bytes_ = top;
  }
};

Plan::Plan(const dnnl::engine& engine, FusedGraph g) : engine_(engine) { PlanBuilder(*this, std::move(g)).build(); }

}  // namespace mrt::onednn
