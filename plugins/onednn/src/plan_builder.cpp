// The plan builder's core: slots, steps, the op dispatch, post-op helpers
// and the liveness-based arena (see plan_builder.h).
#include "plan_builder.h"

#include <algorithm>
#include <set>

#include "arena_allocator.h"
#include "batch_split.h"
#include "mrt/onnx/ops.h"
#include "streamed_packing.h"
#include "winograd_weights.h"

namespace mrt::onednn {

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

namespace {

// The plain, channels-last and channel-blocked format tags at each rank
// (what this backend's activations use), with their names.
const std::vector<std::pair<tag, const char*>>& layout_tags(int rank) {
  static const std::vector<std::pair<tag, const char*>> none, r1 = {{tag::a, "a"}}, r2 = {{tag::ab, "ab"}, {tag::ba, "ba"}},
      r3 = {{tag::abc, "abc"}, {tag::acb, "acb"}, {tag::aBc8b, "aBc8b"}, {tag::aBc16b, "aBc16b"}},
      r4 = {{tag::abcd, "abcd"}, {tag::acdb, "acdb"}, {tag::aBcd8b, "aBcd8b"}, {tag::aBcd16b, "aBcd16b"}},
      r5 = {{tag::abcde, "abcde"}, {tag::acdeb, "acdeb"}, {tag::aBcde8b, "aBcde8b"}, {tag::aBcde16b, "aBcde16b"}};
  switch (rank) {
    case 1: return r1;
    case 2: return r2;
    case 3: return r3;
    case 4: return r4;
    case 5: return r5;
    default: return none;
  }
}

std::string dims_x(const dnnl::memory::dims& d) {
  std::string s;
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "x" : "") + std::to_string(d[i]);
  return s;
}

std::string data_type_name(dnnl_data_type_t t) {
  switch (t) {
    case dnnl_f32: return "f32";
    case dnnl_bf16: return "bf16";
    case dnnl_f16: return "f16";
    case dnnl_s32: return "s32";
    case dnnl_s8: return "s8";
    case dnnl_u8: return "u8";
    default: return "?";
  }
}

// The DNNL_ARG_* names the report gives arguments.
std::string arg_name(int arg) {
  if (arg & DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE) return "post-op operand";
  if (arg >= DNNL_ARG_MULTIPLE_SRC && arg < DNNL_ARG_MULTIPLE_DST) return "src" + std::to_string(arg - DNNL_ARG_MULTIPLE_SRC);
  switch (arg) {
    case DNNL_ARG_SRC: return "src";
    case DNNL_ARG_SRC_1: return "src1";
    case DNNL_ARG_DST: return "dst";
    case DNNL_ARG_WEIGHTS: return "weights";
    case DNNL_ARG_BIAS: return "bias";
    case DNNL_ARG_MEAN: return "mean";
    case DNNL_ARG_VARIANCE: return "variance";
    case DNNL_ARG_SCALE: return "scale";
    case DNNL_ARG_SHIFT: return "shift";
    default: return "arg" + std::to_string(arg);
  }
}

// Why oneDNN took its reference kernel, by primitive kind.
std::string reference_reason(dnnl::primitive::kind k) {
  using pk = dnnl::primitive::kind;
  switch (k) {
    case pk::binary: return "oneDNN's jit binary kernels need both operands in one layout (a broadcast operand blocked like the other)";
    case pk::eltwise: return "oneDNN's jit eltwise kernels need a dense tensor (no padded channel blocks)";
    case pk::reorder: return "oneDNN has no jit reorder between these layouts";
    default: return "oneDNN has no optimized kernel for these shapes and layouts";
  }
}

}  // namespace

std::optional<dnnl::memory::desc> same_layout(const dnnl::memory::desc& like, const Dims& d) {
  const dnnl::memory::dims ld = like.dims();
  if (ld.size() != d.size()) return std::nullopt;
  auto type = static_cast<dt>(like.data.data_type);
  for (const auto& [t, name] : layout_tags(static_cast<int>(ld.size())))
    if (like == dnnl::memory::desc(ld, type, t)) return dnnl::memory::desc(to_dnnl(d), type, t);
  return std::nullopt;
}

std::string layout_name(const dnnl::memory::desc& md) {
  const dnnl::memory::dims d = md.dims();
  for (const auto& [t, name] : layout_tags(static_cast<int>(d.size())))
    if (md == dnnl::memory::desc(d, static_cast<dt>(md.data.data_type), t)) return name;
  if (md.data.format_kind != dnnl_blocked) return "non-blocked";
  const auto& b = md.data.format_desc.blocking;
  return "strides " + dims_x(dnnl::memory::dims(b.strides, b.strides + md.data.ndims)) + (b.inner_nblks ? " blocked" : "");
}

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
  if (op == "Elu") return {{a::eltwise_elu, alpha, 0}};
  if (op == "Selu") return {{a::eltwise_elu, alpha, 0}, {a::eltwise_linear, beta, 0}};  // beta carries gamma
  if (op == "Celu") return {{a::eltwise_linear, 1 / alpha, 0}, {a::eltwise_elu, 1, 0}, {a::eltwise_linear, alpha, 0}};
  if (op == "Mish") return {{a::eltwise_mish, 0, 0}};
  if (op == "Swish") return {{a::eltwise_swish, 1, 0}};  // x * sigmoid(x): this backend's own op (fuse_silu in plan.cpp)
  // Not Softplus or Log: oneDNN 2.6's soft_relu is 1.3% off at x = -10 and
  // its log gives -1.4e-6 for log(1) (the onnx node tests catch both); the
  // host kernels are exact.
  return {};
}

