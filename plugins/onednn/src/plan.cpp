// Running a plan: one arena per call context, memory objects bound to it
// once, then per request only primitive::execute (and the host kernels of
// reference steps).
#include "plan.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <set>
#include <utility>

#include "mrt/onnx/ops.h"

namespace mrt::onednn {

Plan::~Plan() = default;

size_t Plan::num_primitives() const {
  size_t n = prefix_ ? prefix_->num_primitives() : 0;
  for (const auto& s : steps_) n += s.kind == 0;
  return n;
}

size_t Plan::largest_scratchpad() const {
  size_t most = prefix_ ? prefix_->largest_scratchpad() : 0;
  for (const auto& st : steps_)
    if (st.kind == 0) most = std::max(most, st.prim.scratchpad_bytes);
  return most;
}

size_t Plan::num_reference_steps() const {
  size_t n = prefix_ ? prefix_->num_reference_steps() : 0;
  for (const auto& s : steps_) n += s.kind == 1;
  return n;
}

size_t Plan::num_reorder_steps() const {
  size_t n = prefix_ ? prefix_->num_reorder_steps() : 0;
  for (const auto& s : steps_) n += s.kind == 0 && s.prim.primitive.get_kind() == dnnl::primitive::kind::reorder;
  return n;
}

std::vector<std::string> Plan::kernels() const {
  std::vector<std::string> out = prefix_ ? prefix_->kernels() : std::vector<std::string>{};
  for (const auto& s : steps_)
    if (s.kind == 0) {
      const char* impl = nullptr;  // owned by the primitive descriptor
      dnnl_primitive_desc_query(s.prim.primitive.get_primitive_desc(), dnnl_query_impl_info_str, 0, &impl);
      out.push_back(s.prim.what + ": " + (impl ? impl : "?"));
    } else if (s.kind == 2) {
      out.push_back(s.host.what + ": host kernel");
    }
  return out;
}

void Plan::constant_ranges(std::vector<std::pair<const char*, size_t>>& out) const {
  for (const Slot& s : slots_)
    if (s.constant) out.emplace_back(static_cast<const char*>(s.constant->address()), s.constant->bytes());
  if (prefix_) prefix_->constant_ranges(out);
}

std::vector<SlowStep> Plan::slow_steps() const {
  std::vector<SlowStep> out = prefix_ ? prefix_->slow_steps() : std::vector<SlowStep>{};
  out.insert(out.end(), slow_steps_.begin(), slow_steps_.end());
  return out;
}

std::string SlowStep::describe() const {
  std::string who = node.empty() ? "'" + step + "'" : "'" + node + "' (" + op + ")";
  if (!node.empty() && step != node) who += " step '" + step + "'";
  return who + ": " + kernel + " on " + tensors + " (" + std::to_string(elements) + " elements): " + reason;
}

int Plan::winograd_convolutions() const { return winograd_convolutions_ + (prefix_ ? prefix_->winograd_convolutions() : 0); }
int Plan::depthwise_fusions() const { return depthwise_fusions_ + (prefix_ ? prefix_->depthwise_fusions() : 0); }

std::unique_ptr<ExecContext> Plan::make_context() const { return std::make_unique<ExecContext>(*this); }

namespace {

void* aligned_alloc_or_throw(size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!p) throw std::bad_alloc();
  return p;
}

}  // namespace

ExecContext::ExecContext(const Plan& plan) : plan_(plan), stream_(plan.engine_) {
  if (plan.prefix_) prefix_ = std::make_unique<ExecContext>(*plan.prefix_);
  arena_ = aligned_alloc_or_throw(plan.arena_bytes_);
  memories_.resize(plan.slots_.size());
  for (size_t i = 0; i < plan.slots_.size(); ++i) {
    const Slot& s = plan.slots_[i];
    if (s.dtype != DType::kFloat || s.released) continue;
    memories_[i] = dnnl::memory(s.md, plan.engine_, data(static_cast<int>(i)));
  }
  for (const auto& st : plan.steps_) {
    std::unordered_map<int, dnnl::memory> args;
    if (st.kind == 0) {
      for (const auto& [arg, slot] : st.prim.args) args[arg] = memories_[static_cast<size_t>(slot)];
      if (size_t bytes = st.prim.scratchpad_bytes)
        args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(
            dnnl::memory::desc({static_cast<int64_t>(bytes)}, dnnl::memory::data_type::u8, dnnl::memory::format_tag::a),
            plan.engine_, static_cast<char*>(arena_) + st.prim.scratchpad_offset);
    }
    args_.push_back(std::move(args));
  }
}

