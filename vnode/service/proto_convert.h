// Conversions between the IPC messages and the core's types.
#pragma once

#include <vector>

#include "model_runtime.pb.h"
#include "mrt/core/host_api.h"
#include "mrt/core/runtime.h"
#include "mrt/core/tensor.h"

namespace mrt::vnode {

// Tensor → message, data inline.
void tensor_to_proto(const Tensor& t, ipc::Tensor* out);
// Message → tensor. Inline data must match dims × dtype exactly; memfd data
// is read from fds[fd_index] after checking offset and length against the
// memfd's size. Errors are INVALID_ARGUMENT naming the tensor.
Result<Tensor> tensor_from_proto(const ipc::Tensor& t, const std::vector<int>& fds);
void status_to_proto(const Status& s, ipc::Error* out);
Status status_from_proto(const ipc::Error& e);
void model_status_to_proto(const ModelStatus& s, ipc::ModelStatus* out);
const char* finish_reason_name(MRT_FinishReason r);

}  // namespace mrt::vnode