void PlanBuilder::build() {
  const onnx::Graph& g = p_.graph_;
  for (const auto& name : g.outputs) remaining_uses_[name]++;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (const auto& in : g.nodes[i].inputs)
      if (!in.empty()) remaining_uses_[in]++;
    for (const auto& po : post_ops_[i])
      if (!po.operand.empty()) remaining_uses_[po.operand]++;
  }
  for (const auto& n : g.nodes) winograd_network_ = winograd_network_ || runs_winograd(n);
  for (const auto& name : g.inputs) {
    const auto& t = g.types.at(name);
    auto layout = boundary_.input_layouts.find(name);
    dnnl::memory::desc md;
    try {
      md = t.dtype != DType::kFloat ? dnnl::memory::desc()
           : layout != boundary_.input_layouts.end() ? layout->second
                                                    : plain_md(t.dims);
    } catch (const dnnl::error& e) {  // e.g. an axis of 2^31 declared in the model
      throw OnnxError("input '" + name + "' " + onnx::dims_string(t.dims) + ": oneDNN: " + e.what());
    }
    int s = new_slot(name, t.dtype, t.dims, md);
    values_[name] = s;
    p_.inputs_.push_back(s);
  }
  std::vector<bool> lowered(g.nodes.size(), false);  // a depthwise convolution fused into the 1x1 before it
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    current_ = &n;
    try {
      long dw = lowered[i] ? -1 : fusable_depthwise(i);
      if (dw >= 0 && lower_conv_depthwise(n, post_ops_[i], g.nodes[dw], post_ops_[dw])) lowered[dw] = true;
      else if (!lowered[i]) lower(n, post_ops_[i]);
    } catch (const dnnl::error& e) {
      throw OnnxError(n.describe(g.opset) + ": oneDNN: " + e.what());
    }
    for (const auto& in : n.inputs)
      if (!in.empty()) remaining_uses_[in]--;
    for (const auto& po : post_ops_[i])
      if (!po.operand.empty()) remaining_uses_[po.operand]--;
  }
  current_ = nullptr;
  for (const auto& name : g.outputs) {
    int s = value(name);
    if (p_.slots_[s].dtype == DType::kFloat && !(boundary_.strided_outputs && is_batch_strided(p_.slots_[s].md))) s = plain(s);
    p_.outputs_.push_back(s);
  }
  release_unread_constants();
  assign_buffers();
}

// Constant slots no step reads (a weight in the layout it came in, once its
// reordered copy exists) let go of their bytes, and the constant bytes
// counted are the ones the steps keep.
void PlanBuilder::release_unread_constants() {
  std::set<int> read(p_.inputs_.begin(), p_.inputs_.end());
  read.insert(p_.outputs_.begin(), p_.outputs_.end());
  for (const auto& r : step_reads_) read.insert(r.begin(), r.end());
  for (const auto& st : p_.steps_)
    if (st.kind == 1) read.insert(st.ref.inputs.begin(), st.ref.inputs.end());
  std::set<const void*> kept;
  p_.constant_bytes_ = 0;
  for (size_t i = 0; i < p_.slots_.size(); ++i) {
    Slot& sl = p_.slots_[i];
    if (!sl.constant) continue;
    if (!read.count(static_cast<int>(i))) {
      sl.constant = nullptr;
      sl.owned.reset();
      sl.released = true;
    } else if (sl.owned && kept.insert(sl.constant->address()).second) {
      p_.constant_bytes_ += sl.constant->bytes();
    }
  }
}

// --- slots -----------------------------------------------------------------
int PlanBuilder::new_slot(const std::string& name, DType dtype, const Dims& dims, const dnnl::memory::desc& md) {
  p_.slots_.push_back(Slot::of(name, dtype, dims, md));
  alias_of_.push_back(-1);
  return static_cast<int>(p_.slots_.size() - 1);
}

int PlanBuilder::alias_slot(int of, const Dims& dims, const dnnl::memory::desc& md, const std::string& name) {
  int s = new_slot(name, p_.slots_[of].dtype, dims, md);
  p_.slots_[s].constant = p_.slots_[of].constant;
  p_.slots_[s].owned = p_.slots_[of].owned;
  alias_of_[s] = root(of);
  return s;
}

int PlanBuilder::constant_slot(const std::string& name, const HostTensor& t) {
  int s = new_slot(name, t.dtype(), t.dims(), t.dtype() == DType::kFloat ? plain_md(t.dims()) : dnnl::memory::desc());
  p_.slots_[s].constant = &t;
  return s;
}

int PlanBuilder::owned_constant(const std::string& name, HostTensor t, const dnnl::memory::desc& md) {
  return owned_constant(name, std::make_shared<HostTensor>(std::move(t)), md);
}

