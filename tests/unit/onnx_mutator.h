// The hostile-model mutator shared by the ONNX fuzz tests: the seed corpus
// (the onnx node-test models with their inputs, and three fixture
// networks) and the structural mutations (see fuzz_onnx_models_test.cpp).
#pragma once

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "mrt/onnx/ops.h"

namespace mrt::onnx_fuzz {

namespace fs = std::filesystem;

// The suite's budget; MRT_FUZZ_MUTANTS=N (and MRT_FUZZ_SEED) for a longer hunt.
inline int mutant_count(int fallback) {
  const char* n = std::getenv("MRT_FUZZ_MUTANTS");
  return n ? std::max(1, std::atoi(n)) : fallback;
}
inline uint32_t fuzz_seed() {
  const char* s = std::getenv("MRT_FUZZ_SEED");
  return s ? static_cast<uint32_t>(std::strtoul(s, nullptr, 10)) : 20261129u;
}

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

struct Seed {
  std::string name;
  std::string model;                // serialized ModelProto
  std::vector<std::string> inputs;  // serialized TensorProtos, in graph input order
};

inline std::vector<Seed> seeds() {
  std::vector<Seed> out;
  const fs::path root = fs::path(MRT_SOURCE_ROOT) / "tests" / "fixtures";
  for (const auto& e : fs::directory_iterator(root / "onnx-node")) {
    if (!fs::exists(e.path() / "model.onnx")) continue;
    Seed s{e.path().filename().string(), slurp(e.path() / "model.onnx"), {}};
    for (int i = 0;; ++i) {
      fs::path p = e.path() / "test_data_set_0" / ("input_" + std::to_string(i) + ".pb");
      if (!fs::exists(p)) break;
      s.inputs.push_back(slurp(p));
    }
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const Seed& a, const Seed& b) { return a.name < b.name; });  // a fixed order for the seed
  // Whole networks, with no inputs given: the harness makes them.
  for (const char* m : {"onnx-exporter-ops", "onnx-fusions", "onnx-residual-view"})
    out.push_back({m, slurp(root / "models" / m / "model.onnx"), {}});
  return out;
}

class Mutator {
 public:
  explicit Mutator(uint32_t seed) : rng_(seed) {}

  size_t below(size_t n) { return n == 0 ? 0 : rng_() % n; }
  bool one_in(int n) { return below(static_cast<size_t>(n)) == 0; }

  // Mostly small values (axes, sizes, pads), sometimes the edges.
  int64_t an_int() {
    static const int64_t edges[] = {0, -1, -2, 1, 2, 3, 7, 64, 1 << 20, std::numeric_limits<int32_t>::max(),
                                    std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()};
    if (one_in(3)) return edges[below(std::size(edges))];
    return static_cast<int64_t>(below(12)) - 3;
  }
  float a_float() {
    static const float edges[] = {0.0f, -1.0f, 1e-30f, 1e30f, std::numeric_limits<float>::quiet_NaN(),
                                  std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()};
    if (one_in(2)) return edges[below(std::size(edges))];
    return static_cast<float>(static_cast<int>(below(200)) - 100) / 16.0f;
  }
  // A dim for a tensor whose data the harness makes: small, so no mutant
  // allocates gigabytes, but zero and one included.
  int64_t a_dim() { return static_cast<int64_t>(below(6)); }
  int a_dtype() {
    static const int dtypes[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 23, 99};
    return dtypes[below(std::size(dtypes))];
  }

  // Every value name the graph knows (inputs, initializers, node outputs).
  static std::vector<std::string> names(const ::onnx::GraphProto& g) {
    std::vector<std::string> out;
    for (const auto& v : g.input()) out.push_back(v.name());
    for (const auto& t : g.initializer()) out.push_back(t.name());
    for (const auto& n : g.node())
      for (const auto& o : n.output()) out.push_back(o);
    return out;
  }

