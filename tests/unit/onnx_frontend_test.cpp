// The ONNX front end on the committed fixtures: the loader's refusals of
// hostile or broken files, constant folding of exporter shape chains, and
// the fusion planner's rewrites (BN into Conv, Gelu, LayerNorm, post-ops)
// and the channel-concat split.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

#include "mrt/onnx/graph_passes.h"
#include "mrt/onnx/onnx_loader.h"
#include "mrt/onnx/plugin_glue.h"
#include "op_def.h"
#include "raw_data_split.h"

namespace fs = std::filesystem;
using namespace mrt::onnx;

namespace {

fs::path fixtures() { return fs::path(MRT_SOURCE_ROOT) / "tests" / "fixtures"; }

std::vector<char> read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

Graph load(const fs::path& p) {
  auto bytes = read(p);
  return load_onnx(bytes.data(), bytes.size(), [&](const std::string& rel) { return read(p.parent_path() / rel); });
}

std::string load_error(const fs::path& p) {
  try {
    load(p);
  } catch (const OnnxError& e) {
    return e.what();
  }
  return "";
}

int count_op(const Graph& g, const std::string& op) {
  int n = 0;
  for (const auto& node : g.nodes) n += node.op_type == op;
  return n;
}

fs::path bad(const std::string& f) { return fixtures() / "onnx-bad" / f; }
fs::path model(const std::string& m) { return fixtures() / "models" / m / "model.onnx"; }

TEST(OnnxLoader, RefusesBrokenFilesWithClearErrors) {
  EXPECT_NE(load_error(bad("truncated.onnx")).find("not a valid ONNX protobuf"), std::string::npos);
  EXPECT_NE(load_error(bad("garbage.onnx")).find("not a valid ONNX protobuf"), std::string::npos);
  EXPECT_NE(load_error(bad("cycle.onnx")).find("cycle"), std::string::npos);
  std::string missing = load_error(bad("missing-initializer.onnx"));
  EXPECT_NE(missing.find("missing initializer"), std::string::npos) << missing;
  std::string det = load_error(bad("unsupported-op.onnx"));
  EXPECT_NE(det.find("unsupported operator 'Det'"), std::string::npos) << det;
  EXPECT_NE(det.find("det_node"), std::string::npos) << det;
  EXPECT_NE(det.find("opset 13"), std::string::npos) << det;
  std::string escape = load_error(bad("external-escape/model.onnx"));
  EXPECT_NE(escape.find("outside the model's directory"), std::string::npos) << escape;
  EXPECT_EQ(load_error(fixtures() / "models" / "empty"), "the model file is empty");
}

// The loader takes the initializers' raw_data out before protobuf parses
// the model: what protobuf then sees must be the same model less those
// bytes, and the weights must come out equal and 64-byte aligned.
TEST(OnnxLoader, SplitsRawDataOutOfTheProtobufBeforeParsing) {
  for (const char* name : {"onnx-resnet", "onnx-bert"}) {
    SCOPED_TRACE(name);
    auto bytes = read(model(name));
    ::onnx::ModelProto whole;
    ASSERT_TRUE(whole.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
    auto split = split_initializer_raw_data(bytes.data(), bytes.size());
    ASSERT_TRUE(split);
    ::onnx::ModelProto rest;
    ASSERT_TRUE(rest.ParseFromString(split->rest));
    ASSERT_EQ(split->raw_data.size(), static_cast<size_t>(whole.graph().initializer_size()));
    int with_raw = 0;
    for (int i = 0; i < whole.graph().initializer_size(); ++i) {
      ::onnx::TensorProto* t = whole.mutable_graph()->mutable_initializer(i);
      EXPECT_EQ(split->has_raw_data[static_cast<size_t>(i)], t->has_raw_data()) << t->name();
      SplitModel::Range r = split->raw_data[static_cast<size_t>(i)];
      EXPECT_EQ(std::string_view(bytes.data() + r.offset, r.size), t->raw_data()) << t->name();
      with_raw += t->has_raw_data();
      t->clear_raw_data();
    }
    EXPECT_GT(with_raw, 10);
    EXPECT_EQ(rest.SerializeAsString(), whole.SerializeAsString());  // everything else byte for byte

    Graph g = load(model(name));
    ::onnx::ModelProto again;
    ASSERT_TRUE(again.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
    for (const auto& t : again.graph().initializer()) {
      if (!t.has_raw_data()) continue;
      const HostTensor& c = g.constants.at(t.name());
      ASSERT_EQ(c.bytes(), t.raw_data().size()) << t.name();
      EXPECT_EQ(reinterpret_cast<uintptr_t>(c.raw()) % 64, 0u) << t.name();
      EXPECT_EQ(std::memcmp(c.raw(), t.raw_data().data(), c.bytes()), 0) << t.name();
    }
  }
  // Truncated inside a field, or with an invalid wire type: no split (the
  // loader then leaves the error to protobuf's own parse).
  auto bytes = read(model("onnx-resnet"));
  EXPECT_FALSE(split_initializer_raw_data(bytes.data(), bytes.size() - 7));
  const char groups[] = {0x0b, 0x0c};  // field 1 as a start-group / end-group pair
  EXPECT_FALSE(split_initializer_raw_data(groups, sizeof groups));
  // One initializer with the given TensorProto bytes, as a ModelProto.
  auto model_with_tensor = [](std::string tensor) {
    std::string graph = std::string(1, '\x2a') + static_cast<char>(tensor.size()) + tensor;
    return std::string(1, '\x3a') + static_cast<char>(graph.size()) + graph;
  };
  auto split_of = [](const std::string& m) { return split_initializer_raw_data(m.data(), m.size()); };
  const std::string plain_model = model_with_tensor(std::string("\x4a\x01" "A", 3));
  auto plain = split_of(plain_model);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain_model.substr(plain->raw_data.at(0).offset, plain->raw_data.at(0).size), "A");
  // A second raw_data whose tag carries bits past 32: protobuf drops them and
  // reads field 9 (keeping the last, "B"), so the walk must not read "A".
  EXPECT_FALSE(split_of(model_with_tensor(std::string("\x4a\x01" "A" "\xca\x80\x80\x80\x10\x01" "B", 10))));
  // A length in 6 bytes (protobuf refuses it).
  EXPECT_FALSE(split_of(model_with_tensor(std::string("\x4a\x81\x80\x80\x80\x80\x00" "A", 8))));
}

// A model read at offsets (the host's file_open): the graph is the one
// the in-memory load gives, the weights' bytes are read once (straight into
// the graph's buffer) plus at most a 64 KiB window per initializer, never
// the whole file again; a read that fails is a load error naming it.
TEST(OnnxLoader, ReadsTheModelAtOffsetsWithoutACopyOfTheWholeFile) {
  struct CountingSource final : ByteSource {
    explicit CountingSource(const std::string& b) : bytes(b) {}
    uint64_t size() const override { return bytes.size(); }
    void read(uint64_t offset, void* dst, size_t n) override {
      if (fail_from && offset + n > fail_from)
        throw OnnxError("'model.onnx' ended after " + std::to_string(fail_from) + " bytes");
      ASSERT_LE(offset + n, bytes.size());
      std::memcpy(dst, bytes.data() + offset, n);
      read_bytes += n;
      ++reads;
    }
    const std::string& bytes;
    uint64_t read_bytes = 0, fail_from = 0;
    int reads = 0;
  };
  for (const char* name : {"onnx-resnet", "onnx-bert"}) {
    SCOPED_TRACE(name);
    auto raw = read(model(name));
    std::string bytes(raw.begin(), raw.end());
    CountingSource src(bytes);
    Graph streamed = load_onnx(src, [](const std::string&) -> std::vector<char> { throw OnnxError("no side files"); });
    Graph in_memory = load(model(name));
    ASSERT_EQ(streamed.constants.size(), in_memory.constants.size());
    for (const auto& [n, t] : in_memory.constants) {
      const HostTensor& s2 = streamed.constants.at(n);
      ASSERT_EQ(s2.bytes(), t.bytes()) << n;
      EXPECT_EQ(std::memcmp(s2.raw(), t.raw(), t.bytes()), 0) << n;
    }
    EXPECT_EQ(streamed.nodes.size(), in_memory.nodes.size());
    uint64_t initializers = streamed.constants.size();
    EXPECT_LE(src.read_bytes, bytes.size() + initializers * (64u << 10)) << src.reads << " reads";
    CountingSource failing(bytes);
    failing.fail_from = bytes.size() / 2;
    try {
      load_onnx(failing, [](const std::string&) -> std::vector<char> { return {}; });
      ADD_FAILURE() << "a failed read loaded";
    } catch (const OnnxError& e) {
      EXPECT_NE(std::string(e.what()).find("ended after"), std::string::npos) << e.what();
    }
  }
}

TEST(OnnxLoader, ReadsExternalDataInsideTheModelDirectory) {
  Graph g = load(bad("external-ok/model.onnx"));
  EXPECT_FALSE(g.constants.empty());
  EXPECT_FALSE(external_location_is_confined("../w.bin"));
  EXPECT_FALSE(external_location_is_confined("/etc/passwd"));
  EXPECT_FALSE(external_location_is_confined("a/../../w.bin"));
  EXPECT_TRUE(external_location_is_confined("weights/w.bin"));
}

// Typed (not raw_data) encodings: uint32 travels in uint64_data and the
// 16-bit integers in int32_data, but each is stored at its own width. uint32
// was once written as uint64 elements, past the end of its buffer.
TEST(OnnxLoader, ReadsTypedIntegerEncodingsAtTheirOwnWidth) {
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("typed");
  auto add = [&](const char* name, int dtype, auto fill) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(dtype);
    t->add_dims(3);
    fill(*t);
    auto* n = g->add_node();
    n->set_op_type("Identity");
    n->add_input(name);
    n->add_output(std::string(name) + "_out");
    auto* o = g->add_output();
    o->set_name(std::string(name) + "_out");
    o->mutable_type()->mutable_tensor_type()->set_elem_type(dtype);
  };
  add("u32", ::onnx::TensorProto::UINT32, [](auto& t) {
    for (uint64_t v : {4000000000ull, 1ull, 7ull}) t.add_uint64_data(v);
  });
  add("u16", ::onnx::TensorProto::UINT16, [](auto& t) {
    for (int v : {65535, 0, 9}) t.add_int32_data(v);
  });
  add("i16", ::onnx::TensorProto::INT16, [](auto& t) {
    for (int v : {-32768, 5, 32767}) t.add_int32_data(v);
  });
  std::string bytes;
  ASSERT_TRUE(m.SerializeToString(&bytes));
  Graph graph = load_onnx(bytes.data(), bytes.size(), [](const std::string&) { return std::vector<char>(); });
  auto values = [&](const char* name, auto tag) {
    using T = decltype(tag);
    const HostTensor& t = graph.constants.at(name);
    EXPECT_EQ(t.bytes(), 3 * sizeof(T)) << name;
    return std::vector<T>(t.data<T>(), t.data<T>() + t.numel());
  };
  EXPECT_EQ(values("u32", uint32_t{}), (std::vector<uint32_t>{4000000000u, 1, 7}));
  EXPECT_EQ(values("u16", uint16_t{}), (std::vector<uint16_t>{65535, 0, 9}));
  EXPECT_EQ(values("i16", int16_t{}), (std::vector<int16_t>{-32768, 5, 32767}));
}

// An initializer whose dims claim 2^61 + 1 int64 values: times 8 bytes
// that wraps to 8 in 64 bits, the size of the raw_data given. The loader
// must see the true size, not adopt 8 bytes as a tensor of 2^61 elements;
// and a claimed size must be checked against the data before it is allocated.
TEST(OnnxLoader, RefusesInitializersWhoseSizeOverflowsOrIsNotThere) {
  auto model_with = [](int64_t dim, int dtype, size_t raw_bytes) {
    ::onnx::ModelProto m;
    m.set_ir_version(8);
    m.add_opset_import()->set_version(13);
    auto* g = m.mutable_graph();
    auto* t = g->add_initializer();
    t->set_name("w");
    t->set_data_type(dtype);
    t->add_dims(dim);
    t->set_raw_data(std::string(raw_bytes, '\1'));
    auto* n = g->add_node();
    n->set_op_type("Identity");
    n->add_input("w");
    n->add_output("y");
    g->add_output()->set_name("y");
    g->mutable_output(0)->mutable_type()->mutable_tensor_type()->set_elem_type(dtype);
    std::string bytes;
    m.SerializeToString(&bytes);
    return bytes;
  };
  auto error_of = [](const std::string& bytes) -> std::string {
    try {
      load_onnx(bytes.data(), bytes.size(), [](const std::string&) { return std::vector<char>(); });
    } catch (const OnnxError& e) {
      return e.what();
    }
    return "";
  };
  std::string wrap = error_of(model_with((int64_t{1} << 61) + 1, ::onnx::TensorProto::INT64, 8));
  EXPECT_NE(wrap.find("initializer 'w'"), std::string::npos) << wrap;
  EXPECT_NE(wrap.find("too large"), std::string::npos) << wrap;
  // 4 EiB claimed, 16 bytes given: refused by the size the data has. Before
  // the check came first, the allocation itself failed ("cannot allocate").
  std::string big = error_of(model_with(int64_t{1} << 60, ::onnx::TensorProto::FLOAT, 16));
  EXPECT_NE(big.find("holds 16 bytes, [1152921504606846976] of float32 needs 4611686018427387904"), std::string::npos) << big;
}

TEST(OnnxLoader, ReadsOpsetsAndTypes) {
  Graph g = load(model("onnx-mobilenetv2"));
  EXPECT_EQ(g.opset, 11);
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.types.at(g.inputs[0]).dims, (Dims{-1, 3, 64, 64}));
}