int PlanBuilder::owned_constant(const std::string& name, std::shared_ptr<HostTensor> holder, const dnnl::memory::desc& md) {
  int s = new_slot(name, DType::kFloat, holder->dims(), md);
  p_.slots_[s].constant = holder.get();
  p_.slots_[s].owned = holder;
  return s;
}

int PlanBuilder::value(const std::string& name) {
  auto it = values_.find(name);
  if (it != values_.end()) return it->second;
  auto c = graph().constants.find(name);
  if (c == graph().constants.end()) throw OnnxError("value '" + name + "' is used before it is computed");
  int s = constant_slot(name, c->second);
  values_[name] = s;
  return s;
}

bool PlanBuilder::is_plain(int s) const {
  const Slot& sl = p_.slots_[s];
  return sl.dtype != DType::kFloat || sl.md == plain_md(sl.dims);
}

// The slot in plain row-major layout (a reorder step when it is blocked).
int PlanBuilder::plain(int s) {
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
int PlanBuilder::in_layout(int s, const dnnl::memory::desc& md, const std::string& why, bool sole_weight) {
  if (p_.slots_[s].md == md) return s;
  if (p_.slots_[s].constant) {
    const Slot& src = p_.slots_[s];
    const bool may_stream = sole_weight && p_.options_.weight_may_stream && p_.options_.weight_streamed &&
                            src.md.get_size() == src.constant->bytes() && p_.options_.weight_may_stream(*src.constant);
    auto pack = [&]() -> std::shared_ptr<HostTensor> {
      const float* from = static_cast<const float*>(src.constant->raw());
      if (int64_t rows = may_stream ? packing_slice_rows(src.md, md, kPackingSliceBytes) : 0)
        return pack_streamed(p_.engine_, src.md, from, md, rows, [&](const std::shared_ptr<HostTensor>& packed) {
          p_.options_.weight_streamed(*src.constant, WeightCache::Packing{packed, src.md, md});
        });
      // Uninitialized: the reorder writes every byte (oneDNN zero-pads the
      // padded tail of blocked formats when memory is bound to a handle).
      HostTensor t(DType::kFloat, {static_cast<int64_t>((md.get_size() + 3) / 4)}, HostTensor::Uninitialized{});
      bool packed = src.md == plain_md(src.dims) && pack_winograd_weights(from, md, static_cast<float*>(t.raw()));
      if (!packed) {
        dnnl::memory sm(src.md, p_.engine_, const_cast<float*>(from));
        dnnl::memory dm(md, p_.engine_, t.raw());
        dnnl::stream st(p_.engine_);
        dnnl::reorder(sm, dm).execute(st, sm, dm);
        st.wait();
      }
      return std::make_shared<HostTensor>(std::move(t));
    };
    std::shared_ptr<HostTensor> packed =
        p_.options_.let_go_packing ? p_.options_.let_go_packing(*src.constant, src.md, md) : nullptr;
    if (!packed)
      packed =
          p_.options_.weight_cache ? p_.options_.weight_cache->get_shared(*src.constant, src.md, md, pack) : pack();
    int c = owned_constant(src.name + "/" + why, std::move(packed), md);
    p_.slots_[c].dims = p_.slots_[s].dims;
    return c;
  }
  int d = new_slot(p_.slots_[s].name + "/" + why, DType::kFloat, p_.slots_[s].dims, md);
  reorder_step(s, d, p_.slots_[s].name + " " + why);
  return d;
}

bool PlanBuilder::only_reader(const Node& n, const std::string& weight) const {
  auto uses_here = std::count(n.inputs.begin(), n.inputs.end(), weight);
  auto it = remaining_uses_.find(weight);
  return it != remaining_uses_.end() && it->second == uses_here;  // else another node or a graph output reads it too
}

int PlanBuilder::packed_weight(const Node& n, const std::string& weight, int s, const dnnl::memory::desc& md) {
  const HostTensor* c = constant(weight);
  bool sole = c && only_reader(n, weight);
  int packed = in_layout(s, md, "packed", sole);
  if (sole && p_.options_.weight_packed) p_.options_.weight_packed(*c);
  return packed;
}

// --- steps -------------------------------------------------------------------
void PlanBuilder::primitive_step(const dnnl::primitive& prim, std::vector<std::pair<int, int>> args, const std::string& what,
                    size_t scratchpad) {
  Step st;
  st.kind = 0;
  st.prim.primitive = prim;
  st.prim.args = std::move(args);
  st.prim.what = what;
  st.prim.scratchpad_bytes = scratchpad;
  const char* impl = nullptr;  // owned by the primitive descriptor
  dnnl_primitive_desc_query(prim.get_primitive_desc(), dnnl_query_impl_info_str, 0, &impl);
  if (impl && std::string(impl).find("ref") != std::string::npos)
    note_slow_step(impl, st.prim.args, what, reference_reason(prim.get_kind()));
  std::vector<int> reads, writes;
  for (const auto& [arg, slot] : st.prim.args) (arg == DNNL_ARG_DST ? writes : reads).push_back(slot);
  p_.steps_.push_back(std::move(st));
  step_reads_.push_back(std::move(reads));
  step_writes_.push_back(std::move(writes));
}

void PlanBuilder::note_slow_step(const std::string& kernel, const std::vector<std::pair<int, int>>& args, const std::string& what,
                                 const std::string& reason) {
  SlowStep r;
  r.kernel = kernel;
  r.step = what;
  r.reason = reason;
  if (current_) r.op = current_->op_type, r.node = current_->name;
  for (const auto& [arg, slot] : args) {
    const Slot& sl = p_.slots_[static_cast<size_t>(slot)];
    r.elements = std::max(r.elements, onnx::element_count(sl.dims));
    r.tensors += (r.tensors.empty() ? "" : ", ") + arg_name(arg) + " " + (sl.dims.empty() ? "scalar" : dims_x(to_dnnl(sl.dims))) + " " +
                 (sl.dtype == DType::kFloat ? data_type_name(sl.md.data.data_type) + " " + layout_name(sl.md) : onnx::dtype_name(sl.dtype));
  }
  if (r.elements > kSlowStepMinElements) p_.slow_steps_.push_back(std::move(r));
}

void PlanBuilder::reorder_step(int src, int dst, const std::string& what) {
  auto pd = dnnl::reorder::primitive_desc(p_.engine_, p_.slots_[src].md, p_.engine_, p_.slots_[dst].md, user_attr());
  primitive_step(dnnl::reorder(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}}, what, pd.scratchpad_desc().get_size());
}

