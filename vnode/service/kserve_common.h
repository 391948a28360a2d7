// What KServe v2's two transports share (kserve_api.cpp for REST,
// grpc_server.cpp for gRPC): datatype names, tensor shapes checked within
// bounds, and a model's platform string. Both hand the service the same
// ipc::InferRequest, so one request path serves both.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "model_runtime.pb.h"
#include "mrt/core/status.h"

namespace mrt::vnode {

// The protocol's datatype name of an ABI dtype ("FP32", ...; "UNKNOWN").
const char* kserve_datatype(int32_t dtype);
// The ABI dtype of a datatype name; nullopt for BYTES and unknown names.
std::optional<int32_t> kserve_dtype(const std::string& name);

// Appends `dims` to `t` after checking each is non-negative and the element
// count stays within 2^40; returns the element count. `where` names the input.
template <class Dims>
Result<uint64_t> kserve_set_shape(ipc::Tensor* t, const Dims& dims, const std::string& where);

// "model-runtime/<plugin>" (or "model-runtime" when unknown).
std::string kserve_platform(const ipc::ModelStatus& m);

// --- implementation of the template ---------------------------------------
Status kserve_bad_dim(const std::string& where);
Status kserve_too_large(const std::string& where);

template <class Dims>
Result<uint64_t> kserve_set_shape(ipc::Tensor* t, const Dims& dims, const std::string& where) {
  uint64_t elements = 1;
  for (auto d : dims) {
    int64_t v = static_cast<int64_t>(d);
    if (v < 0 || v > (int64_t{1} << 40)) return kserve_bad_dim(where);
    // Checked before the product: [2^32, 2^32] would wrap to 0 and pass.
    if (v != 0 && elements > (uint64_t{1} << 40) / static_cast<uint64_t>(v)) return kserve_too_large(where);
    elements *= static_cast<uint64_t>(v);
    t->add_dims(v);
  }
  return elements;
}

}  // namespace mrt::vnode