ExecContext::~ExecContext() { std::free(arena_); }

void* ExecContext::data(int slot) {
  const Slot& s = plan_.slots_[static_cast<size_t>(slot)];
  if (s.constant) return const_cast<void*>(s.constant->raw());
  return static_cast<char*>(arena_) + plan_.buffer_offsets_[static_cast<size_t>(slot)];
}

const void* ExecContext::data(int slot) const { return const_cast<ExecContext*>(this)->data(slot); }

bool Plan::run_prefix(ExecContext& ctx, const std::function<bool()>& cancelled) const {
  const Plan& pre = *prefix_;
  ExecContext& pctx = *ctx.prefix_;
  size_t cut_slice = pre.slots_[static_cast<size_t>(pre.outputs_[0])].bytes;
  size_t chunks = slots_[static_cast<size_t>(cut_slot_)].bytes / cut_slice;
  if (chunks * cut_slice != slots_[static_cast<size_t>(cut_slot_)].bytes)
    throw onnx::OnnxError("batch split: the cut value's slices do not tile it");  // layouts diverged: a planning bug
  for (size_t c = 0; c < chunks; ++c) {
    for (size_t i = 0; i < inputs_.size(); ++i) {
      size_t slice = pre.slots_[static_cast<size_t>(pre.inputs_[i])].bytes;
      std::memcpy(pctx.data(pre.inputs_[i]), static_cast<const char*>(ctx.data(inputs_[i])) + c * slice, slice);
    }
    if (!pre.run(pctx, cancelled)) return false;
    std::memcpy(static_cast<char*>(ctx.data(cut_slot_)) + c * cut_slice, pctx.data(pre.outputs_[0]), cut_slice);
  }
  return true;
}

bool Plan::run(ExecContext& ctx, const std::function<bool()>& cancelled) const {
  if (prefix_ && !run_prefix(ctx, cancelled)) return false;
  for (size_t i = 0; i < steps_.size(); ++i) {
    if (cancelled && cancelled()) return false;
    const Step& st = steps_[i];
    if (st.kind == 0) {
      st.prim.primitive.execute(ctx.stream_, ctx.args_[i]);
      continue;
    }
    ctx.stream_.wait();
    if (st.kind == 2) {
      st.host.run(ctx);
      continue;
    }
    // Reference step: host tensors in, host tensors out (cheap ops only).
    // Inputs are views of the arena's bytes, not copies. The views share
    // one owner that owns nothing (made once, not per step and run), so
    // each is already shared: a kernel that writes into a copy of an input
    // copies the bytes first (HostTensor is copy-on-write) and the arena is
    // never written here.
    static const std::shared_ptr<void> arena_view(nullptr, [](void*) {});
    std::vector<HostTensor> ins;
    std::vector<const HostTensor*> ptrs;
    ins.reserve(st.ref.inputs.size());
    for (int s : st.ref.inputs) {
      if (s < 0) {
        ptrs.push_back(nullptr);
        continue;
      }
      const Slot& sl = slots_[static_cast<size_t>(s)];
      if (sl.constant) {
        ptrs.push_back(sl.constant);
        continue;
      }
      ins.push_back(HostTensor::adopt(sl.dtype, sl.dims, arena_view, ctx.data(s)));
      ptrs.push_back(&ins.back());
    }
    std::vector<HostTensor> outs = onnx::evaluate(st.ref.node, graph_.opset, ptrs);
    for (size_t k = 0; k < st.ref.outputs.size(); ++k) {
      int s = st.ref.outputs[k];
      if (s < 0) continue;
      const Slot& sl = slots_[static_cast<size_t>(s)];
      if (k >= outs.size() || outs[k].bytes() != sl.bytes || outs[k].dtype() != sl.dtype)
        throw onnx::OnnxError(st.ref.node.describe(graph_.opset) + ": produced " + (k < outs.size() ? onnx::dims_string(outs[k].dims()) : "nothing") +
                              ", planned " + onnx::dims_string(sl.dims));
      // An output may be an input's bytes (Identity, Reshape): read it
      // without copy-on-write, and the two may be the same arena bytes.
      const void* from = std::as_const(outs[k]).raw();
      if (sl.bytes && from != ctx.data(s)) std::memmove(ctx.data(s), from, sl.bytes);
    }
  }
  ctx.stream_.wait();
  return true;
}

