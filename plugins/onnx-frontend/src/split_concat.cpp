// split_concat_consumers: a channel Concat read only by a 1x1 convolution or
// a pooling is never materialised. See graph_passes.h for the rewrite and
// why.
#include <cstring>
#include <map>
#include <set>

#include "mrt/onnx/graph_passes.h"

namespace mrt::onnx {
namespace {

// Pooling works channel by channel, so it commutes with a channel concat.
bool is_pooling(const Node& n) {
  static const std::set<std::string> pools = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"};
  return n.domain.empty() && pools.count(n.op_type) && (n.outputs.size() == 1 || n.outputs[1].empty());
}

// A group-1 convolution with a constant float32 1x1 kernel and a constant
// (or no) bias: its output is the sum of the convolutions of the concat's
// parts with the matching slices of the weights. Only where it has fewer
// output than input channels: each extra part re-reads and re-writes the
// output (the sum), which must cost less than the concat's copy of the
// input (SqueezeNet's 512 -> 1000 classifier ran slower split).
bool is_splittable_conv(const Graph& g, const Node& n) {
  if (!n.domain.empty() || n.op_type != "Conv" || n.attr_int("group", 1) != 1 || n.inputs.size() < 2) return false;
  auto w = g.constants.find(n.inputs[1]);
  if (w == g.constants.end() || w->second.dtype() != DType::kFloat || w->second.rank() < 3) return false;
  if (w->second.dims()[0] >= w->second.dims()[1]) return false;
  for (int64_t i = 2; i < w->second.rank(); ++i)
    if (w->second.dims()[i] != 1) return false;
  return n.input(2).empty() || g.is_constant(n.input(2));
}

class ConcatSplitter {
 public:
  explicit ConcatSplitter(Graph& g) : g_(g) {
    for (const auto& n : g_.nodes)
      for (const auto& in : n.inputs)
        if (!in.empty()) consumers_[in].push_back(&n);
  }

  void run() {
    std::vector<Node> out;
    out.reserve(g_.nodes.size());
    for (auto& n : g_.nodes) {
      if (defer(n)) continue;
      auto it = n.inputs.empty() ? parts_.end() : parts_.find(n.inputs[0]);
      if (it == parts_.end()) {
        out.push_back(std::move(n));
      } else if (n.op_type == "Conv") {
        split_conv(n, it->second, out);
      } else {
        split_pool(n, it->second, out);
      }
    }
    g_.nodes = std::move(out);
  }

 private:
  Graph& g_;
  std::map<std::string, std::vector<const Node*>> consumers_;
  std::map<std::string, std::vector<std::string>> parts_;  // deferred concat output → its parts

  // The node that alone reads `value`, once, as its data input.
  const Node* sole_reader(const std::string& value) const {
    for (const auto& o : g_.outputs)
      if (o == value) return nullptr;
    auto it = consumers_.find(value);
    if (it == consumers_.end() || it->second.size() != 1) return nullptr;
    const Node* c = it->second[0];
    for (size_t i = 1; i < c->inputs.size(); ++i)
      if (c->inputs[i] == value) return nullptr;
    return c->inputs[0] == value ? c : nullptr;
  }

  // A channel Concat of float tensors whose sole reader can take the parts:
  // remembered instead of emitted.
  bool defer(const Node& n) {
    if (!n.domain.empty() || n.op_type != "Concat" || n.inputs.size() < 2) return false;
    const ValueType& ot = g_.types.at(n.outputs[0]);
    int64_t axis = n.attr_int("axis", 0);
    if (ot.dtype != DType::kFloat || ot.dims.size() < 3 ||
        (axis != 1 && axis != 1 - static_cast<int64_t>(ot.dims.size())))
      return false;
    for (const auto& in : n.inputs)
      if (in.empty() || g_.is_constant(in) || g_.types.at(in).dims.size() != ot.dims.size() ||
          g_.types.at(in).dims[1] == 0)
        return false;
    const Node* reader = sole_reader(n.outputs[0]);
    if (!reader || !(is_pooling(*reader) || is_splittable_conv(g_, *reader))) return false;
    parts_[n.outputs[0]] = n.inputs;
    return true;
  }

