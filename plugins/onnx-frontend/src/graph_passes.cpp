#include "mrt/onnx/graph_passes.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "mrt/onnx/ops.h"

namespace mrt::onnx {
namespace {

// Values bigger than this are not materialised by folding: an Expand or
// ConstantOfShape of a large shape is cheaper to compute per request than
// to keep resident.
constexpr int64_t kMaxFoldedElements = int64_t{1} << 22;

bool all_inputs_constant(const Graph& g, const Node& n) {
  for (const auto& in : n.inputs)
    if (!in.empty() && !g.is_constant(in)) return false;
  return true;
}

OpContext context_for(const Graph& g, const Node& n) {
  OpContext ctx{n, g.opset, {}, {}};
  for (const auto& in : n.inputs) {
    if (in.empty()) {
      ctx.input_types.push_back(nullptr);
      ctx.input_values.push_back(nullptr);
      continue;
    }
    auto t = g.types.find(in);
    if (t == g.types.end()) throw OnnxError(n.describe(g.opset) + ": input '" + in + "' has no known type");
    ctx.input_types.push_back(&t->second);
    auto c = g.constants.find(in);
    ctx.input_values.push_back(c == g.constants.end() ? nullptr : &c->second);
  }
  return ctx;
}

bool foldable(const Graph& g, const Node& n, const std::vector<ValueType>& out_types) {
  if (n.op_type == "Shape" || n.op_type == "Constant") return true;
  if (!all_inputs_constant(g, n) || !has_reference(n.op_type)) return false;
  for (const auto& t : out_types)
    if (element_count(t.dims) > kMaxFoldedElements) return false;
  return true;
}

void fold(Graph& g, const Node& n, const std::vector<ValueType>& out_types) {
  if (n.op_type == "Shape") {
    // Dims are concrete now: Shape is a constant whatever the input holds.
    const Dims& d = g.types.at(n.inputs[0]).dims;
    int64_t r = static_cast<int64_t>(d.size());
    int64_t start = n.attr_int("start", 0), end = n.attr_int("end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = std::clamp<int64_t>(start, 0, r);
    end = std::clamp<int64_t>(end, start, r);
    Dims part(d.begin() + start, d.begin() + end);
    g.constants[n.outputs[0]] = HostTensor::from_int64(part, {static_cast<int64_t>(part.size())});
    return;
  }
  std::vector<const HostTensor*> inputs;
  for (const auto& in : n.inputs) inputs.push_back(in.empty() ? nullptr : &g.constants.at(in));
  std::vector<HostTensor> outs = evaluate(n, g.opset, inputs);
  for (size_t i = 0; i < n.outputs.size() && i < outs.size(); ++i) {
    if (n.outputs[i].empty()) continue;
    if (outs[i].dims() != out_types[i].dims && element_count(outs[i].dims()) == element_count(out_types[i].dims))
      outs[i].reshape(out_types[i].dims);
    g.constants[n.outputs[i]] = std::move(outs[i]);
  }
}

}  // namespace

Graph specialize(const Graph& source, const std::map<std::string, Dims>& input_dims) {
  Graph g = source;
  for (const auto& name : g.inputs) {
    auto it = input_dims.find(name);
    if (it == input_dims.end()) throw OnnxError("no dims given for input '" + name + "'");
    ValueType& t = g.types.at(name);
    const Dims& d = it->second;
    if (!t.dims.empty() && t.dims.size() != d.size())
      throw OnnxError("input '" + name + "' must have rank " + std::to_string(t.dims.size()) + ", got " +
                      dims_string(d));
    for (size_t i = 0; i < t.dims.size(); ++i)
      if (t.dims[i] >= 0 && t.dims[i] != d[i])
        throw OnnxError("input '" + name + "' must have shape " + dims_string(t.dims) + " (-1 = any), got " +
                        dims_string(d));
    for (int64_t v : d)
      if (v < 0) throw OnnxError("input '" + name + "' has a negative dimension in " + dims_string(d));
    element_count(d);  // refuses dims whose element count does not fit int64, naming them
    t.dims = d;
  }
  std::vector<Node> kept;
  for (const auto& n : g.nodes) {
    std::vector<ValueType> out_types = infer_types(context_for(g, n));
    if (out_types.size() < n.outputs.size())
      throw OnnxError(n.describe(g.opset) + ": produces " + std::to_string(out_types.size()) +
                      " outputs, the node names " + std::to_string(n.outputs.size()));
    for (size_t i = 0; i < n.outputs.size(); ++i) {
      if (n.outputs[i].empty()) continue;
      // Every value's element count must fit int64, so the backends' size
      // and stride products cannot overflow (Tile, Expand, Concat of huge dims).
      try {
        element_count(out_types[i].dims);
      } catch (const OnnxError& e) {
        throw OnnxError(n.describe(g.opset) + ": output '" + n.outputs[i] + "': " + e.what());
      }
      g.types[n.outputs[i]] = out_types[i];
    }
    if (foldable(g, n, out_types))
      fold(g, n, out_types);
    else
      kept.push_back(n);
  }
  g.nodes = std::move(kept);
  eliminate_common_subexpressions(g);  // removes the dead nodes too
  return g;
}

void remove_dead_nodes(Graph& g) {
  std::set<std::string> needed(g.outputs.begin(), g.outputs.end());
  std::vector<bool> keep(g.nodes.size(), false);
  for (size_t i = g.nodes.size(); i-- > 0;) {
    const Node& n = g.nodes[i];
    for (const auto& o : n.outputs) keep[i] = keep[i] || (!o.empty() && needed.count(o));
    if (keep[i])
      for (const auto& in : n.inputs) needed.insert(in);
  }
  std::vector<Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (keep[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
  for (auto it = g.constants.begin(); it != g.constants.end();)
    it = needed.count(it->first) ? std::next(it) : g.constants.erase(it);
}

// ---------------------------------------------------------------------------
// Fusion planning. Works on node indices; absorbed nodes are marked dead and
// dropped at the end, and a fused anchor moves to the position of the last
// node it absorbed (everything its post-ops read is computed by then).

namespace {

// y = x * s over n floats; restrict: the loop vectorises.
void scale_row_into(const float* __restrict x, float* __restrict y, int64_t n, float s) {
  for (int64_t k = 0; k < n; ++k) y[k] = x[k] * s;
}

void scale_row(float* x, int64_t n, float s) {
  for (int64_t k = 0; k < n; ++k) x[k] *= s;
}

class Fuser {
 public:
  explicit Fuser(Graph g) : g_(std::move(g)), post_(g_.nodes.size()), dead_(g_.nodes.size(), false) {
    for (const auto& o : g_.outputs) graph_outputs_.insert(o);
    index_consumers();
  }

  Graph fold_batch_norm_only_in_place() {
    fold_batch_norm(true);
    return std::move(finish().graph);
  }

  FusedGraph run() {
    rewrite_gelu();
    rewrite_gelu_tanh();
    rewrite_layer_norm();
    fold_batch_norm();
    attach_post_ops();
    return finish();
  }

 private:
  Graph g_;
  std::vector<std::vector<PostOp>> post_;
  std::vector<bool> dead_;
  std::vector<size_t> position_;  // where each node runs (its own index unless moved)
  std::map<std::string, std::vector<size_t>> consumers_;
  std::map<std::string, size_t> producer_;
  std::set<std::string> graph_outputs_;
  int fused_ = 0;

  void index_consumers() {
    consumers_.clear();
    producer_.clear();
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (dead_[i]) continue;
      for (const auto& in : g_.nodes[i].inputs)
        if (!in.empty()) consumers_[in].push_back(i);
      for (const auto& o : g_.nodes[i].outputs) producer_[o] = i;
    }
  }

  // The node that alone consumes `value` (which must not be a graph output),
  // or -1.
  long sole_consumer(const std::string& value) const {
    if (graph_outputs_.count(value)) return -1;
    auto it = consumers_.find(value);
    if (it == consumers_.end() || it->second.size() != 1) return -1;
    return static_cast<long>(it->second[0]);
  }

  long producer(const std::string& value) const {
    auto it = producer_.find(value);
    return it == producer_.end() || dead_[it->second] ? -1 : static_cast<long>(it->second);
  }

  // The scalar value of a constant with one element, if `value` is one.
  bool scalar_constant(const std::string& value, double& out) const {
    auto it = g_.constants.find(value);
    if (it == g_.constants.end() || it->second.numel() != 1) return false;
    if (it->second.dtype() != DType::kFloat && it->second.dtype() != DType::kDouble) return false;
    out = it->second.to_double()[0];
    return true;
  }

  bool is_float(const std::string& value) const {
    auto it = g_.types.find(value);
    return it != g_.types.end() && it->second.dtype == DType::kFloat;
  }

  // The operand of binary node n that is not `value`, or "" when both are.
  static std::string other_operand(const Node& n, const std::string& value) {
    if (n.inputs.size() != 2) return "";
    if (n.inputs[0] == value && n.inputs[1] != value) return n.inputs[1];
    if (n.inputs[1] == value && n.inputs[0] != value) return n.inputs[0];
    return "";
  }

  void kill(size_t i) {
    dead_[i] = true;
    ++fused_;
  }

  // x*0.5*(1+erf(x/sqrt2)) in either association → Gelu(x).
  void rewrite_gelu() {
    for (size_t e = 0; e < g_.nodes.size(); ++e) {
      if (dead_[e] || g_.nodes[e].op_type != "Erf") continue;
      long scale = producer(g_.nodes[e].inputs[0]);
      if (scale < 0) continue;
      const Node& sn = g_.nodes[scale];
      double c = 0;
      std::string x;
      if (sn.op_type == "Div" && scalar_constant(sn.inputs[1], c) && std::abs(c - std::sqrt(2.0)) < 1e-3)
        x = sn.inputs[0];
      else if (sn.op_type == "Mul" && sn.inputs.size() == 2) {
        for (int k = 0; k < 2; ++k)
          if (scalar_constant(sn.inputs[1 - k], c) && std::abs(c - 1 / std::sqrt(2.0)) < 1e-3) x = sn.inputs[k];
      }
      if (x.empty() || !is_float(x) || sole_consumer(sn.outputs[0]) != static_cast<long>(e)) continue;
      std::vector<size_t> absorbed = {static_cast<size_t>(scale), e};
      long last = match_gelu_tail(x, e, absorbed);
      if (last >= 0) replace_with_gelu(static_cast<size_t>(last), x, "none", absorbed);
    }
  }

  // The tanh approximation as GPT-2's "gelu_new" (and BLOOM, GPT-J...)
  // exports it, 0.5*x*(1+tanh(sqrt(2/pi)*(x+0.044715*x^3))) with x^3 as
  // Pow(x, 3) or x*x*x → Gelu(x, approximate=tanh): one eltwise (a post-op
  // of the MatMul before it) instead of eight passes, one of them a general
  // pow that took 18 ms of GPT-2's 250 ms per layer at batch 8.
  void rewrite_gelu_tanh() {
    for (size_t t = 0; t < g_.nodes.size(); ++t) {
      if (dead_[t] || g_.nodes[t].op_type != "Tanh") continue;
      double c = 0;
      long scale = producer(g_.nodes[t].inputs[0]);
      if (scale < 0 || g_.nodes[scale].op_type != "Mul" ||
          sole_consumer(g_.nodes[scale].outputs[0]) != static_cast<long>(t))
        continue;
      std::string inner;
      for (int k = 0; k < 2; ++k)
        if (scalar_constant(g_.nodes[scale].inputs[1 - k], c) && std::abs(c - std::sqrt(2 / M_PI)) < 1e-3)
          inner = g_.nodes[scale].inputs[k];
      long add = producer(inner);
      if (add < 0 || g_.nodes[add].op_type != "Add" || g_.nodes[add].inputs.size() != 2 ||
          sole_consumer(inner) != scale)
        continue;
      // inner = x + 0.044715 * cube(x), either order.
      std::string x;
      std::vector<size_t> absorbed = {static_cast<size_t>(scale), t, static_cast<size_t>(add)};
      for (int k = 0; k < 2 && x.empty(); ++k) {
        const std::string& cand = g_.nodes[add].inputs[k];
        long m = producer(g_.nodes[add].inputs[1 - k]);
        if (m < 0 || g_.nodes[m].op_type != "Mul" || sole_consumer(g_.nodes[m].outputs[0]) != add) continue;
        for (int j = 0; j < 2; ++j) {
          if (!scalar_constant(g_.nodes[m].inputs[1 - j], c) || std::abs(c - 0.044715) > 1e-6) continue;
          std::vector<size_t> cube;
          if (is_cube_of(g_.nodes[m].inputs[j], cand, static_cast<size_t>(m), cube)) {
            x = cand;
            absorbed.push_back(static_cast<size_t>(m));
            absorbed.insert(absorbed.end(), cube.begin(), cube.end());
            break;
          }
        }
      }
      if (x.empty() || !is_float(x)) continue;
      long last = match_gelu_tail(x, t, absorbed);
      if (last >= 0) replace_with_gelu(static_cast<size_t>(last), x, "tanh", absorbed);
    }
  }

  // True when `value` is x^3 computed only for `reader`: Pow(x, 3), or
  // x*(x*x) / (x*x)*x; `nodes` gets the nodes that compute it.
  bool is_cube_of(const std::string& value, const std::string& x, size_t reader, std::vector<size_t>& nodes) const {
    long p = producer(value);
    if (p < 0 || sole_consumer(value) != static_cast<long>(reader)) return false;
    const Node& n = g_.nodes[p];
    double c = 0;
    if (n.op_type == "Pow" && n.inputs.size() == 2 && n.inputs[0] == x && scalar_constant(n.inputs[1], c) && c == 3.0) {
      nodes.push_back(static_cast<size_t>(p));
      return true;
    }
    if (n.op_type != "Mul" || n.inputs.size() != 2) return false;
    for (int k = 0; k < 2; ++k) {
      long sq = producer(n.inputs[1 - k]);
      if (n.inputs[k] != x || sq < 0 || sole_consumer(n.inputs[1 - k]) != p) continue;
      const Node& s = g_.nodes[sq];
      if (s.op_type == "Mul" && s.inputs.size() == 2 && s.inputs[0] == x && s.inputs[1] == x) {
        nodes.push_back(static_cast<size_t>(p));
        nodes.push_back(static_cast<size_t>(sq));
        return true;
      }
    }
    return false;
  }

  // The tail both Gelu forms share after f = erf(...) or tanh(...) (node
  // `f`): 0.5 * x * (1 + f) in either association. Returns the tail node
  // and appends the nodes absorbed before it to `absorbed`, or -1.
  long match_gelu_tail(const std::string& x, size_t f, std::vector<size_t>& absorbed) {
    double c = 0;
    long add = sole_consumer(g_.nodes[f].outputs[0]);
    if (add < 0 || g_.nodes[add].op_type != "Add") return -1;
    if (!scalar_constant(other_operand(g_.nodes[add], g_.nodes[f].outputs[0]), c) || c != 1.0) return -1;
    long m1 = sole_consumer(g_.nodes[add].outputs[0]);
    if (m1 < 0 || g_.nodes[m1].op_type != "Mul") return -1;
    std::string other = other_operand(g_.nodes[m1], g_.nodes[add].outputs[0]);
    if (other == x) {  // (x * (1+f)) * 0.5
      long m2 = sole_consumer(g_.nodes[m1].outputs[0]);
      if (m2 < 0 || g_.nodes[m2].op_type != "Mul" ||
          !scalar_constant(other_operand(g_.nodes[m2], g_.nodes[m1].outputs[0]), c) || c != 0.5)
        return -1;
      absorbed.push_back(static_cast<size_t>(add));
      absorbed.push_back(static_cast<size_t>(m1));
      return m2;
    }
    // (x * 0.5) * (1+f)
    long h = producer(other);
    if (h < 0 || g_.nodes[h].op_type != "Mul" || sole_consumer(other) != m1) return -1;
    const Node& hn = g_.nodes[h];
    bool ok = false;
    for (int k = 0; k < 2; ++k) ok = ok || (hn.inputs[k] == x && scalar_constant(hn.inputs[1 - k], c) && c == 0.5);
    if (!ok) return -1;
    absorbed.push_back(static_cast<size_t>(add));
    absorbed.push_back(static_cast<size_t>(h));
    return m1;
  }

  // x is consumed by absorbed nodes only (and the tail): Gelu(x) replaces
  // the tail node in place.
  void replace_with_gelu(size_t last, const std::string& x, const std::string& approximate,
                         const std::vector<size_t>& absorbed) {
    Node& tail = g_.nodes[last];
    std::string out = tail.outputs[0];
    std::string name = tail.name;
    tail = Node{};
    tail.op_type = "Gelu";
    tail.name = name + "/gelu";
    tail.inputs = {x};
    tail.outputs = {out};
    if (approximate != "none") {
      Attribute a;
      a.kind = Attribute::kString;
      a.s = approximate;
      tail.attrs["approximate"] = a;
    }
    for (size_t a : absorbed) kill(a);
    index_consumers();
  }

  // ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div(/Mul/Add) over the last axis
  // → LayerNormalization.
  void rewrite_layer_norm() {
    for (size_t r1 = 0; r1 < g_.nodes.size(); ++r1) {
      if (dead_[r1] || g_.nodes[r1].op_type != "ReduceMean" || !last_axis_mean(g_.nodes[r1])) continue;
      const std::string x = g_.nodes[r1].inputs[0];
      if (!is_float(x)) continue;
      long sub = sole_consumer(g_.nodes[r1].outputs[0]);
      if (sub < 0 || g_.nodes[sub].op_type != "Sub" || g_.nodes[sub].inputs[0] != x) continue;
      const std::string d = g_.nodes[sub].outputs[0];
      auto du = consumers_[d];
      if (du.size() != 2 || graph_outputs_.count(d)) continue;
      long pow = -1, div = -1;
      for (size_t u : du) {
        if (g_.nodes[u].op_type == "Pow" && g_.nodes[u].inputs[0] == d) pow = static_cast<long>(u);
        if (g_.nodes[u].op_type == "Div" && g_.nodes[u].inputs[0] == d) div = static_cast<long>(u);
      }
      double c = 0;
      if (pow < 0 || div < 0 || !scalar_constant(g_.nodes[pow].inputs[1], c) || c != 2.0) continue;
      long r2 = sole_consumer(g_.nodes[pow].outputs[0]);
      if (r2 < 0 || g_.nodes[r2].op_type != "ReduceMean" || !last_axis_mean(g_.nodes[r2])) continue;
      long add = sole_consumer(g_.nodes[r2].outputs[0]);
      double eps = 0;
      if (add < 0 || g_.nodes[add].op_type != "Add" ||
          !scalar_constant(other_operand(g_.nodes[add], g_.nodes[r2].outputs[0]), eps))
        continue;
      long sq = sole_consumer(g_.nodes[add].outputs[0]);
      if (sq < 0 || g_.nodes[sq].op_type != "Sqrt" || sole_consumer(g_.nodes[sq].outputs[0]) != div) continue;
      // Optional affine tail: Mul(gamma) then Add(beta), constants of the
      // last dim's size.
      int64_t width = g_.types.at(x).dims.back();
      std::vector<size_t> absorbed = {r1,
                                      static_cast<size_t>(sub),
                                      static_cast<size_t>(pow),
                                      static_cast<size_t>(r2),
                                      static_cast<size_t>(add),
                                      static_cast<size_t>(sq)};
      size_t last = div;
      std::string gamma, beta;
      long mul = sole_consumer(g_.nodes[div].outputs[0]);
      if (mul >= 0 && g_.nodes[mul].op_type == "Mul") {
        std::string gm = other_operand(g_.nodes[mul], g_.nodes[div].outputs[0]);
        if (vector_constant(gm, width)) {
          gamma = gm;
          absorbed.push_back(last);
          last = mul;
          long ba = sole_consumer(g_.nodes[mul].outputs[0]);
          if (ba >= 0 && g_.nodes[ba].op_type == "Add") {
            std::string bt = other_operand(g_.nodes[ba], g_.nodes[mul].outputs[0]);
            if (vector_constant(bt, width)) {
              beta = bt;
              absorbed.push_back(last);
              last = ba;
            }
          }
        }
      }
      if (gamma.empty()) {
        gamma = g_.nodes[r1].name + "/ln_scale";
        HostTensor ones(DType::kFloat, {width});
        std::fill(ones.data<float>(), ones.data<float>() + width, 1.0f);
        g_.constants[gamma] = std::move(ones);
      }
      Node& tail = g_.nodes[last];
      std::string out = tail.outputs[0];
      Node ln;
      ln.op_type = "LayerNormalization";
      ln.name = g_.nodes[r1].name + "/layernorm";
      ln.inputs = {x, gamma};
      if (!beta.empty()) ln.inputs.push_back(beta);
      ln.outputs = {out};
      Attribute a;
      a.kind = Attribute::kInt;
      a.i = -1;
      ln.attrs["axis"] = a;
      Attribute e;
      e.kind = Attribute::kFloat;
      e.f = static_cast<float>(eps);
      ln.attrs["epsilon"] = e;
      tail = std::move(ln);
      for (size_t k : absorbed) kill(k);
      index_consumers();
    }
  }

  bool last_axis_mean(const Node& n) const {
    if (n.attr_int("keepdims", 1) != 1) return false;
    std::vector<int64_t> axes = n.attr_ints("axes");
    if (n.inputs.size() > 1 && !n.inputs[1].empty()) {
      auto c = g_.constants.find(n.inputs[1]);
      if (c == g_.constants.end()) return false;
      axes = c->second.to_int64();
    }
    int64_t rank = static_cast<int64_t>(g_.types.at(n.inputs[0]).dims.size());
    return axes.size() == 1 && (axes[0] == -1 || axes[0] == rank - 1);
  }

  bool vector_constant(const std::string& v, int64_t width) const {
    auto c = g_.constants.find(v);
    return c != g_.constants.end() && c->second.dtype() == DType::kFloat && c->second.numel() == width &&
           c->second.dims().size() == 1;
  }

  // Conv → BatchNormalization with constant parameters: scale the weights
  // per output channel and fold the shift into the bias. `in_place`: the
  // weights are scaled where they are (see fold_batch_norm_in_place) when
  // no other node reads them; otherwise into a new tensor.
  void fold_batch_norm(bool in_place = false) {
    for (size_t b = 0; b < g_.nodes.size(); ++b) {
      Node& bn = g_.nodes[b];
      if (dead_[b] || bn.op_type != "BatchNormalization" || bn.outputs.size() != 1) continue;
      long c = producer(bn.inputs[0]);
      if (c < 0 || g_.nodes[c].op_type != "Conv" || sole_consumer(bn.inputs[0]) != static_cast<long>(b)) continue;
      Node& conv = g_.nodes[c];
      bool params_constant = true;
      for (size_t k = 1; k < 5; ++k) params_constant = params_constant && g_.is_constant(bn.input(k));
      if (!params_constant || !g_.is_constant(conv.inputs[1]) ||
          (!conv.input(2).empty() && !g_.is_constant(conv.input(2))))
        continue;
      const HostTensor& w = g_.constants.at(conv.inputs[1]);
      if (w.dtype() != DType::kFloat) continue;
      int64_t oc = w.dims()[0];
      auto scale = g_.constants.at(bn.inputs[1]).to_double(), shift = g_.constants.at(bn.inputs[2]).to_double();
      auto mean = g_.constants.at(bn.inputs[3]).to_double(), var = g_.constants.at(bn.inputs[4]).to_double();
      if (static_cast<int64_t>(scale.size()) != oc || shift.size() != scale.size() || mean.size() != scale.size() ||
          var.size() != scale.size())
        continue;
      double eps = bn.attr_float("epsilon", 1e-5f);
      std::vector<double> bias(oc, 0.0);
      if (!conv.input(2).empty()) bias = g_.constants.at(conv.inputs[2]).to_double();
      const bool scale_in_place = in_place && consumers_[conv.inputs[1]].size() == 1;
      HostTensor nw = scale_in_place ? HostTensor() : HostTensor(DType::kFloat, w.dims(), HostTensor::Uninitialized{});
      HostTensor nb(DType::kFloat, {oc});
      int64_t per = w.numel() / oc;
      const float* src = w.data<float>();
      float* dst =
          scale_in_place ? static_cast<float*>(g_.constants.at(conv.inputs[1]).raw_in_place()) : nw.data<float>();
      float* nbias = nb.data<float>();
      for (int64_t o = 0; o < oc; ++o) {
        double s = scale[o] / std::sqrt(var[o] + eps);
        float sf = static_cast<float>(s);  // float multiply: vectorises, and weights are float anyway
        if (scale_in_place)
          scale_row(dst + o * per, per, sf);
        else
          scale_row_into(src + o * per, dst + o * per, per, sf);
        nbias[o] = static_cast<float>((bias[o] - mean[o]) * s + shift[o]);
      }
      std::string wn = scale_in_place ? conv.inputs[1] : conv.name + "/bn_folded_weight",
                  bname = conv.name + "/bn_folded_bias";
      if (!scale_in_place) g_.constants[wn] = std::move(nw);
      g_.constants[bname] = std::move(nb);
      g_.types[wn] = {DType::kFloat, g_.constants[wn].dims()};
      g_.types[bname] = {DType::kFloat, {oc}};
      // Update the use lists in place (re-indexing the whole graph after
      // each fold made this pass quadratic: 15 ms of MobileNetV2's load).
      for (const auto& in : bn.inputs) forget_consumer(in, b);
      for (size_t k = 1; k < conv.inputs.size(); ++k) forget_consumer(conv.inputs[k], static_cast<size_t>(c));
      producer_.erase(conv.outputs[0]);
      conv.inputs.resize(3);
      conv.inputs[1] = wn;
      conv.inputs[2] = bname;
      conv.outputs[0] = bn.outputs[0];
      consumers_[wn].push_back(static_cast<size_t>(c));
      consumers_[bname].push_back(static_cast<size_t>(c));
      producer_[conv.outputs[0]] = static_cast<size_t>(c);
      kill(b);
    }
  }

  void forget_consumer(const std::string& value, size_t node) {
    auto it = consumers_.find(value);
    if (it == consumers_.end()) return;
    std::erase(it->second, node);
    if (it->second.empty()) consumers_.erase(it);
  }

  static bool is_anchor(const std::string& op) {
    return op == "Conv" || op == "ConvTranspose" || op == "Gemm" || op == "MatMul";
  }

  // One step of a post-op chain from `value` into node `u`, or false.
  bool as_post_op(const Node& u, const std::string& value, PostOp& p) {
    static const std::set<std::string> kEltwise = {"Relu",      "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid",
                                                   "HardSwish", "Gelu",      "Clip",    "Elu",  "Mish"};
    p = PostOp{};
    p.source_node = u.name;
    if (kEltwise.count(u.op_type) && u.inputs[0] == value) {
      p.kind = PostOp::kEltwise;
      p.op_type = u.op_type;
      if (u.op_type == "LeakyRelu") p.alpha = u.attr_float("alpha", 0.01f);
      if (u.op_type == "Elu") p.alpha = u.attr_float("alpha", 1.0f);
      if (u.op_type == "HardSigmoid") {
        p.alpha = u.attr_float("alpha", 0.2f);
        p.beta = u.attr_float("beta", 0.5f);
      }
      if (u.op_type == "Gelu" && u.attr_string("approximate", "none") == "tanh") p.op_type = "GeluTanh";
      if (u.op_type == "Clip") {
        double lo = -INFINITY, hi = INFINITY;
        if (g_.opset < 11) {
          lo = u.attr_float("min", -INFINITY);
          hi = u.attr_float("max", INFINITY);
        } else {
          if (!u.input(1).empty() && !scalar_constant(u.input(1), lo)) return false;
          if (!u.input(2).empty() && !scalar_constant(u.input(2), hi)) return false;
        }
        p.alpha = static_cast<float>(std::max(lo, -3.0e38));
        p.beta = static_cast<float>(std::min(hi, 3.0e38));
      }
      return true;
    }
    std::string other = other_operand(u, value);
    if (other.empty()) return false;
    double c = 0;
    if (scalar_constant(other, c)) {
      p.kind = PostOp::kLinear;
      if (u.op_type == "Mul")
        p.alpha = static_cast<float>(c), p.beta = 0;
      else if (u.op_type == "Div" && u.inputs[0] == value && c != 0)
        p.alpha = static_cast<float>(1 / c), p.beta = 0;
      else if (u.op_type == "Add")
        p.alpha = 1, p.beta = static_cast<float>(c);
      else if (u.op_type == "Sub" && u.inputs[0] == value)
        p.alpha = 1, p.beta = static_cast<float>(-c);
      else
        return false;
      return true;
    }
    if (u.op_type != "Add" || !is_float(other)) return false;
    // A residual or bias: its dims must broadcast into the output's without
    // growing it, and it must be computed before the chain ends.
    const Dims& od = g_.types.at(value).dims;
    const Dims& rd = g_.types.at(other).dims;
    if (rd.size() > od.size()) return false;
    for (size_t k = 0; k < rd.size(); ++k) {
      int64_t o = od[od.size() - rd.size() + k];
      if (rd[k] != o && rd[k] != 1) return false;
    }
    p.kind = PostOp::kAdd;
    p.operand = other;
    return true;
  }

  // Zero-size tensors run on the host kernels in the backends (oneDNN's
  // descriptors divide by them), which take no post-ops: no fusion there.
  bool touches_empty(const Node& n) const {
    auto empty = [&](const std::string& v) {
      if (v.empty()) return false;
      auto t = g_.types.find(v);
      return t != g_.types.end() && std::find(t->second.dims.begin(), t->second.dims.end(), 0) != t->second.dims.end();
    };
    return std::any_of(n.inputs.begin(), n.inputs.end(), empty) ||
           std::any_of(n.outputs.begin(), n.outputs.end(), empty);
  }

  void attach_post_ops() {
    position_.resize(g_.nodes.size());
    for (size_t i = 0; i < g_.nodes.size(); ++i) position_[i] = i;
    for (size_t a = 0; a < g_.nodes.size(); ++a) {
      if (dead_[a] || !is_anchor(g_.nodes[a].op_type) || !is_float(g_.nodes[a].outputs[0]) ||
          touches_empty(g_.nodes[a]))
        continue;
      std::string value = g_.nodes[a].outputs[0];
      for (;;) {
        long u = sole_consumer(value);
        if (u < 0 || dead_[u]) break;
        const Node& un = g_.nodes[u];
        PostOp p;
        if (!as_post_op(un, value, p)) break;
        if (g_.types.at(un.outputs[0]).dims != g_.types.at(value).dims) break;  // the chain must not change shape
        post_[a].push_back(p);
        value = un.outputs[0];
        position_[a] = u;
        kill(u);
      }
      g_.nodes[a].outputs[0] = value;
    }
  }

  FusedGraph finish() {
    // Order live nodes by where they run; a moved anchor runs where its
    // last absorbed node stood.
    std::vector<size_t> order;
    for (size_t i = 0; i < g_.nodes.size(); ++i)
      if (!dead_[i]) order.push_back(i);
    if (position_.empty()) {
      position_.resize(g_.nodes.size());
      for (size_t i = 0; i < g_.nodes.size(); ++i) position_[i] = i;
    }
    std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return position_[x] < position_[y]; });
    FusedGraph out;
    for (size_t i : order) {
      out.graph.nodes.push_back(std::move(g_.nodes[i]));
      out.post_ops.push_back(std::move(post_[i]));
    }
    out.fused_nodes = fused_;
    g_.nodes.clear();
    Graph& og = out.graph;
    og.opset = g_.opset;
    og.producer = std::move(g_.producer);
    og.constants = std::move(g_.constants);
    og.inputs = std::move(g_.inputs);
    og.outputs = std::move(g_.outputs);
    og.types = std::move(g_.types);
    return out;
  }
};

}  // namespace

FusedGraph plan_fusions(Graph g) { return Fuser(std::move(g)).run(); }

Graph fold_batch_norm_in_place(Graph g) { return Fuser(std::move(g)).fold_batch_norm_only_in_place(); }

}  // namespace mrt::onnx
