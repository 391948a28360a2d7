#include "mrt/onnx/onnx_loader.h"

#include <google/protobuf/io/coded_stream.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "mrt/onnx/ops.h"
#include "raw_data_split.h"

namespace mrt::onnx {
namespace {

// Protobuf's own default cap is 2 GiB; ONNX files bigger than that need
// external data anyway.
constexpr int kMaxProtoBytes = std::numeric_limits<int>::max();

DType tensor_dtype(int32_t t, const std::string& what) {
  DType d = static_cast<DType>(t);
  if (dtype_size(d) == 0) throw OnnxError(what + ": tensor data type " + std::to_string(t) + " is not supported");
  return d;
}

Dims proto_dims(const ::onnx::TensorProto& t, const std::string& what) {
  Dims dims;
  for (int64_t d : t.dims()) {
    if (d < 0) throw OnnxError(what + ": negative dimension " + std::to_string(d));
    dims.push_back(d);
  }
  return dims;
}

// The bytes `dims` of `dtype` take, refused when the product would not fit
// (a wrapped product could match a small raw_data and let 8 bytes pass for
// 2^61 elements).
uint64_t checked_bytes(DType dtype, const Dims& dims, const std::string& what) {
  const int64_t numel = element_count(dims);
  if (static_cast<uint64_t>(numel) > std::numeric_limits<uint64_t>::max() / 2 / dtype_size(dtype))
    throw OnnxError(what + ": " + dims_string(dims) + " of " + dtype_name(dtype) + " is too large");
  return static_cast<uint64_t>(numel) * dtype_size(dtype);
}

// Copies `count` typed elements from a repeated field (the non-raw
// encodings of TensorProto) into `out`'s storage.
template <typename Dst, typename Field>
void copy_field(const Field& field, HostTensor& out, const std::string& what) {
  if (static_cast<int64_t>(field.size()) != out.numel())
    throw OnnxError(what + ": holds " + std::to_string(field.size()) + " values for " + std::to_string(out.numel()) +
                    " elements of shape " + dims_string(out.dims()));
  Dst* d = out.data<Dst>();
  for (int i = 0; i < field.size(); ++i) d[i] = static_cast<Dst>(field.Get(i));
}

std::string size_mismatch(uint64_t have, const Dims& dims, DType dtype, uint64_t need, const std::string& what) {
  return what + ": holds " + std::to_string(have) + " bytes, " + dims_string(dims) + " of " + dtype_name(dtype) +
         " needs " + std::to_string(need);
}

void copy_raw(const void* src, size_t n, HostTensor& out, const std::string& what) {
  if (n != out.bytes()) throw OnnxError(size_mismatch(n, out.dims(), out.dtype(), out.bytes(), what));
  if (n) std::memcpy(out.raw(), src, n);
}

// How many values the typed (non-raw) field for `dtype` holds.
int typed_count(const ::onnx::TensorProto& t, DType dtype) {
  switch (dtype) {
    case DType::kFloat:
      return t.float_data_size();
    case DType::kDouble:
      return t.double_data_size();
    case DType::kInt64:
      return t.int64_data_size();
    case DType::kUint32:
    case DType::kUint64:
      return t.uint64_data_size();
    default:
      return t.int32_data_size();  // int32 and everything narrower
  }
}

HostTensor external_tensor(const ::onnx::TensorProto& t, DType dtype, Dims dims, uint64_t bytes,
                           const std::string& what, const SideFileReader& read_side_file) {
  std::string location;
  uint64_t offset = 0, length = std::numeric_limits<uint64_t>::max();
  for (const auto& kv : t.external_data()) {
    try {
      if (kv.key() == "location")
        location = kv.value();
      else if (kv.key() == "offset")
        offset = std::stoull(kv.value());
      else if (kv.key() == "length")
        length = std::stoull(kv.value());
    } catch (const std::exception&) {
      throw OnnxError(what + ": external data " + kv.key() + " '" + kv.value() + "' is not a number");
    }
  }
  if (location.empty()) throw OnnxError(what + ": external data without a location");
  if (!external_location_is_confined(location))
    throw OnnxError(what + ": external data location '" + location + "' is outside the model's directory");
  if (!read_side_file) throw OnnxError(what + ": external data '" + location + "' cannot be read here");
  std::vector<char> file = read_side_file(location);
  if (length == std::numeric_limits<uint64_t>::max()) length = bytes;
  if (offset > file.size() || length > file.size() - offset)
    throw OnnxError(what + ": external data [" + std::to_string(offset) + ", +" + std::to_string(length) +
                    ") runs past the end of '" + location + "' (" + std::to_string(file.size()) + " bytes)");
  if (length != bytes) throw OnnxError(size_mismatch(length, dims, dtype, bytes, what));
  HostTensor out(dtype, std::move(dims), HostTensor::Uninitialized{});
  copy_raw(file.data() + offset, length, out, what);
  return out;
}

HostTensor convert_tensor(const ::onnx::TensorProto& t, const std::string& what, const SideFileReader& read_side_file) {
  const DType dtype = tensor_dtype(t.data_type(), what);
  Dims dims = proto_dims(t, what);
  const uint64_t bytes = checked_bytes(dtype, dims, what);
  const int64_t numel = element_count(dims);
  // What the encoding holds is checked before the storage is allocated: a
  // few header bytes must not make the loader reserve the size they claim.
  if (t.data_location() == ::onnx::TensorProto::EXTERNAL)
    return external_tensor(t, dtype, std::move(dims), bytes, what, read_side_file);
  if (t.has_raw_data()) {
    if (t.raw_data().size() != bytes) throw OnnxError(size_mismatch(t.raw_data().size(), dims, dtype, bytes, what));
    HostTensor out(dtype, std::move(dims), HostTensor::Uninitialized{});
    copy_raw(t.raw_data().data(), t.raw_data().size(), out, what);
    return out;
  }
  if (typed_count(t, dtype) != numel)
    throw OnnxError(what + ": holds " + std::to_string(typed_count(t, dtype)) + " values for " + std::to_string(numel) +
                    " elements of shape " + dims_string(dims));
  HostTensor out(dtype, std::move(dims), HostTensor::Uninitialized{});
  switch (out.dtype()) {
    case DType::kFloat:
      copy_field<float>(t.float_data(), out, what);
      break;
    case DType::kDouble:
      copy_field<double>(t.double_data(), out, what);
      break;
    case DType::kInt64:
      copy_field<int64_t>(t.int64_data(), out, what);
      break;
    // uint64_data carries uint32 and uint64; each is stored at its own width.
    case DType::kUint32:
      copy_field<uint32_t>(t.uint64_data(), out, what);
      break;
    case DType::kUint64:
      copy_field<uint64_t>(t.uint64_data(), out, what);
      break;
    // int32_data carries every narrower type, one element per entry.
    case DType::kInt32:
      copy_field<int32_t>(t.int32_data(), out, what);
      break;
    case DType::kInt16:
      copy_field<int16_t>(t.int32_data(), out, what);
      break;
    case DType::kUint16:
    case DType::kFloat16:
    case DType::kBFloat16:
      copy_field<uint16_t>(t.int32_data(), out, what);
      break;
    case DType::kInt8:
      copy_field<int8_t>(t.int32_data(), out, what);
      break;
    case DType::kUint8:
    case DType::kBool:
      copy_field<uint8_t>(t.int32_data(), out, what);
      break;
    default:
      throw OnnxError(what + ": data type " + dtype_name(out.dtype()) + " is not supported");
  }
  return out;
}

ValueType value_type(const ::onnx::ValueInfoProto& v) {
  ValueType vt;
  if (!v.type().has_tensor_type())
    throw OnnxError("value '" + v.name() + "' is not a tensor (sequences and maps are not supported)");
  const auto& tt = v.type().tensor_type();
  vt.dtype = static_cast<DType>(tt.elem_type());
  if (tt.has_shape())
    for (const auto& d : tt.shape().dim())
      vt.dims.push_back(d.has_dim_value() && d.dim_value() >= 0 ? d.dim_value() : -1);
  return vt;
}

Attribute convert_attribute(const ::onnx::AttributeProto& a, const std::string& what,
                            const SideFileReader& read_side_file) {
  Attribute out;
  switch (a.type()) {
    case ::onnx::AttributeProto::FLOAT:
      out.kind = Attribute::kFloat;
      out.f = a.f();
      break;
    case ::onnx::AttributeProto::INT:
      out.kind = Attribute::kInt;
      out.i = a.i();
      break;
    case ::onnx::AttributeProto::STRING:
      out.kind = Attribute::kString;
      out.s = a.s();
      break;
    case ::onnx::AttributeProto::TENSOR:
      out.kind = Attribute::kTensor;
      out.t = convert_tensor(a.t(), what + " attribute '" + a.name() + "'", read_side_file);
      break;
    case ::onnx::AttributeProto::FLOATS:
      out.kind = Attribute::kFloats;
      out.floats.assign(a.floats().begin(), a.floats().end());
      break;
    case ::onnx::AttributeProto::INTS:
      out.kind = Attribute::kInts;
      out.ints.assign(a.ints().begin(), a.ints().end());
      break;
    case ::onnx::AttributeProto::STRINGS:
      out.kind = Attribute::kStrings;
      out.strings.assign(a.strings().begin(), a.strings().end());
      break;
    case ::onnx::AttributeProto::GRAPH:
    case ::onnx::AttributeProto::GRAPHS:
      throw OnnxError(what + ": attribute '" + a.name() + "' is a subgraph (control flow is not supported)");
    default:
      throw OnnxError(what + ": attribute '" + a.name() + "' has an unsupported type " + std::to_string(a.type()));
  }
  return out;
}

// Orders g.nodes so every node follows the producers of its inputs (Kahn's
// algorithm); a node left over sits on a cycle.
void sort_topologically(Graph& g) {
  std::map<std::string, size_t> producer;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& o : g.nodes[i].outputs)
      if (!o.empty() && !producer.emplace(o, i).second)
        throw OnnxError("value '" + o + "' is produced by two nodes ('" + g.nodes[producer[o]].name + "' and '" +
                        g.nodes[i].name + "')");
  std::set<std::string> available(g.inputs.begin(), g.inputs.end());
  for (const auto& [name, _] : g.constants) available.insert(name);
  for (const auto& o : producer)
    if (available.count(o.first))
      throw OnnxError("value '" + o.first + "' is both a graph input or initializer and a node output");
  std::vector<size_t> pending(g.nodes.size());
  std::map<std::string, std::vector<size_t>> users;
  std::vector<size_t> ready;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    std::set<std::string> waits;
    for (const auto& in : g.nodes[i].inputs) {
      if (in.empty() || available.count(in)) continue;
      if (!producer.count(in))
        throw OnnxError(g.nodes[i].describe(g.opset) + ": input '" + in +
                        "' is not a graph input, an initializer or a node output (missing initializer?)");
      if (waits.insert(in).second) users[in].push_back(i);
    }
    pending[i] = waits.size();
    if (waits.empty()) ready.push_back(i);
  }
  std::vector<Node> sorted;
  sorted.reserve(g.nodes.size());
  for (size_t k = 0; k < ready.size(); ++k) {
    size_t i = ready[k];
    for (const auto& o : g.nodes[i].outputs)
      for (size_t u : users[o])
        if (--pending[u] == 0) ready.push_back(u);
    sorted.push_back(std::move(g.nodes[i]));
  }
  if (sorted.size() != g.nodes.size()) {
    for (size_t i = 0; i < g.nodes.size(); ++i)
      if (pending[i] != 0)
        throw OnnxError("the graph has a cycle through node '" + g.nodes[i].name + "' (" + g.nodes[i].op_type + ")");
  }
  g.nodes = std::move(sorted);
}