dnnl::primitive_attr PlanBuilder::user_attr() {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

void PlanBuilder::define(const std::string& name, int slot) {
  values_[name] = slot;
  p_.slots_[slot].name = name;
}

int PlanBuilder::output_slot(const Node& n, size_t i, const dnnl::memory::desc& md) {
  const auto& t = graph().types.at(n.outputs[i]);
  int s = new_slot(n.outputs[i], t.dtype, t.dims, md);
  values_[n.outputs[i]] = s;
  return s;
}

const HostTensor* PlanBuilder::constant(const std::string& v) const {
  auto it = graph().constants.find(v);
  return it == graph().constants.end() ? nullptr : &it->second;
}

// --- lowering ---------------------------------------------------------------------
void PlanBuilder::lower(const Node& n, const std::vector<PostOp>& post) {
  const std::string& op = n.op_type;
  bool all_float = true, any_empty = false;
  auto check = [&](const std::string& v) {
    if (v.empty()) return;
    all_float = all_float && is_float(v);
    any_empty = any_empty || onnx::element_count(graph().types.at(v).dims) == 0;
  };
  for (const auto& in : n.inputs) check(in);
  for (const auto& o : n.outputs) check(o);
  // oneDNN's primitive descriptors divide by zero-size dims (a MatMul with
  // an empty axis raised SIGFPE inside libdnnl): empty tensors never reach
  // it. Empty outputs need no step at all; an empty input with a non-empty
  // output (a MatMul over an empty axis is zeros) takes the host kernels.
  if (any_empty) {
    if (!post.empty()) fail(n, "internal: post-ops fused onto a zero-size tensor");  // plan_fusions skips those
    bool outputs_empty = true;
    for (const auto& o : n.outputs)
      if (!o.empty() && onnx::element_count(graph().types.at(o).dims) != 0) outputs_empty = false;
    if (outputs_empty) {
      for (size_t i = 0; i < n.outputs.size(); ++i) {
        if (n.outputs[i].empty()) continue;
        const auto& t = graph().types.at(n.outputs[i]);
        output_slot(n, i, t.dtype == DType::kFloat ? plain_md(t.dims) : dnnl::memory::desc());
      }
      return;
    }
    if (!onnx::has_reference(op)) fail(n, "an empty input with a non-empty output is not supported for this operator");
    all_float = false;
  }
  if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze" || op == "Identity") return lower_view(n);
  if (op == "NanToValue") return lower_nan_to_value(n);
  // Inference Dropout passes its data through; a mask someone reads is made on the host.
  if (op == "Dropout" && (n.outputs.size() < 2 || n.outputs[1].empty())) return lower_view(n);
  // Split's sizes are an int64 input: float data is enough.
  if (op == "Split" && post.empty() && !any_empty && is_float(n.inputs[0]) && lower_split(n)) return;
  if (op == "Pad" && post.empty() && !any_empty && lower_pad_as_view(n)) return;
  // Slice's starts... and Gather's index are int64 too.
  if ((op == "Slice" || op == "Gather") && post.empty() && !any_empty && is_float(n.inputs[0]) && is_float(n.outputs[0]) &&
      (op == "Slice" ? lower_slice(n) : lower_gather_constant(n)))
    return;
  if (all_float) {
    if (op == "Conv" || op == "ConvTranspose") return lower_conv(n, post);
    if (op == "Gemm" || op == "MatMul") return lower_matmul(n, post);
    if (!post.empty()) fail(n, "internal: post-ops on a node that cannot take them");
    if (op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool" || op == "GlobalMaxPool") return lower_pool(n);
    if (op == "BatchNormalization" && n.outputs.size() == 1) return lower_batch_norm(n);
    if (op == "LayerNormalization" && n.outputs.size() == 1 && lower_layer_norm(n)) return;
    if ((op == "Softmax" || op == "LogSoftmax") && lower_softmax(n)) return;
    if ((op == "ReduceMean" || op == "ReduceSum") && lower_reduce(n)) return;
    if (op == "Concat") return lower_concat(n);
    if (op == "Transpose") return lower_transpose(n);
    if ((op == "Add" || op == "Sub" || op == "Mul" || op == "Div") && lower_binary(n)) return;
    if (op == "Pow" && lower_pow(n)) return;
    if (op == "PRelu" && lower_prelu(n)) return;
    if (op == "InstanceNormalization" && lower_instance_norm(n)) return;
    if (!eltwise_for(op, 1, 1).empty() || op == "LeakyRelu" || op == "Clip" || op == "HardSigmoid" || op == "Gelu")
      if (lower_unary(n)) return;
  }
  if (!post.empty()) fail(n, "internal: post-ops on a reference step");
  if (!onnx::has_reference(op)) fail(n, "no CPU kernel for this op with these dtypes");
  static const std::set<std::string> kLowered = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization",
                                                 "LayerNormalization", "Softmax", "LogSoftmax", "ReduceMean", "ReduceSum", "Concat",
                                                 "Transpose", "Split", "Slice", "Gather", "Add", "Sub", "Mul", "Div", "Pow", "PRelu", "InstanceNormalization"};
  // The report's reason: non-float data, or an operator (or attributes)
  // no lowering takes; int64 operands that only shape the op (Pad's pads,
  // Gather's indices) do not count as data.
  bool float_data = !n.inputs.empty() && !n.inputs[0].empty() && is_float(n.inputs[0]);
  for (const auto& o : n.outputs) float_data = float_data && (o.empty() || is_float(o));
  bool has_lowering = kLowered.count(op) || !eltwise_for(op, 1, 1).empty() || op == "LeakyRelu" || op == "Clip" || op == "HardSigmoid";
  lower_reference(n, any_empty       ? "a zero-size input"
                     : !float_data   ? "not float32 data (oneDNN runs float32 only here)"
                     : has_lowering  ? "oneDNN's lowering does not take these shapes or attributes"
                                     : "no oneDNN lowering for this operator");
}

void PlanBuilder::lower_reference(const Node& n, const std::string& why) {
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
  std::vector<std::pair<int, int>> args;  // the report's: inputs that are not constants, then outputs
  for (int s : reads)
    if (!p_.slots_[s].constant) args.push_back({DNNL_ARG_SRC, s});
  for (int s : writes) args.push_back({DNNL_ARG_DST, s});
  note_slow_step("host", args, n.name, why);
  p_.steps_.push_back(std::move(st));
  step_reads_.push_back(std::move(reads));
  step_writes_.push_back(std::move(writes));
}

namespace {

// y = isnan(x) ? value : x, in blocks the compiler vectorises (x != x is
// true for NaN alone; std::isnan does not vectorise), over both threads.
void replace_nan(const float* x, float* y, int64_t n, float value) {
  constexpr int64_t kBlock = 16384;
#pragma omp parallel for schedule(static) if (n > 4 * kBlock)
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    for (int64_t i = b; i < e; ++i) y[i] = x[i] != x[i] ? value : x[i];
  }
}

}  // namespace