TEST(OnnxPasses, SpecializeFoldsExporterShapeChains) {
  Graph g = load(model("onnx-mobilenetv2"));
  ASSERT_GT(count_op(g, "Shape"), 0);
  Graph s = specialize(g, {{g.inputs[0], {3, 3, 64, 64}}});
  EXPECT_EQ(count_op(s, "Shape"), 0);
  EXPECT_EQ(count_op(s, "Gather"), 0);
  EXPECT_EQ(count_op(s, "Concat"), 0);
  EXPECT_EQ(s.types.at(s.outputs[0]).dims, (Dims{3, 10}));
}

TEST(OnnxPasses, SpecializeRefusesWrongInputShapes) {
  Graph g = load(model("onnx-resnet"));
  EXPECT_THROW(specialize(g, {{g.inputs[0], {1, 4, 64, 64}}}), OnnxError);
  EXPECT_THROW(specialize(g, {{g.inputs[0], {1, 3, 64}}}), OnnxError);
}

TEST(OnnxPasses, FusesBatchNormAndActivationsIntoConvs) {
  Graph g = load(model("onnx-resnet"));
  FusedGraph f = plan_fusions(specialize(g, {{g.inputs[0], {1, 3, 64, 64}}}));
  EXPECT_EQ(count_op(f.graph, "BatchNormalization"), 0);
  EXPECT_EQ(count_op(f.graph, "Relu"), 0);
  EXPECT_EQ(count_op(f.graph, "Add"), 0);  // residual adds ride on the second conv of each block
  int residuals = 0;
  for (const auto& ops : f.post_ops)
    for (const auto& p : ops) residuals += p.kind == PostOp::kAdd;
  EXPECT_EQ(residuals, 4);
}