// Protobuf's limit on one message: a larger model file cannot be parsed.
void check_model_size(uint64_t size) {
  if (size > static_cast<uint64_t>(kMaxProtoBytes))
    throw OnnxError("the model file is over 2 GiB; store weights as external data");
}

::onnx::ModelProto parse_model(const void* bytes, size_t size) {
  if (size == 0) throw OnnxError("the model file is empty");
  check_model_size(size);
  ::onnx::ModelProto model;
  google::protobuf::io::CodedInputStream in(static_cast<const uint8_t*>(bytes), static_cast<int>(size));
  in.SetTotalBytesLimit(kMaxProtoBytes);
  if (!model.ParseFromCodedStream(&in) || !in.ConsumedEntireMessage())
    throw OnnxError("the model file is not a valid ONNX protobuf (truncated or garbage bytes)");
  if (!model.has_graph()) throw OnnxError("the model file has no graph (not an ONNX model?)");
  return model;
}

}  // namespace

bool external_location_is_confined(const std::string& location) {
  if (location.empty()) return false;
  std::filesystem::path p(location);
  if (p.is_absolute() || p.has_root_name() || p.has_root_directory()) return false;
  for (const auto& part : p)
    if (part == "..") return false;
  return location.find('\0') == std::string::npos;
}

HostTensor load_tensor_proto(const void* bytes, size_t size, std::string* name) {
  ::onnx::TensorProto t;
  if (size > static_cast<size_t>(kMaxProtoBytes) || !t.ParseFromArray(bytes, static_cast<int>(size)))
    throw OnnxError("not a valid TensorProto");
  if (name) *name = t.name();
  return convert_tensor(t, "tensor '" + t.name() + "'", nullptr);
}