// NanToValue (fuse_nan_guard in plan.cpp): one pass over the plain bytes,
// in place when the arena gives the output the input's buffer.
void PlanBuilder::lower_nan_to_value(const Node& n) {
  const int in = plain(value(n.inputs[0]));
  const auto& t = graph().types.at(n.outputs[0]);
  const int out = output_slot(n, 0, plain_md(t.dims));
  const float fill = n.attr_float("value", 0.0f);
  const int64_t count = onnx::element_count(t.dims);
  Step st;
  st.kind = 2;
  st.host.what = n.name + " (NanToValue)";
  st.host.run = [in, out, fill, count](ExecContext& ctx) {
    replace_nan(static_cast<const float*>(ctx.data(in)), static_cast<float*>(ctx.data(out)), count, fill);
  };
  p_.steps_.push_back(std::move(st));
  step_reads_.push_back({in});
  step_writes_.push_back({out});
}

// Reshape and friends: the same bytes under new dims (plain layout).
void PlanBuilder::lower_view(const Node& n) {
  int s = value(n.inputs[0]);
  if (p_.slots_[s].dtype == DType::kFloat) s = plain(s);
  const auto& t = graph().types.at(n.outputs[0]);
  int v = alias_slot(s, t.dims, t.dtype == DType::kFloat ? plain_md(t.dims) : dnnl::memory::desc(), n.outputs[0]);
  define(n.outputs[0], v);
}