// fold_batch_norm_in_place on a freshly loaded graph: no BatchNormalization
// left, each convolution's weights scaled per output channel where they
// lie (the same bytes, no copy), and the fused graph planned from it has
// the same post-op structure as from the original. A weight two
// convolutions read is scaled into a copy instead, the other reader's
// values untouched.
TEST(OnnxPasses, FoldsBatchNormInPlaceAtLoad) {
  const Graph original = load(model("onnx-resnet"));
  Graph fresh = load(model("onnx-resnet"));
  ASSERT_GT(count_op(fresh, "BatchNormalization"), 0);
  const Node* conv = nullptr;
  const Node* bn = nullptr;
  for (const auto& n : original.nodes)
    if (n.op_type == "BatchNormalization")
      for (const auto& c : original.nodes)
        if (c.op_type == "Conv" && c.outputs[0] == n.inputs[0] && !conv) conv = &c, bn = &n;
  ASSERT_TRUE(conv && bn);
  const std::string w = conv->inputs[1];
  const void* bytes_before = std::as_const(fresh).constants.at(w).raw();  // const: a mutable raw() would detach
  Graph folded = fold_batch_norm_in_place(std::move(fresh));
  EXPECT_EQ(count_op(folded, "BatchNormalization"), 0);
  EXPECT_EQ(std::as_const(folded).constants.at(w).raw(), bytes_before) << "the weights were copied";
  const HostTensor& w0 = original.constants.at(w);
  const HostTensor& w1 = folded.constants.at(w);
  const int64_t oc = w0.dims()[0], per = w0.numel() / oc;
  auto param = [&](size_t k) { return original.constants.at(bn->inputs[k]).to_double(); };
  auto gamma = param(1), var = param(4);
  double eps = bn->attr_float("epsilon", 1e-5f);
  for (int64_t o = 0; o < oc; ++o) {
    float s = static_cast<float>(gamma[o] / std::sqrt(var[o] + eps));
    for (int64_t k = 0; k < per; ++k) ASSERT_EQ(w1.data<float>()[o * per + k], w0.data<float>()[o * per + k] * s) << o << "," << k;
  }
  FusedGraph a = plan_fusions(specialize(original, {{original.inputs[0], {1, 3, 64, 64}}}));
  FusedGraph b = plan_fusions(specialize(folded, {{folded.inputs[0], {1, 3, 64, 64}}}));
  ASSERT_EQ(a.graph.nodes.size(), b.graph.nodes.size());
  for (size_t i = 0; i < a.graph.nodes.size(); ++i) {
    EXPECT_EQ(a.graph.nodes[i].op_type, b.graph.nodes[i].op_type);
    EXPECT_EQ(a.post_ops[i].size(), b.post_ops[i].size()) << a.graph.nodes[i].name;
  }

  // Two convolutions on one weight, only the first followed by a BN.
  Graph shared = load(model("onnx-resnet"));
  Node twin = *conv;
  twin.name = "twin";
  twin.outputs = {"twin_out"};
  shared.nodes.push_back(twin);
  shared.outputs.push_back("twin_out");
  Graph shared_folded = fold_batch_norm_in_place(std::move(shared));
  const Node* refolded = nullptr;
  for (const auto& n : shared_folded.nodes)
    if (n.name == conv->name) refolded = &n;
  ASSERT_TRUE(refolded);
  EXPECT_NE(refolded->inputs[1], w) << "a shared weight was folded where it lies";
  ASSERT_EQ(shared_folded.constants.at(w).bytes(), w0.bytes());
  EXPECT_EQ(std::memcmp(std::as_const(shared_folded).constants.at(w).raw(), w0.raw(), w0.bytes()), 0) << "the twin's weights changed";
}

