// One definition row per ONNX operator (OpDef: name, signatures by opset,
// shape inference, host reference kernel), and what the operator files
// share to write them. Each ops_<family>.cpp defines its operators' rows;
// op_registry.cpp gathers them and answers ops.h's questions. Private to
// the front end.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ops_util.h"

namespace mrt::onnx::detail {

// ---- shape inference -------------------------------------------------------------------

using Types = std::vector<ValueType>;
using InferFn = Types (*)(const OpView&);

inline Types one(DType t, Dims d) { return {ValueType{t, std::move(d)}}; }

inline std::string str(int64_t x) { return std::to_string(x); }

template <DTypeMask kAllowed>
Types same_as_input(const OpView& v) {
  v.check_dtype(0, kAllowed);
  return one(v.dtype(0), v.dims(0));
}

// ---- host reference kernels -----------------------------------------------------------

using Outputs = std::vector<HostTensor>;

struct Ctx {
  const OpView& v;
  const std::vector<const HostTensor*>& in;
  const std::vector<ValueType>& types;  // inferred output types

  const HostTensor& arg(size_t i) const { return *in[i]; }
  const HostTensor* opt(size_t i) const { return i < in.size() && v.has(i) ? in[i] : nullptr; }
  HostTensor out(size_t i = 0) const { return HostTensor(types[i].dtype, types[i].dims); }
};
using EvalFn = Outputs (*)(const Ctx&);

inline Outputs single(HostTensor t) {
  Outputs o;
  o.push_back(std::move(t));
  return o;
}

// ---- the row ---------------------------------------------------------------------------

// One signature of an operator, valid from opset `from` until the next
// signature of the same operator.
struct Signature {
  int64_t from;
  std::vector<const char*> inputs;  // the spec's input names
  size_t required;                  // how many leading inputs must be present
  bool variadic = false;            // the last input repeats
  size_t max_outputs = 1;
};
inline constexpr size_t kManyOutputs = static_cast<size_t>(-1);

struct OpDef {
  const char* name;
  std::vector<Signature> signatures;  // ascending `from`
  InferFn infer;
  EvalFn eval = nullptr;  // nullptr: no host kernel (the convolutions and pools, run by backends)
};

// Each operator family's rows (ops_<family>.cpp).
std::vector<OpDef> elementwise_ops();
std::vector<OpDef> linear_norm_ops();
std::vector<OpDef> conv_pool_ops();
std::vector<OpDef> reduce_ops();
std::vector<OpDef> data_movement_ops();
std::vector<OpDef> resize_ops();

// Every row, sorted by name (op_registry.cpp); nullptr for an unknown name.
const std::vector<OpDef>& all_ops();
const OpDef* find_op(const std::string& name);
// The signature of `op` at `opset`; nullptr with *exists set when the op is
// known but only from a later opset (*since: its first opset).
const Signature* find_signature(const std::string& op, int64_t opset, bool* exists, int64_t* since);

}  // namespace mrt::onnx::detail