// Appends post-ops [0, count) to `ops`; returns the binary operands'
// (arg index, slot) pairs. `sum_slot` is set for an in-place residual.
std::vector<std::pair<int, int>> PlanBuilder::append_post_ops(dnnl::post_ops& ops, const std::vector<PostOp>& post, size_t count,
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
          remaining_uses_[po.operand] == 1 && !is_graph_input(r)  && !shares_live_buffer(r, po.operand)) {
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

bool PlanBuilder::shares_live_buffer(int s, const std::string& value_name) {
  // Writing into `s` in place must not clobber another value still to be
  // read that views the same bytes (a Reshape of it, or the value it is a
  // view of). Dead values may share it: a chain of in-place residual adds
  // reuses one buffer block after block.
  for (const auto& [name, slot] : values_)
    if (name != value_name && root(slot) == root(s) && remaining_uses_[name] > 0) return true;
  return false;
}

bool PlanBuilder::is_graph_input(int s) const {
  for (int in : p_.inputs_)
    if (root(s) == root(in)) return true;
  return false;
}

// An operand viewed with `rank` dims (leading 1s), in plain layout unless
// it already has the full rank.
int PlanBuilder::operand_aligned(int s, size_t rank) {
  if (p_.slots_[s].dims.size() == rank && !p_.slots_[s].dims.empty()) return s;
  s = plain(s);
  Dims d = with_rank(p_.slots_[s].dims, rank);
  return alias_slot(s, d, plain_md(d), p_.slots_[s].name + "/aligned");
}

// An operand seen with dst's dims: the same elements reshaped (a
// flattened matmul), else broadcast with leading 1s.
int PlanBuilder::operand_for(int s, const Dims& dst) {
  if (p_.slots_[s].dims == dst) return s;
  if (onnx::element_count(p_.slots_[s].dims) == onnx::element_count(dst)) {
    s = plain(s);
    return alias_slot(s, dst, plain_md(dst), p_.slots_[s].name + "/as_dst");
  }
  if (!dst.empty() && !p_.slots_[s].dims.empty() && onnx::element_count(p_.slots_[s].dims) == dst.back() &&
      p_.slots_[s].dims.back() == dst.back()) {  // a scalar operand has no back(): it goes the aligned way
    s = plain(s);
    Dims row(dst.size(), 1);
    row.back() = dst.back();
    return alias_slot(s, row, plain_md(row), p_.slots_[s].name + "/row");
  }
  return operand_aligned(s, dst.size());
}

// Emits post-ops [from, end) as standalone steps on slot `cur`.
int PlanBuilder::standalone_post_ops(int cur, const std::vector<PostOp>& post, size_t from, const std::string& name) {
  for (size_t i = from; i < post.size(); ++i) {
    const PostOp& po = post[i];
    if (po.kind == PostOp::kAdd) {
      // Copies: value() and binary_step add slots, which may move slots_.
      Dims dims = p_.slots_[cur].dims;
      int operand = value(po.operand);
      cur = binary_step(dnnl::algorithm::binary_add, cur, operand, dims, name + "/" + po.source_node);
    } else {
      auto ops = po.kind == PostOp::kLinear ? std::vector<Eltwise>{{dnnl::algorithm::eltwise_linear, po.alpha, po.beta}}
                                            : eltwise_for(po.op_type, po.alpha, po.beta);
      for (const auto& e : ops) cur = eltwise_step(cur, e, name + "/" + po.source_node);
    }
  }
  return cur;
}

int PlanBuilder::eltwise_step(int src, const Eltwise& e, const std::string& what) {
  const Slot& s = p_.slots_[src];
  auto d = dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, e.alg, s.md, e.alpha, e.beta);
  auto pd = dnnl::eltwise_forward::primitive_desc(d, user_attr(), p_.engine_);
  int out = new_slot(what, DType::kFloat, s.dims, pd.dst_desc());
  primitive_step(dnnl::eltwise_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, out}}, what, pd.scratchpad_desc().get_size());
  return out;
}