TEST(OnnxPasses, FusesEluAndMishIntoConvs) {
  Graph g = load(model("onnx-exporter-ops"));
  FusedGraph f = plan_fusions(specialize(g, {{g.inputs[0], {1, 3, 16, 16}}}));
  EXPECT_EQ(count_op(f.graph, "Mish"), 0);  // rides on conv4
  EXPECT_EQ(count_op(f.graph, "Elu"), 1);   // follows InstanceNormalization, not a convolution
  int mish = 0;
  for (const auto& ops : f.post_ops)
    for (const auto& p : ops) mish += p.kind == PostOp::kEltwise && p.op_type == "Mish";
  EXPECT_EQ(mish, 1);
}

TEST(OnnxPasses, RewritesGeluAndLayerNorm) {
  Graph g = load(model("onnx-bert"));
  Graph s = specialize(g, {{"input_ids", {2, 16}}, {"attention_mask", {2, 16}}});
  ASSERT_GT(count_op(s, "Erf"), 0);
  FusedGraph f = plan_fusions(s);
  EXPECT_EQ(count_op(f.graph, "Erf"), 0);
  EXPECT_EQ(count_op(f.graph, "Pow"), 0);
  EXPECT_EQ(count_op(f.graph, "LayerNormalization"), 5);
  int gelus = 0;
  for (const auto& ops : f.post_ops)
    for (const auto& p : ops) gelus += p.op_type == "Gelu";
  EXPECT_EQ(gelus + count_op(f.graph, "Gelu"), 2);
}

