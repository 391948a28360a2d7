// Conversions between the IPC messages and the core's types.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "model_runtime.pb.h"
#include "mrt/core/host_api.h"
#include "mrt/core/runtime.h"
#include "mrt/core/tensor.h"

namespace mrt::vnode {

// Tensor → message, data inline.
void tensor_to_proto(const Tensor& t, ipc::Tensor* out);
// Tensor → message, data written into memfd `fd` (descriptor `fd_index` of
// the frame) at `offset`, which moves past it, 64-byte aligned: how answers
// too large for a frame travel.
Status tensor_to_proto_memfd(const Tensor& t, ipc::Tensor* out, int fd, uint32_t fd_index, uint64_t& offset);
// Bytes that dims × dtype of a tensor message declare, checked before
// anything is allocated; INVALID_ARGUMENT for an unknown dtype, negative
// dims or a product that overflows.
Result<uint64_t> declared_bytes(const ipc::Tensor& t);
// Message → tensor. The data's length (inline, or the memfd range) must
// match dims × dtype exactly, and is checked before the tensor is
// allocated; memfd ranges are checked against the memfd's size. Errors are
// INVALID_ARGUMENT naming the tensor.
Result<Tensor> tensor_from_proto(const ipc::Tensor& t, const std::vector<int>& fds);

// An InferRequest message → the core's request (model_id, payload,
// generation parameters, top_k). Tensors must declare at most
// `max_request_bytes` in all (RESOURCE_EXHAUSTED naming the limit), checked
// before any is decoded. Scope, control and callbacks are the caller's.
// A request's generation parameters (checked by validate_generation).
GenerationParams generation_from_proto(const ipc::GenerationParams& p);

Result<InferRequest> infer_request_from_proto(const ipc::InferRequest& m, const std::vector<int>& fds,
                                              uint64_t max_request_bytes);
// Tensors → a request's tensor messages. Above `inline_limit` bytes in all
// they go into one sealed memfd appended to `fds` (the caller sends it with
// the request and closes it): a large input then costs the service one copy,
// not a frame buffer, a parsed message and a tensor.
Status tensors_to_request(const std::vector<Tensor>& tensors, ipc::InferRequest& request, uint64_t inline_limit,
                          std::vector<int>& fds);
// The descriptors an InferRequest message refers to (highest fd_index + 1).
size_t fds_wanted(const ipc::InferRequest& m);
// An answer → message. Tensor data above `inline_limit` bytes in all goes
// into one sealed memfd appended to `fds` (the caller sends and closes it)
// instead of the frame.
Result<ipc::InferResponse> infer_response_to_proto(const std::string& model_id, const InferResult& result,
                                                   std::optional<double> latency_ms, uint64_t inline_limit,
                                                   std::vector<int>& fds);
// The reverse, for clients: memfd tensors of an answer read back inline
// (fds[fd_index]); the descriptors are left to the caller.
Status resolve_memfd_tensors(ipc::InferResponse& r, const std::vector<int>& fds);
// The descriptors an answer's memfd tensors refer to (highest fd_index + 1):
// one memfd of the answer, and any a plugin worker's outputs were passed on in.
size_t fds_wanted(const ipc::InferResponse& r);
// Number of memfd tensors in an answer.
size_t memfd_tensor_count(const ipc::InferResponse& r);
void status_to_proto(const Status& s, ipc::Error* out);
// The frame answering request `id` (0: the connection itself) with `s`.
ipc::ServerFrame error_frame(uint64_t id, const Status& s);
Status status_from_proto(const ipc::Error& e);
void model_status_to_proto(const ModelStatus& s, ipc::ModelStatus* out);
const char* finish_reason_name(MRT_FinishReason r);

}  // namespace mrt::vnode