// dst = a (op) b with b broadcast into `out_dims`; a must have out_dims.
// The operands' layouts are the first of these that oneDNN runs with a jit
// kernel: both as they are; b (the broadcast operand, the small one) in
// a's layout; both plain. oneDNN 2.6's jit binary kernels read a broadcast
// operand only in src0's format: a squeeze-and-excitation Mul, [8, 144,
// 56, 56] x [8, 144, 1, 1], ran its reference kernel in 174 ms with a plain
// and b in aBcd8b (EfficientNet-B0 at batch 8: 0.05x onnxruntime), and
// with b reordered to aBcd8b (1152 floats) jit:uni runs it in under 1 ms.
int PlanBuilder::binary_step(dnnl::algorithm alg, int a, int b, const Dims& out_dims, const std::string& what) {
  int b2 = operand_aligned(b, out_dims.size());
  if (p_.slots_[a].dims.size() != out_dims.size()) a = operand_aligned(a, out_dims.size());
  auto jit_pd = [&](const dnnl::memory::desc& am, const dnnl::memory::desc& bm) -> std::optional<dnnl::binary::primitive_desc> {
    try {
      auto pd = dnnl::binary::primitive_desc(dnnl::binary::desc(alg, am, bm, am), user_attr(), p_.engine_);
      if (std::string(pd.impl_info_str()).find("ref") != std::string::npos) return std::nullopt;
      return pd;
    } catch (const dnnl::error&) {
      return std::nullopt;
    }
  };
  std::optional<dnnl::binary::primitive_desc> pd = jit_pd(p_.slots_[a].md, p_.slots_[b2].md);
  if (!pd)
    if (auto like_a = same_layout(p_.slots_[a].md, p_.slots_[b2].dims); like_a && (pd = jit_pd(p_.slots_[a].md, *like_a)))
      b2 = in_layout(b2, *like_a, "as_src0");
  if (!pd && (pd = jit_pd(plain_md(p_.slots_[a].dims), plain_md(p_.slots_[b2].dims)))) {
    a = plain(a);
    b2 = plain(b2);
  }
  // Both plain, with the runs of dims that b broadcasts over (or not)
  // merged: oneDNN's jit kernels take a broadcast over leading dims as a
  // per-channel one in 2-D ([64,3,49,49] + [1,3,49,49]: [64,7203] +
  // [1,7203]), and one over a middle dim as per-batch-and-spatial in 3-D
  // ([1,64,3,49,49] + [1,64,1,49,49]: [64,3,2401] + [64,1,2401]), where the
  // full shapes ran its reference kernel (25 ms, Swin-T's shifted-window
  // mask, against well under 1).
  Dims merged_a;
  auto try_merged = [&] {
    auto [ma, mb] = merge_broadcast_runs(p_.slots_[a].dims, p_.slots_[b2].dims);
    if (ma == p_.slots_[a].dims || !(pd = jit_pd(plain_md(ma), plain_md(mb)))) return false;
    const std::string a_name = p_.slots_[a].name + "/merged", b_name = p_.slots_[b2].name + "/merged";
    int pa = plain(a), pb = plain(b2);
    a = alias_slot(pa, ma, plain_md(ma), a_name);
    b2 = alias_slot(pb, mb, plain_md(mb), b_name);
    merged_a = ma;
    return true;
  };
  if (!pd) try_merged();
  // A constant b broadcast over more than one run (Swin-T's mask at batch
  // 8: [8,64,3,49,49] + [1,64,1,49,49]) is written out over all but the
  // leading ones once, here, leaving one leading broadcast.
  if (!pd && p_.slots_[b2].constant != nullptr && is_plain(b2)) {
    const Dims ad = p_.slots_[a].dims, bd = p_.slots_[b2].dims;
    Dims target = ad;
    for (size_t i = 0; i < target.size() && bd[i] == 1; ++i) target[i] = 1;
    if (target != bd && onnx::element_count(target) <= (int64_t{1} << 22)) {
      const int before = b2;
      b2 = owned_constant(p_.slots_[b2].name + "/expanded",
                          expand_broadcast(p_.slots_[b2].constant->data<float>(), bd, target), plain_md(target));
      if (!try_merged()) b2 = before;
    }
  }
  if (!pd)  // only oneDNN's reference kernel takes these: it runs (and the slow-step report names it)
    pd = dnnl::binary::primitive_desc(dnnl::binary::desc(alg, p_.slots_[a].md, p_.slots_[b2].md, p_.slots_[a].md), user_attr(), p_.engine_);
  int out = new_slot(what, DType::kFloat, merged_a.empty() ? out_dims : merged_a, pd->dst_desc());
  primitive_step(dnnl::binary(*pd), {{DNNL_ARG_SRC_0, a}, {DNNL_ARG_SRC_1, b2}, {DNNL_ARG_DST, out}}, what,
                 pd->scratchpad_desc().get_size());
  if (!merged_a.empty()) out = alias_slot(out, out_dims, plain_md(out_dims), what + "/unmerged");
  return out;
}

HostTensor expand_broadcast(const float* b, const Dims& b_dims, const Dims& target) {
  // The front end's Expand kernel, on a copy of b with its dims.
  HostTensor in(DType::kFloat, b_dims), shape(DType::kInt64, {static_cast<int64_t>(target.size())});
  std::copy(b, b + in.numel(), in.data<float>());
  std::copy(target.begin(), target.end(), shape.data<int64_t>());
  Node expand;
  expand.op_type = "Expand";
  expand.name = "expand_broadcast";
  expand.inputs = {"b", "shape"};
  expand.outputs = {"out"};
  return std::move(onnx::evaluate(expand, 13, {&in, &shape}).at(0));
}

std::pair<Dims, Dims> merge_broadcast_runs(const Dims& a, const Dims& b) {
  if (a.size() != b.size()) return {a, b};
  Dims ma, mb;
  int run = -1;  // the current run's kind: 0 b broadcasts, 1 b has a's extent
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == 1) continue;  // fits either run
    int kind = b[i] == a[i] ? 1 : b[i] == 1 ? 0 : -2;
    if (kind == -2) return {a, b};
    if (kind == run) {
      ma.back() *= a[i];
      mb.back() *= b[i];
    } else {
      ma.push_back(a[i]);
      mb.push_back(b[i]);
      run = kind;
    }
  }
  if (ma.empty()) ma = mb = Dims{1};
  if (ma.size() == 1) {  // one run: a plain elementwise op or a scalar b, as 2-D
    ma.insert(ma.begin(), 1);
    mb.insert(mb.begin(), 1);
  }
  return {ma, mb};
}