  // conv(concat(x_0..x_k), W, b) = conv(x_0, W_0, b) + ... + conv(x_k, W_k):
  // the first part's convolution takes the bias, the Adds become its
  // residual post-ops (plan_fusions), the consumer's activation follows.
  void split_conv(const Node& conv, const std::vector<std::string>& parts, std::vector<Node>& out) {
    const HostTensor& w = g_.constants.at(conv.inputs[1]);
    const ValueType out_type = g_.types.at(conv.outputs[0]);
    const int64_t oc = w.dims()[0], ic = w.dims()[1];
    const bool weights_shared = consumers_[conv.inputs[1]].size() > 1;
    int64_t first = 0;
    std::string sum;
    for (size_t j = 0; j < parts.size(); ++j) {
      const std::string suffix = "/part" + std::to_string(j);
      const int64_t c = g_.types.at(parts[j]).dims[1];
      Dims wd = w.dims();
      wd[1] = c;
      HostTensor wj(DType::kFloat, wd, HostTensor::Uninitialized{});
      for (int64_t o = 0; o < oc; ++o)  // a 1x1 kernel: one float per (output, input) channel pair
        std::memcpy(wj.data<float>() + o * c, w.data<float>() + o * ic + first, sizeof(float) * c);
      first += c;
      std::string wname = conv.inputs[1] + suffix;
      g_.constants[wname] = std::move(wj);
      g_.types[wname] = {DType::kFloat, wd};
      Node part = conv;
      part.name = conv.name + suffix;
      part.inputs = {parts[j], wname};
      if (j == 0 && !conv.input(2).empty()) part.inputs.push_back(conv.input(2));
      part.outputs = {conv.outputs[0] + suffix};
      g_.types[part.outputs[0]] = out_type;
      out.push_back(std::move(part));
      if (j == 0) {
        sum = out.back().outputs[0];
        continue;
      }
      Node add;
      add.op_type = "Add";
      add.name = conv.name + "/add" + std::to_string(j);
      add.inputs = {sum, out.back().outputs[0]};
      add.outputs = {j + 1 == parts.size() ? conv.outputs[0] : conv.outputs[0] + "/sum" + std::to_string(j)};
      g_.types[add.outputs[0]] = out_type;
      sum = add.outputs[0];
      out.push_back(std::move(add));
    }
    if (!weights_shared) g_.constants.erase(conv.inputs[1]);  // the slices replace it
  }

  // pool(concat(x_0..x_k)) = concat(pool(x_0), ..., pool(x_k)): the smaller
  // concat is itself deferred when its reader can take parts.
  void split_pool(const Node& pool, const std::vector<std::string>& parts, std::vector<Node>& out) {
    Node concat;
    concat.op_type = "Concat";
    concat.name = pool.name + "/concat";
    concat.attrs["axis"].i = 1;
    concat.outputs = {pool.outputs[0]};
    const ValueType out_type = g_.types.at(pool.outputs[0]);
    for (size_t j = 0; j < parts.size(); ++j) {
      Node part = pool;
      part.name = pool.name + "/part" + std::to_string(j);
      part.inputs = {parts[j]};
      part.outputs = {pool.outputs[0] + "/part" + std::to_string(j)};
      ValueType t = out_type;
      t.dims[1] = g_.types.at(parts[j]).dims[1];
      g_.types[part.outputs[0]] = t;
      concat.inputs.push_back(part.outputs[0]);
      out.push_back(std::move(part));
    }
    if (!defer(concat)) out.push_back(std::move(concat));
  }
};

}  // namespace

void split_concat_consumers(Graph& g) { ConcatSplitter(g).run(); }

}  // namespace mrt::onnx
