// KServe v2 gRPC requests (the Open Inference Protocol's ModelInferRequest,
// from any client on the gRPC socket) → the service's own request: the one
// place the gRPC front end reads a client's tensors, apart so that it can be
// fuzzed without a server (tests/fuzz/fuzz_grpc_infer.cpp).
#pragma once

#include <memory>

#include "kserve_v2.pb.h"
#include "model_runtime.pb.h"
#include "mrt/core/status.h"

namespace mrt::vnode {

// ModelInferRequest → a ClientFrame holding the InferRequest, tensors
// inline. Every shape, datatype and length is checked against the others
// first: INVALID_ARGUMENT naming the input otherwise.
Result<std::unique_ptr<ipc::ClientFrame>> grpc_infer_frame(const inference::ModelInferRequest& r);

}  // namespace mrt::vnode