bool PlanBuilder::only_bf16_convolutions_read(const std::string& value) const {
  const onnx::Graph& g = graph();
  if (!p_.options_.bf16_convolutions || std::count(g.outputs.begin(), g.outputs.end(), value)) return false;
  bool read = false;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (const auto& po : post_ops_[i])
      if (po.operand == value) return false;
    const Node& c = g.nodes[i];
    for (size_t k = 0; k < c.inputs.size(); ++k) {
      if (c.inputs[k] != value) continue;
      if (c.op_type != "Conv" || k != 0) return false;
      read = true;
    }
  }
  return read;
}

// Finishes an anchor: the primitive was made with the first `fused`
// post-ops; the rest run as their own steps; the result defines the
// node's output.
void PlanBuilder::finish_anchor(const Node& n, int out, const std::vector<PostOp>& post, size_t fused) {
  out = standalone_post_ops(out, post, fused, n.name);
  define(n.outputs[0], out);
}

// --- arena ---------------------------------------------------------------------
// Liveness-based buffer sharing: a value's buffer is reused once its last
// reader has run, and each primitive's scratchpad lives in the arena for its
// own step only (ArenaAllocator). Plan inputs and outputs stay live
// throughout. A scratchpad of its own beside the arena held the largest
// one for the whole call: ResNet-18 at batch 8, 35 MB of values and a 47
// MB Winograd scratchpad, now 57 MB in all.
void PlanBuilder::assign_buffers() {
  size_t n_slots = p_.slots_.size();
  std::vector<long> first(n_slots, -1), last(n_slots, -1);
  auto touch = [&](int s, long step) {
    int r = root(s);
    if (p_.slots_[r].constant || p_.slots_[r].released) return;
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
  for (size_t s = 0; s < n_slots; ++s)
    need[root(static_cast<int>(s))] = std::max(need[root(static_cast<int>(s))], p_.slots_[s].bytes);
  std::vector<std::vector<int>> born(n_steps + 2), dies(n_steps + 2);
  for (size_t s = 0; s < n_slots; ++s) {
    if (root(static_cast<int>(s)) != static_cast<int>(s) || p_.slots_[s].constant || (first[s] < 0 && last[s] < 0)) continue;
    born[first[s] + 1].push_back(static_cast<int>(s));
    dies[last[s] + 1].push_back(static_cast<int>(s));
  }
  std::vector<size_t> offset(n_slots, 0);
  ArenaAllocator arena;
  for (long t = 0; t <= n_steps + 1; ++t) {
    for (int s : born[t]) offset[s] = arena.take(need[s]);
    // Step t - 1's scratchpad: beside its results (taken above) and its
    // sources (given back below), free again once it has run.
    if (t >= 1 && t <= n_steps) {
      PrimitiveStep& st = p_.steps_[static_cast<size_t>(t - 1)].prim;
      if (p_.steps_[static_cast<size_t>(t - 1)].kind == 0 && st.scratchpad_bytes) {
        st.scratchpad_offset = arena.take(st.scratchpad_bytes);
        arena.give_back(st.scratchpad_offset, st.scratchpad_bytes);
      }
    }
    for (int s : dies[t]) arena.give_back(offset[s], need[s]);
  }
  p_.buffer_offsets_.assign(n_slots, 0);
  for (size_t s = 0; s < n_slots; ++s) {
    int r = root(static_cast<int>(s));
    if (p_.slots_[r].constant || p_.slots_[r].released) continue;
    p_.slots_[s].buffer = static_cast<int>(s);
    p_.buffer_offsets_[s] = offset[r];
  }
  p_.arena_bytes_ = arena.size();
}

Plan::Plan(const dnnl::engine& engine, FusedGraph g, PlanOptions options, const PlanBoundary& boundary)
    : engine_(engine), options_(options) {
  try {
    PlanBuilder(*this, std::move(g), boundary).build();
  } catch (const dnnl::error& e) {
    // oneDNN refusing a shape or an argument (an input declared with a
    // 2^31-long axis: "could not construct a memory descriptor") is a
    // problem with the model or the request, and is reported as one; its
    // running out of memory is not.
    if (e.status == dnnl_out_of_memory) throw std::bad_alloc();
    if (e.status == dnnl_invalid_arguments || e.status == dnnl_unimplemented)
      throw OnnxError(std::string("oneDNN cannot plan this graph at these shapes: ") + e.what());
    throw;
  }

  // Constants no slot reads (weights that now live reordered, or shared,
  // elsewhere; BatchNormalization-folded weights made for this plan) would
  // only hold memory.
  std::set<const HostTensor*> read;
  for (const auto& s : slots_) read.insert(s.constant);
  std::erase_if(graph_.constants, [&](const auto& c) { return !read.count(&c.second); });
}

bool cpu_has_isa(dnnl::cpu_isa isa) {
  auto have = static_cast<unsigned>(dnnl::get_effective_cpu_isa()), want = static_cast<unsigned>(isa);
  return (have & want) == want;
}

bool cpu_has_native_bf16() { return cpu_has_isa(dnnl::cpu_isa::avx512_core_bf16); }

}  // namespace mrt::onednn