  // One structural change; returns what it did, for the failure message.
  std::string mutate(::onnx::ModelProto& m) {
    auto* g = m.mutable_graph();
    switch (below(13)) {
      case 0: {  // an attribute's value
        if (g->node_size() == 0) return "none";
        auto* n = g->mutable_node(static_cast<int>(below(static_cast<size_t>(g->node_size()))));
        if (n->attribute_size() == 0) return "none";
        auto* a = n->mutable_attribute(static_cast<int>(below(static_cast<size_t>(n->attribute_size()))));
        if (a->type() == ::onnx::AttributeProto::INT) {
          a->set_i(an_int());
        } else if (a->type() == ::onnx::AttributeProto::FLOAT) {
          a->set_f(a_float());
        } else if (a->type() == ::onnx::AttributeProto::INTS) {
          if (a->ints_size() == 0 || one_in(4)) a->add_ints(an_int());
          else if (one_in(3)) a->mutable_ints()->RemoveLast();
          else a->set_ints(static_cast<int>(below(static_cast<size_t>(a->ints_size()))), an_int());
        } else if (a->type() == ::onnx::AttributeProto::FLOATS) {
          a->add_floats(a_float());
        } else if (a->type() == ::onnx::AttributeProto::STRING) {
          static const char* words[] = {"", "linear", "nearest", "cubic", "reflect", "edge", "tanh", "SAME_UPPER", "VALID", "\xff"};
          a->set_s(words[below(std::size(words))]);
        } else {
          a->set_type(static_cast<::onnx::AttributeProto::AttributeType>(below(14)));  // the kind no longer matches the payload
        }
        return "attribute " + a->name() + " of " + n->op_type();
      }
      case 1: {  // a node input rewired to another value, emptied, or dangling
        if (g->node_size() == 0) return "none";
        auto* n = g->mutable_node(static_cast<int>(below(static_cast<size_t>(g->node_size()))));
        auto all = names(*g);
        std::string to = one_in(5) ? "" : one_in(6) ? "no_such_value" : all[below(all.size())];
        if (n->input_size() == 0 || one_in(5)) n->add_input(to);
        else n->set_input(static_cast<int>(below(static_cast<size_t>(n->input_size()))), to);
        return "input of " + n->op_type() + " -> '" + to + "'";
      }
      case 2:
      case 3: {  // an initializer's dtype or dims, its data left as it was
        if (g->initializer_size() == 0) return "none";
        auto* t = g->mutable_initializer(static_cast<int>(below(static_cast<size_t>(g->initializer_size()))));
        if (one_in(2)) {
          t->set_data_type(a_dtype());
          return "initializer " + t->name() + " dtype";
        }
        if (t->dims_size() == 0 || one_in(4)) t->add_dims(a_dim());
        else t->set_dims(static_cast<int>(below(static_cast<size_t>(t->dims_size()))), one_in(5) ? an_int() : a_dim());
        return "initializer " + t->name() + " dims";
      }
      case 10:
      case 11: {  // an initializer's values (shapes, axes, indices, scales, pads...), its size kept
        if (g->initializer_size() == 0) return "none";
        auto* t = g->mutable_initializer(static_cast<int>(below(static_cast<size_t>(g->initializer_size()))));
        std::string raw = t->raw_data();
        const size_t width = t->data_type() == ::onnx::TensorProto::INT64 ? 8 : t->data_type() == ::onnx::TensorProto::INT32 ? 4 : 0;
        if (raw.empty() || width == 0) {
          if (t->data_type() == ::onnx::TensorProto::FLOAT && raw.size() >= 4) {
            float f = a_float();
            std::memcpy(raw.data() + below(raw.size() / 4) * 4, &f, 4);
            t->set_raw_data(raw);
            return "initializer " + t->name() + " float value";
          }
          if (t->int64_data_size() > 0) t->set_int64_data(static_cast<int>(below(static_cast<size_t>(t->int64_data_size()))), an_int());
          return "initializer " + t->name() + " typed value";
        }
        for (size_t k = 0, n = 1 + below(3); k < n && raw.size() >= width; ++k) {
          const int64_t v = an_int();
          const size_t at = below(raw.size() / width) * width;
          if (width == 8) std::memcpy(raw.data() + at, &v, 8);
          else {
            const auto v32 = static_cast<int32_t>(v);
            std::memcpy(raw.data() + at, &v32, 4);
          }
        }
        t->set_raw_data(raw);
        return "initializer " + t->name() + " int values";
      }
      case 4: {  // an initializer's data truncated, padded or in the wrong field
        if (g->initializer_size() == 0) return "none";
        auto* t = g->mutable_initializer(static_cast<int>(below(static_cast<size_t>(g->initializer_size()))));
        if (t->has_raw_data() && !one_in(3)) {
          std::string raw = t->raw_data();
          raw.resize(one_in(2) ? raw.size() / 2 : raw.size() + 1 + below(8), '\x7f');
          t->set_raw_data(raw);
        } else {
          t->clear_raw_data();
          for (int i = 0, n = static_cast<int>(below(5)); i < n; ++i) {
            t->add_int32_data(static_cast<int32_t>(an_int()));
            t->add_int64_data(an_int());
            t->add_uint64_data(static_cast<uint64_t>(an_int()));
          }
        }
        return "initializer " + t->name() + " data";
      }
      case 5: {  // a graph input's declared type
        if (g->input_size() == 0) return "none";
        auto* v = g->mutable_input(static_cast<int>(below(static_cast<size_t>(g->input_size()))));
        auto* tt = v->mutable_type()->mutable_tensor_type();
        if (one_in(2)) tt->set_elem_type(a_dtype());
        else if (tt->shape().dim_size() > 0) tt->mutable_shape()->mutable_dim(static_cast<int>(below(static_cast<size_t>(tt->shape().dim_size()))))->set_dim_value(an_int());
        else tt->mutable_shape()->add_dim()->set_dim_value(a_dim());
        return "graph input " + v->name() + " type";
      }
      case 6: {  // an op renamed to another the front end knows
        if (g->node_size() == 0) return "none";
        const auto& ops = mrt::onnx::supported_ops();
        auto* n = g->mutable_node(static_cast<int>(below(static_cast<size_t>(g->node_size()))));
        std::string was = n->op_type();
        n->set_op_type(ops[below(ops.size())]);
        return "op " + was + " -> " + n->op_type();
      }
      case 7: {  // another opset
        if (m.opset_import_size() == 0) return "none";
        m.mutable_opset_import(0)->set_version(static_cast<int64_t>(below(30)));
        return "opset " + std::to_string(m.opset_import(0).version());
      }
      case 8: {  // a node dropped or duplicated (a value defined twice)
        if (g->node_size() == 0) return "none";
        int i = static_cast<int>(below(static_cast<size_t>(g->node_size())));
        if (one_in(2)) {
          *g->add_node() = g->node(i);
          return "node " + g->node(i).op_type() + " duplicated";
        }
        g->mutable_node()->DeleteSubrange(i, 1);
        return "node dropped";
      }
      case 9: {  // a node output renamed onto another value or emptied
        if (g->node_size() == 0) return "none";
        auto* n = g->mutable_node(static_cast<int>(below(static_cast<size_t>(g->node_size()))));
        if (n->output_size() == 0) return "none";
        auto all = names(*g);
        n->set_output(static_cast<int>(below(static_cast<size_t>(n->output_size()))), one_in(3) ? "" : all[below(all.size())]);
        return "output of " + n->op_type() + " renamed";
      }
      default: {  // a graph output that names nothing, or a graph input removed
        if (one_in(2) && g->input_size() > 0) {
          g->mutable_input()->DeleteSubrange(static_cast<int>(below(static_cast<size_t>(g->input_size()))), 1);
          return "graph input removed";
        }
        g->add_output()->set_name(one_in(2) ? "no_such_output" : "");
        return "graph output added";
      }
    }
  }

  uint32_t next() { return rng_(); }

 private:
  std::mt19937 rng_;
};

// One mutant: a seed picked at random, parsed, and changed one to three
// times; `what` lists the changes, for failure messages.
struct Mutant {
  const Seed* seed = nullptr;
  ::onnx::ModelProto model;
  std::string what;
};

inline Mutant next_mutant(const std::vector<Seed>& corpus, Mutator& mut) {
  Mutant m;
  m.seed = &corpus[mut.below(corpus.size())];
  if (!m.model.ParseFromString(m.seed->model)) throw std::runtime_error("the seed " + m.seed->name + " does not parse");
  for (int k = 0, n = 1 + static_cast<int>(mut.below(3)); k < n; ++k) m.what += (k ? "; " : "") + mut.mutate(m.model);
  return m;
}

}  // namespace mrt::onnx_fuzz