void MemoryBytes::read(uint64_t offset, void* dst, size_t n) {
  if (offset > size_ || n > size_ - offset) throw OnnxError("read past the end of the model's bytes");
  if (n) std::memcpy(dst, data_ + offset, n);  // n may be 0 with a null dst
}

namespace {

// All of a source's bytes, for protobuf's own parse where the split did not
// take the model (its error messages name what is wrong).
std::string whole(ByteSource& bytes) {
  check_model_size(bytes.size());
  std::string all(static_cast<size_t>(bytes.size()), '\0');
  bytes.read(0, all.data(), all.size());
  return all;
}

}  // namespace

Graph load_onnx(ByteSource& bytes, const SideFileReader& read_side_file) {
  // The weights are copied once, from `bytes` into one huge-page buffer,
  // instead of by protobuf into a string each (raw_data_split.h).
  std::optional<SplitModel> maybe_split = split_initializer_raw_data(bytes);
  bool use_split = maybe_split.has_value();
  SplitModel split = use_split ? std::move(*maybe_split) : SplitModel{};
  ::onnx::ModelProto model;
  if (use_split) model = parse_model(split.rest.data(), split.rest.size());
  if (use_split && split.raw_data.size() != static_cast<size_t>(model.graph().initializer_size()))
    use_split = false;  // cannot happen for what the split wrote; protobuf's parse is the authority if it does
  if (!use_split) {
    std::string all = whole(bytes);
    model = parse_model(all.data(), all.size());
  }
  constexpr size_t kAlign = 64;
  auto padded = [&](size_t n) { return (n + kAlign - 1) / kAlign * kAlign; };
  std::shared_ptr<void> weights;
  size_t weights_used = 0;
  if (use_split) {
    size_t total = 0;
    for (const auto& raw : split.raw_data) total += padded(raw.size);
    weights = allocate_host_buffer(total);
  }
  Graph g;
  g.producer = model.producer_name() + (model.producer_version().empty() ? "" : " " + model.producer_version());
  for (const auto& op : model.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") g.opset = op.version();
  if (g.opset == 0) throw OnnxError("the model imports no default-domain (ai.onnx) opset");
  if (g.opset < 7 || g.opset > 28)
    throw OnnxError("opset " + std::to_string(g.opset) + " is not supported (supported: 7 to 28)");
  const auto& graph = model.graph();
  for (int i = 0; i < graph.initializer_size(); ++i) {
    ::onnx::TensorProto& t = *model.mutable_graph()->mutable_initializer(i);
    if (t.name().empty()) throw OnnxError("an initializer has no name");
    std::string what = "initializer '" + t.name() + "'";
    DType dtype = tensor_dtype(t.data_type(), what);
    Dims dims = proto_dims(t, what);
    if (use_split && split.has_raw_data[static_cast<size_t>(i)]) {
      SplitModel::Range raw = split.raw_data[static_cast<size_t>(i)];
      if (t.data_location() != ::onnx::TensorProto::EXTERNAL && raw.size == checked_bytes(dtype, dims, what)) {
        void* at = static_cast<char*>(weights.get()) + weights_used;
        bytes.read(raw.offset, at, raw.size);
        weights_used += padded(raw.size);
        g.constants[t.name()] = HostTensor::adopt(dtype, std::move(dims), weights, at);
        g.types[t.name()] = {dtype, g.constants[t.name()].dims()};
        continue;
      }
      std::string payload(raw.size, '\0');  // the general path below says what is wrong with it
      bytes.read(raw.offset, payload.data(), raw.size);
      t.set_raw_data(std::move(payload));
    }
    if (t.has_raw_data() && t.data_location() != ::onnx::TensorProto::EXTERNAL &&
        t.raw_data().size() == checked_bytes(dtype, dims, what)) {
      // The weights stay in the string protobuf parsed them into: one copy
      // of the model in memory, not two.
      std::shared_ptr<std::string> raw(t.release_raw_data());
      const void* data = raw->data();
      g.constants[t.name()] = HostTensor::adopt(dtype, std::move(dims), std::move(raw), data);
    } else {
      g.constants[t.name()] = convert_tensor(t, what, read_side_file);
    }
    g.types[t.name()] = {g.constants[t.name()].dtype(), g.constants[t.name()].dims()};
  }
  if (graph.sparse_initializer_size() > 0) throw OnnxError("sparse initializers are not supported");
  for (const auto& v : graph.input()) {
    if (g.constants.count(v.name())) continue;  // old exporters list initializers as inputs too
    ValueType vt = value_type(v);
    if (dtype_size(vt.dtype) == 0)
      throw OnnxError("graph input '" + v.name() + "' has unsupported dtype " + dtype_name(vt.dtype));
    g.inputs.push_back(v.name());
    g.types[v.name()] = vt;
  }
  for (const auto& v : graph.output()) {
    g.outputs.push_back(v.name());
    g.types.emplace(v.name(), value_type(v));
  }
  if (g.outputs.empty()) throw OnnxError("the graph has no outputs");

  size_t index = 0;
  for (const auto& n : graph.node()) {
    Node node;
    node.op_type = n.op_type();
    node.domain = n.domain() == "ai.onnx" ? "" : n.domain();
    node.name = n.name().empty() ? n.op_type() + "_" + std::to_string(index) : n.name();
    ++index;
    node.inputs.assign(n.input().begin(), n.input().end());
    node.outputs.assign(n.output().begin(), n.output().end());
    if (!node.domain.empty())
      throw OnnxError("unsupported operator '" + node.op_type + "' of domain '" + node.domain + "' (node '" +
                      node.name + "')");
    if (!is_supported_op(node.op_type))
      throw OnnxError("unsupported operator '" + node.op_type + "' (node '" + node.name + "', opset " +
                      std::to_string(g.opset) + ")");
    for (const auto& a : n.attribute())
      node.attrs[a.name()] = convert_attribute(a, node.describe(g.opset), read_side_file);
    g.nodes.push_back(std::move(node));
  }
  sort_topologically(g);
  for (const auto& o : g.outputs) {
    bool defined = g.constants.count(o) || std::count(g.inputs.begin(), g.inputs.end(), o);
    for (const auto& n : g.nodes) defined = defined || std::count(n.outputs.begin(), n.outputs.end(), o);
    if (!defined) throw OnnxError("graph output '" + o + "' is not produced by any node");
  }
  return g;
}

}  // namespace mrt::onnx
