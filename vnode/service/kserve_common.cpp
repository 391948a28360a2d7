#include "kserve_common.h"

#include "mrt/core/tensor.h"

namespace mrt::vnode {
namespace {

// KServe datatype names ↔ the ABI's dtypes (ONNX values).
struct DtypeName {
  int32_t dtype;
  const char* name;
};
constexpr DtypeName kDtypes[] = {
    {MRT_DTYPE_BOOL, "BOOL"},     {MRT_DTYPE_UINT8, "UINT8"},   {MRT_DTYPE_UINT16, "UINT16"},
    {MRT_DTYPE_UINT32, "UINT32"}, {MRT_DTYPE_UINT64, "UINT64"}, {MRT_DTYPE_INT8, "INT8"},
    {MRT_DTYPE_INT16, "INT16"},   {MRT_DTYPE_INT32, "INT32"},   {MRT_DTYPE_INT64, "INT64"},
    {MRT_DTYPE_FLOAT16, "FP16"},  {MRT_DTYPE_FLOAT32, "FP32"},  {MRT_DTYPE_FLOAT64, "FP64"},
    {MRT_DTYPE_BFLOAT16, "BF16"},
};

}  // namespace

const char* kserve_datatype(int32_t dtype) {
  for (const auto& d : kDtypes)
    if (d.dtype == dtype) return d.name;
  return "UNKNOWN";
}

std::optional<int32_t> kserve_dtype(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return d.dtype;
  return std::nullopt;
}

std::string kserve_platform(const ipc::ModelStatus& m) {
  return m.plugin().empty() ? "model-runtime" : "model-runtime/" + m.plugin();
}

Status kserve_bad_dim(const std::string& where) {
  return invalid_argument(where + ": 'shape' holds non-negative integers");
}

Status kserve_too_large(const std::string& where) { return invalid_argument(where + ": shape too large"); }

}  // namespace mrt::vnode