// SqueezeNet's channel Concats are all read by a narrowing 1x1 Conv (the
// next squeeze, the 10-class head) or a MaxPool: none is left. Each such Conv
// runs once per branch on its slice of the weights, the Adds summing them
// become residual post-ops, and the pool runs per branch.
TEST(OnnxPasses, SplitsChannelConcatsIntoTheirReaders) {
  Graph g = load(model("onnx-squeezenet"));
  Graph s = specialize(g, {{g.inputs[0], {2, 3, 64, 64}}});
  ASSERT_EQ(count_op(s, "Concat"), 5);
  const int convs = count_op(s, "Conv"), pools = count_op(s, "MaxPool");
  const HostTensor whole = s.constants.at("features.6.squeeze.weight");  // [32, 64, 1, 1], after the pool

  Graph split = s;
  split_concat_consumers(split);
  EXPECT_EQ(count_op(split, "Concat"), 0);
  EXPECT_EQ(count_op(split, "Conv"), convs + 5);
  EXPECT_EQ(count_op(split, "Add"), 5);
  EXPECT_EQ(count_op(split, "MaxPool"), pools + 1);  // the pool between two Fire modules, once per branch
  EXPECT_EQ(split.constants.count("features.6.squeeze.weight"), 0u) << "the whole weights outlived their slices";
  const HostTensor& lo = split.constants.at("features.6.squeeze.weight/part0");
  const HostTensor& hi = split.constants.at("features.6.squeeze.weight/part1");
  ASSERT_EQ(lo.dims(), (Dims{32, 32, 1, 1}));
  ASSERT_EQ(hi.dims(), (Dims{32, 32, 1, 1}));
  for (int64_t o = 0; o < 32; ++o)
    for (int64_t c = 0; c < 32; ++c) {
      ASSERT_EQ(lo.data<float>()[o * 32 + c], whole.data<float>()[o * 64 + c]);
      ASSERT_EQ(hi.data<float>()[o * 32 + c], whole.data<float>()[o * 64 + 32 + c]);
    }
  FusedGraph f = plan_fusions(split);
  EXPECT_EQ(count_op(f.graph, "Add"), 0) << "the branch sums should ride on the convolutions";

  // A Concat that is also a graph output is built as it is.
  Graph kept = s;
  for (const auto& n : kept.nodes)
    if (n.op_type == "Concat") {
      kept.outputs.push_back(n.outputs[0]);
      break;
    }
  split_concat_consumers(kept);
  EXPECT_EQ(count_op(kept, "Concat"), 1);
}

}  // namespace

