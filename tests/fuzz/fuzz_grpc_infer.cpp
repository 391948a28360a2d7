// libFuzzer target: the KServe v2 gRPC front end's request translation
// (vnode/service/kserve_grpc_convert.h). gRPC hands the service a parsed
// ModelInferRequest; its fields (shapes, datatypes, typed contents, raw
// input bytes, parameters) are the client's. The input is the serialized
// message: any bytes that parse must give a service request or an error,
// and a request's tensors must hold exactly what their dims declare.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "kserve_grpc_convert.h"
#include "mrt/core/tensor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  inference::ModelInferRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  auto frame = mrt::vnode::grpc_infer_frame(request);
  if (!frame) return 0;
  for (const auto& t : (*frame)->infer().tensors().tensors()) {
    mrt::Dims dims(t.dims().begin(), t.dims().end());
    auto count = mrt::element_count(dims);
    if (!count || *count * mrt::dtype_size(t.dtype()) != t.inline_data().size()) std::abort();
  }
  return 0;
}
