// The typed graph IR every ONNX backend works on: the protobuf is read once
// (onnx_loader) into these plain structs, and nothing after the loader sees
// protobuf types. Values are named by their ONNX names; constants (the
// initializers, Constant nodes, folded subgraphs) live in Graph::constants.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace mrt::onnx {

// ONNX TensorProto.DataType values (also the ABI's MRT_DType values).
enum class DType : int32_t {
  kUndefined = 0,
  kFloat = 1,
  kUint8 = 2,
  kInt8 = 3,
  kUint16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kUint32 = 12,
  kUint64 = 13,
  kBFloat16 = 16,
};

// Bytes per element; 0 for dtypes the IR cannot hold (string, undefined).
size_t dtype_size(DType t);
// "float32", "int64", ... for messages.
std::string dtype_name(DType t);

using Dims = std::vector<int64_t>;
// Product of dims (1 for a scalar). Dims must be concrete (>= 0).
int64_t element_count(const Dims& dims);
// "[1,3,224,224]" for messages.
std::string dims_string(const Dims& dims);

// Every front-end and backend failure: the message names the operator, the
// node and the opset where one is involved.
struct OnnxError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// `bytes` of host memory, 64-byte aligned, on transparent huge pages when
// large (faulting in 100 MB of weights 4 KiB at a time dominates a load);
// never null, even for 0 bytes. `populate`: a large buffer is faulted in at
// once (one madvise); without, its pages come as they are first written
// (a packing that lets go of its source as it writes: streamed_packing.h).
std::shared_ptr<void> allocate_host_buffer(size_t bytes, bool populate = true);

// A dense row-major tensor in host memory (constants and the reference
// kernels' operands). Copies share the bytes until one of them is written
// through a non-const accessor (copy on write), so passing a graph's weights
// through passes costs nothing. Storage this class allocates is 64-byte
// aligned; bytes adopted from elsewhere are too (slices of the loader's
// weight buffer), or at least 16-byte aligned (a parsed protobuf's raw_data,
// where the loader leaves the parse to protobuf alone).
class HostTensor {
 public:
  // Bytes a backend may let go of while it holds them in another form (the
  // oneDNN plugin keeps a loaded weight only packed between plan builds,
  // weight_residency.h). Every read through a tensor that carries the hook,
  // or through a copy made after it was set, first calls bring_back() while
  // released() says the bytes are gone.
  class Residency {
   public:
    virtual ~Residency() = default;
    bool released() const { return released_.load(std::memory_order_acquire); }
    void set_released(bool released) { released_.store(released, std::memory_order_release); }
    // Makes the bytes resident again and clears released(); thread-safe.
    virtual void bring_back() = 0;

   private:
    std::atomic<bool> released_{false};
  };

  struct Uninitialized {};
  HostTensor() = default;
  HostTensor(DType dtype, Dims dims);                 // zero-filled
  HostTensor(DType dtype, Dims dims, Uninitialized);  // contents unspecified: the caller fills it
  // Takes `owner` (which keeps `data` alive) as the storage of a tensor of
  // `dtype` and `dims`; `data` must hold exactly the bytes of those.
  static HostTensor adopt(DType dtype, Dims dims, std::shared_ptr<void> owner, const void* data);
  HostTensor(const HostTensor& other) = default;
  HostTensor& operator=(const HostTensor& other) = default;
  HostTensor(HostTensor&& other) noexcept;
  HostTensor& operator=(HostTensor&& other) noexcept;
  ~HostTensor() = default;