// The operator table is one definition row per operator: the public list is
// the rows' names, each row's signatures are in opset order, every row has
// shape inference, and has_reference() agrees with the row's kernel.
TEST(OperatorRows, OneRowPerOperatorWithOrderedSignatures) {
  const auto& rows = detail::all_ops();
  ASSERT_EQ(rows.size(), supported_ops().size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const detail::OpDef& d = rows[i];
    SCOPED_TRACE(d.name);
    EXPECT_EQ(supported_ops()[i], d.name);
    if (i > 0) {
      EXPECT_LT(std::string(rows[i - 1].name), std::string(d.name));
    }
    ASSERT_FALSE(d.signatures.empty());
    EXPECT_NE(d.infer, nullptr);
    EXPECT_EQ(has_reference(d.name), d.eval != nullptr);
    for (size_t k = 0; k < d.signatures.size(); ++k) {
      const detail::Signature& s = d.signatures[k];
      EXPECT_GE(s.from, 1);
      EXPECT_LE(s.required, s.inputs.size());
      if (k > 0) {
        EXPECT_LT(d.signatures[k - 1].from, s.from);
      }
    }
  }
  // An operator asked for before its first opset names that opset.
  Node n;
  n.op_type = "Gelu";  // from opset 20
  n.inputs = {"x"};
  n.outputs = {"y"};
  ValueType t{DType::kFloat, {2}};
  OpContext ctx{n, 17, {&t}, {nullptr}};
  try {
    infer_types(ctx);
    FAIL() << "Gelu at opset 17 was accepted";
  } catch (const OnnxError& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist before opset 20"), std::string::npos) << e.what();
  }
  // The convolutions and pools have no host kernel; elementwise ops do.
  EXPECT_FALSE(has_reference("Conv"));
  EXPECT_TRUE(has_reference("Add"));
  EXPECT_FALSE(has_reference("NoSuchOp"));
}