namespace {

// Removes the nodes marked in `dead` (and their post-op lists), keeping
// the order of the rest.
void drop_nodes(onnx::FusedGraph& fg, const std::vector<bool>& dead) {
  std::vector<onnx::Node>& nodes = fg.graph.nodes;
  size_t kept = 0;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (dead[i]) continue;
    if (kept != i) {
      nodes[kept] = std::move(nodes[i]);
      fg.post_ops[kept] = std::move(fg.post_ops[i]);
    }
    ++kept;
  }
  nodes.resize(kept);
  fg.post_ops.resize(kept);
}

// SiLU as exporters write it, Mul(x, Sigmoid(x)) (EfficientNet's every
// activation): one oneDNN swish (eltwise_swish, alpha 1) instead of a
// logistic eltwise and a binary Mul, each a pass over the tensor; and, when
// x is computed by a Conv, Gemm or MatMul that nothing else reads, a
// post-op of that primitive (no pass at all). plan_fusions leaves these
// alone (x has two readers); the "Swish" op type is this backend's own
// (lower() runs it as an eltwise), so the pass runs here, after it.
void fuse_silu(onnx::FusedGraph& fg) {
  std::vector<onnx::Node>& nodes = fg.graph.nodes;
  std::map<std::string, size_t> producer;
  std::map<std::string, std::vector<size_t>> readers;
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (const auto& o : nodes[i].outputs) producer[o] = i;
    for (const auto& in : nodes[i].inputs) readers[in].push_back(i);
    for (const auto& po : fg.post_ops[i])
      if (!po.operand.empty()) readers[po.operand].push_back(i);
  }
  std::set<std::string> outputs(fg.graph.outputs.begin(), fg.graph.outputs.end());
  auto float_nonempty = [&](const std::string& v) {
    const auto& t = fg.graph.types.at(v);
    return t.dtype == DType::kFloat && onnx::element_count(t.dims) > 0;
  };
  std::vector<bool> dead(nodes.size(), false);
  for (size_t m = 0; m < nodes.size(); ++m) {
    onnx::Node& mul = nodes[m];
    if (mul.op_type != "Mul" || mul.inputs.size() != 2 || !fg.post_ops[m].empty() || !float_nonempty(mul.outputs[0])) continue;
    for (size_t k = 0; k < 2; ++k) {
      const std::string x = mul.inputs[k], gate = mul.inputs[1 - k];
      auto sp = producer.find(gate);
      if (sp == producer.end() || dead[sp->second]) continue;
      const size_t sg = sp->second;
      if (nodes[sg].op_type != "Sigmoid" || nodes[sg].inputs[0] != x || !fg.post_ops[sg].empty() || readers[gate].size() != 1 ||
          outputs.count(gate) || fg.graph.types.at(x).dims != fg.graph.types.at(mul.outputs[0]).dims)
        continue;
      dead[sg] = true;
      auto xp = producer.find(x);
      const std::string& xop = xp == producer.end() ? "" : nodes[xp->second].op_type;
      if (xp != producer.end() && !dead[xp->second] && (xop == "Conv" || xop == "ConvTranspose" || xop == "Gemm" || xop == "MatMul") &&
          readers[x].size() == 2 && !outputs.count(x)) {
        onnx::PostOp swish;
        swish.kind = onnx::PostOp::kEltwise;
        swish.op_type = "Swish";
        swish.source_node = mul.name;
        fg.post_ops[xp->second].push_back(swish);
        nodes[xp->second].outputs[0] = mul.outputs[0];
        producer[mul.outputs[0]] = xp->second;
        dead[m] = true;
        fg.fused_nodes += 2;
      } else {
        mul.op_type = "Swish";
        mul.inputs = {x};
        mul.attrs.clear();
        fg.fused_nodes += 1;
      }
      break;
    }
  }
  drop_nodes(fg, dead);
}