  DType dtype() const { return dtype_; }
  const Dims& dims() const { return dims_; }
  int64_t rank() const { return static_cast<int64_t>(dims_.size()); }
  int64_t numel() const { return numel_; }
  size_t bytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }
  void* raw() {
    make_resident();
    detach();
    return data_;
  }
  const void* raw() const {
    make_resident();
    return data_;
  }
  template <typename T>
  T* data() {
    return static_cast<T*>(raw());
  }
  template <typename T>
  const T* data() const {
    return static_cast<const T*>(raw());
  }
  // Where the bytes are, without reading them (a released weight stays
  // released): for comparing addresses.
  const void* address() const { return data_; }
  // Writable bytes without copy-on-write or the residency hook, for an
  // update in place by a caller that knows nothing else reads them (a
  // freshly loaded graph's weights, slices of one buffer the graph alone
  // holds, the residency hook itself bringing bytes back).
  void* raw_in_place() { return data_; }
  void set_residency(std::shared_ptr<Residency> r) { residency_ = std::move(r); }
  const std::shared_ptr<Residency>& residency() const { return residency_; }
  // Same bytes, new dims of the same element count (Reshape and friends).
  void reshape(Dims dims);

  // The elements of an integer (int32/int64/uint8/bool...) or float tensor
  // as int64 / double: shape-like operands of Reshape, Slice, Pad...
  std::vector<int64_t> to_int64() const;
  std::vector<double> to_double() const;
  static HostTensor from_int64(const std::vector<int64_t>& values, Dims dims);
  static HostTensor scalar_float(float v);

 private:
  void allocate_storage();
  // Gives this tensor bytes of its own before a write.
  void detach() {
    if (storage_.use_count() > 1) copy_storage();
  }
  void copy_storage();
  void make_resident() const {
    if (residency_ && residency_->released()) residency_->bring_back();
  }

  DType dtype_ = DType::kUndefined;
  Dims dims_;
  int64_t numel_ = 0;
  std::shared_ptr<void> storage_;
  void* data_ = nullptr;
  std::shared_ptr<Residency> residency_;  // null for nearly every tensor
};

// An attribute; which members are meaningful depends on `kind` (ONNX
// AttributeProto.AttributeType values).
struct Attribute {
  enum Kind : int32_t {
    kFloat = 1,
    kInt = 2,
    kString = 3,
    kTensor = 4,
    kGraph = 5,
    kFloats = 6,
    kInts = 7,
    kStrings = 8
  };
  Kind kind = kInt;
  float f = 0;
  int64_t i = 0;
  std::string s;
  HostTensor t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
};

// "a float", "a list of ints", ... for messages.
std::string attribute_kind_name(Attribute::Kind k);

struct Node {
  std::string op_type;
  std::string name;                  // the ONNX node name, or "<op_type>_<index>" when empty
  std::string domain;                // "" = the default ONNX domain
  std::vector<std::string> inputs;   // "" = an omitted optional input
  std::vector<std::string> outputs;  // "" = an omitted optional output
  std::map<std::string, Attribute> attrs;

  bool has_attr(const std::string& a) const { return attrs.count(a) != 0; }
  int64_t attr_int(const std::string& a, int64_t fallback) const;
  float attr_float(const std::string& a, float fallback) const;
  std::string attr_string(const std::string& a, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(const std::string& a, std::vector<int64_t> fallback = {}) const;
  std::vector<float> attr_floats(const std::string& a, std::vector<float> fallback = {}) const;
  // Input `i` or "" when absent (optional inputs may be left off the end).
  const std::string& input(size_t i) const;
  // "op 'Conv' (node 'conv1', opset 13)": the prefix of every node error.
  std::string describe(int64_t opset) const;
};

// A value's type: dtype and dims; -1 marks a dimension unknown until a
// request fixes it (a dynamic batch), and only ever in declared types.
struct ValueType {
  DType dtype = DType::kUndefined;
  Dims dims;
};

struct Graph {
  int64_t opset = 0;                            // of the default ONNX domain
  std::string producer;                         // "pytorch 2.1", for logs
  std::vector<Node> nodes;                      // topologically sorted by the loader
  std::map<std::string, HostTensor> constants;  // initializers, Constant outputs, folded values
  std::vector<std::string> inputs;              // runtime inputs (initializers excluded)
  std::vector<std::string> outputs;
  std::map<std::string, ValueType> types;  // declared (graph inputs/outputs, value_info) and inferred

  bool is_constant(const std::string& v) const { return constants.count(v) != 0; }
};

}  // namespace mrt::onnx