// Repeated work is computed once: two Adds of x and equal scalars (each its
// own constant, as exporters write one per layer) become one, and so do
// the nodes downstream of them; a duplicate that names a graph output stays.
TEST(Specialize, ComputesCommonSubexpressionsOnce) {
  Graph g;
  g.opset = 17;
  g.inputs = {"x"};
  g.types["x"] = {DType::kFloat, {-1, 4}};
  auto scalar = [&](const std::string& name, float v) {
    HostTensor t(DType::kFloat, {});
    t.data<float>()[0] = v;
    g.types[name] = {DType::kFloat, {}};
    g.constants.emplace(name, std::move(t));
  };
  scalar("zero_a", 0.5f);
  scalar("zero_b", 0.5f);
  scalar("other", 2.0f);
  auto add = [&](const std::string& op, std::vector<std::string> in, const std::string& out) {
    Node n;
    n.op_type = op;
    n.name = out;
    n.inputs = std::move(in);
    n.outputs = {out};
    g.nodes.push_back(std::move(n));
  };
  add("Add", {"x", "zero_a"}, "a1");
  add("Add", {"x", "zero_b"}, "a2");  // same as a1: equal constant bytes
  add("Relu", {"a1"}, "r1");
  add("Relu", {"a2"}, "r2");         // same as r1 once a2 is a1
  add("Add", {"x", "other"}, "a3");  // a different constant: kept
  add("Mul", {"r1", "r2"}, "y");
  add("Add", {"x", "zero_b"}, "z");  // same as a1 but a graph output: kept
  g.outputs = {"y", "a3", "z"};
  Graph s = specialize(g, {{"x", {2, 4}}});
  std::vector<std::string> ops;
  for (const auto& n : s.nodes) ops.push_back(n.op_type + ":" + n.outputs[0]);
  EXPECT_EQ(ops, (std::vector<std::string>{"Add:a1", "Relu:r1", "Add:a3", "Mul:y", "Add:z"}));
  for (const auto& n : s.nodes) {
    if (n.op_type == "Mul") {
      EXPECT_EQ(n.inputs, (std::vector<std::string>{"r1", "r1"}));
    }
    if (n.outputs[0] == "z") {
      EXPECT_EQ(n.inputs[1], "zero_a");
    }
  }
  EXPECT_EQ(s.constants.count("zero_b"), 0u);
}

// The load's plan is provisional: dropped before another batch size's plan
// is built, unless a call asked for it first; plans calls asked for stay
// (least recently used first out past the capacity).
TEST(PlanCache, DropsTheLoadsPlanIfNoCallAskedForIt) {
  struct Entry {
    Dims dims;
  };
  glue::PlanCache<Entry> cache(4);
  int builds = 0;
  auto build = [&](const std::vector<Dims>& d) {
    ++builds;
    return std::make_shared<Entry>(Entry{d[0]});
  };
  std::weak_ptr<Entry> load_plan = cache.prepare({{1, 3}}, build);
  EXPECT_FALSE(load_plan.expired());
  EXPECT_EQ(cache.prepare({{1, 3}}, build), load_plan.lock());  // a second load reuses it
  auto b8 = cache.get({{8, 3}}, build);
  EXPECT_TRUE(load_plan.expired()) << "the unused load plan was kept beside batch 8's";
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(builds, 2);
  // Once a call has asked for the load's dims, that plan stays.
  auto b1 = cache.prepare({{1, 3}}, build);
  EXPECT_EQ(cache.get({{1, 3}}, build), b1);
  std::weak_ptr<Entry> used = b1;
  b1.reset();
  cache.get({{2, 3}}, build);
  EXPECT_FALSE(used.expired());
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(builds, 4);
  for (int64_t n = 3; n <= 6; ++n) cache.get({{n, 3}}, build);
  EXPECT_EQ(cache.size(), 4u);
  EXPECT_TRUE(used.expired());  // least recently used, past the capacity
}