// Where(IsNaN(x), c, x) with c a scalar constant: the guard PyTorch's
// scaled_dot_product_attention export writes after every attention softmax
// (BERT, DistilBERT, GPT-2, MiniLM: [batch, heads, seq, seq] per layer) to
// zero the rows a mask removed entirely. Two host reference steps (a bool
// mask, then a broadcasting select) become one threaded pass of this
// backend's own NanToValue (lower() runs it as a host kernel on the
// arena's bytes).
void fuse_nan_guard(onnx::FusedGraph& fg) {
  std::vector<onnx::Node>& nodes = fg.graph.nodes;
  std::map<std::string, size_t> producer;
  std::map<std::string, size_t> reader_count;
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (const auto& o : nodes[i].outputs) producer[o] = i;
    for (const auto& in : nodes[i].inputs) ++reader_count[in];
    for (const auto& po : fg.post_ops[i])
      if (!po.operand.empty()) ++reader_count[po.operand];
  }
  std::set<std::string> outputs(fg.graph.outputs.begin(), fg.graph.outputs.end());
  std::vector<bool> dead(nodes.size(), false);
  for (size_t w = 0; w < nodes.size(); ++w) {
    onnx::Node& where = nodes[w];
    if (where.op_type != "Where" || where.inputs.size() != 3 || !fg.post_ops[w].empty()) continue;
    const std::string &cond = where.inputs[0], &fill = where.inputs[1], &x = where.inputs[2];
    auto cp = producer.find(cond);
    if (cp == producer.end() || dead[cp->second]) continue;
    const onnx::Node& is_nan = nodes[cp->second];
    if (is_nan.op_type != "IsNaN" || is_nan.inputs[0] != x || !fg.post_ops[cp->second].empty() ||
        reader_count[cond] != 1 || outputs.count(cond))
      continue;
    auto fc = fg.graph.constants.find(fill);
    if (fc == fg.graph.constants.end() || fc->second.dtype() != DType::kFloat || fc->second.numel() != 1) continue;
    const auto& xt = fg.graph.types.at(x);
    if (xt.dtype != DType::kFloat || xt.dims != fg.graph.types.at(where.outputs[0]).dims) continue;
    onnx::Attribute value;
    value.kind = onnx::Attribute::kFloat;
    value.f = *fc->second.data<float>();
    where.op_type = "NanToValue";
    where.inputs = {x};
    where.attrs = {{"value", value}};
    dead[cp->second] = true;
    fg.fused_nodes += 1;
  }
  drop_nodes(fg, dead);
}

}  // namespace

onnx::FusedGraph prepare_graph(onnx::Graph g) {
  onnx::split_concat_consumers(g);
  onnx::FusedGraph fg = onnx::plan_fusions(std::move(g));
  fuse_silu(fg);
  fuse_nan_guard(fg);
  return fg;
}

std::vector<HostTensor> run_graph(const dnnl::engine& engine, const onnx::Graph& g, const std::vector<HostTensor>& inputs) {
  if (inputs.size() != g.inputs.size())
    throw onnx::OnnxError("the graph has " + std::to_string(g.inputs.size()) + " inputs, " + std::to_string(inputs.size()) + " given");
  std::map<std::string, Dims> dims;
  for (size_t i = 0; i < inputs.size(); ++i) dims[g.inputs[i]] = inputs[i].dims();
  std::unique_ptr<Plan> planned;
  try {
    planned = std::make_unique<Plan>(engine, prepare_graph(onnx::specialize(g, dims)));
  } catch (const onnx::OnnxError& e) {
    if (std::string(e.what()).find("must be a constant") == std::string::npos) throw;
    // Inputs that set shapes (Reshape's shape, Resize's scales...) given at
    // run time: plan for their values, binding small inputs as constants.
    onnx::Graph bound = g;
    bound.inputs.clear();
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].numel() <= 16) bound.constants[g.inputs[i]] = inputs[i];
      else bound.inputs.push_back(g.inputs[i]);
    }
    std::vector<HostTensor> rest;
    for (size_t i = 0; i < inputs.size(); ++i)
      if (inputs[i].numel() > 16) rest.push_back(inputs[i]);
    if (bound.inputs.size() == g.inputs.size()) throw;
    return run_graph(engine, bound, rest);
  }
  Plan& plan = *planned;
  auto ctx = plan.make_context();
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Slot& s = plan.slot(plan.input_slots()[i]);
    if (inputs[i].dtype() != s.dtype) throw onnx::OnnxError("input '" + g.inputs[i] + "' has the wrong dtype");
    if (s.bytes) std::memcpy(ctx->data(plan.input_slots()[i]), inputs[i].raw(), s.bytes);
  }
  plan.run(*ctx, nullptr);
  std::vector<HostTensor> out;
  for (int o : plan.output_slots()) {
    const Slot& s = plan.slot(o);
    HostTensor t(s.dtype, s.dims);
    if (s.bytes) std::memcpy(t.raw(), ctx->data(o), s.bytes);
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace mrt::onednn
