// Common subexpression elimination on a specialized graph (see
// graph_passes.h): one node per distinct (operator, attributes, inputs),
// small constants with equal bytes merged first so that each layer's copy
// of the same scalar does not keep two computations apart.
#include <cstring>
#include <map>
#include <set>
#include <string>

#include "mrt/onnx/graph_passes.h"

namespace mrt::onnx {
namespace {

// Constants up to this size are compared by value (scalars, shapes, small
// masks); bigger ones (weights) are distinct by name.
constexpr size_t kMergedConstantBytes = 256;

void append_bytes(std::string& key, const void* p, size_t n) { key.append(static_cast<const char*>(p), n); }

template <typename T>
void append_value(std::string& key, const T& v) {
  append_bytes(key, &v, sizeof v);
}

void append_tensor(std::string& key, const HostTensor& t) {
  append_value(key, static_cast<int32_t>(t.dtype()));
  append_value(key, t.dims().size());
  for (int64_t d : t.dims()) append_value(key, d);
  append_bytes(key, t.raw(), t.bytes());
}

void append_string(std::string& key, const std::string& s) {
  append_value(key, s.size());
  key += s;
}

// Everything a node computes from: operator, domain, attributes, inputs.
std::string node_key(const Node& n) {
  std::string key;
  append_string(key, n.op_type);
  append_string(key, n.domain);
  append_value(key, n.attrs.size());
  for (const auto& [name, a] : n.attrs) {
    append_string(key, name);
    append_value(key, static_cast<int32_t>(a.kind));
    append_value(key, a.f);
    append_value(key, a.i);
    append_string(key, a.s);
    append_value(key, a.floats.size());
    for (float f : a.floats) append_value(key, f);
    append_value(key, a.ints.size());
    for (int64_t i : a.ints) append_value(key, i);
    append_value(key, a.strings.size());
    for (const auto& s : a.strings) append_string(key, s);
    append_tensor(key, a.t);
  }
  append_value(key, n.inputs.size());
  for (const auto& in : n.inputs) append_string(key, in);
  append_value(key, n.outputs.size());
  return key;
}

}  // namespace

void eliminate_common_subexpressions(Graph& g) {
  const std::set<std::string> outputs(g.outputs.begin(), g.outputs.end());
  std::map<std::string, std::string> renamed;  // value → the equal value that replaces it
  std::map<std::string, std::string> constant_by_bytes;
  for (const auto& [name, t] : g.constants) {
    if (t.bytes() > kMergedConstantBytes || outputs.count(name)) continue;
    std::string key;
    append_tensor(key, t);
    auto [it, fresh] = constant_by_bytes.emplace(std::move(key), name);
    if (!fresh) renamed[name] = it->second;
  }
  std::map<std::string, std::vector<std::string>> computed;  // node key → the outputs of its first node
  std::vector<Node> kept;
  kept.reserve(g.nodes.size());
  for (Node& n : g.nodes) {
    for (auto& in : n.inputs) {
      auto r = renamed.find(in);
      if (r != renamed.end()) in = r->second;
    }
    std::string key = node_key(n);
    auto seen = computed.find(key);
    // A duplicate goes unless it names a graph output (the model's
    // interface) or an output its first computation left off.
    bool removable = seen != computed.end();
    for (size_t i = 0; removable && i < n.outputs.size(); ++i)
      removable = n.outputs[i].empty() || (!outputs.count(n.outputs[i]) && !seen->second[i].empty());
    if (removable) {
      for (size_t i = 0; i < n.outputs.size(); ++i)
        if (!n.outputs[i].empty()) renamed[n.outputs[i]] = seen->second[i];
      continue;
    }
    if (seen == computed.end()) computed.emplace(std::move(key), n.outputs);
    kept.push_back(std::move(n));
  }
  g.nodes = std::move(kept);
  remove_dead_nodes(g);
}

}  // namespace mrt::onnx
