// See kserve_grpc_convert.h.
#include "kserve_grpc_convert.h"

#include <cstdint>
#include <cstring>
#include <string>

#include "kserve_common.h"
#include "mrt/core/tensor.h"

namespace mrt::vnode {
namespace {

template <class To, class Values>
Status pack(const Values& values, uint64_t elements, const std::string& where, const char* field, std::string& out) {
  if (static_cast<uint64_t>(values.size()) != elements)
    return invalid_argument(where + ": '" + field + "' has " + std::to_string(values.size()) +
                            " values but the shape holds " + std::to_string(elements));
  out.resize(elements * sizeof(To));
  char* p = out.data();
  for (const auto& v : values) {
    To x = static_cast<To>(v);
    std::memcpy(p, &x, sizeof x);
    p += sizeof x;
  }
  return Status::ok();
}

// InferTensorContents → little-endian element bytes of `dtype`.
Status contents_bytes(const inference::InferTensorContents& c, int32_t dtype, uint64_t elements,
                      const std::string& where, std::string& out) {
  switch (dtype) {
    case MRT_DTYPE_BOOL:
      return pack<uint8_t>(c.bool_contents(), elements, where, "bool_contents", out);
    case MRT_DTYPE_UINT8:
      return pack<uint8_t>(c.uint_contents(), elements, where, "uint_contents", out);
    case MRT_DTYPE_UINT16:
      return pack<uint16_t>(c.uint_contents(), elements, where, "uint_contents", out);
    case MRT_DTYPE_UINT32:
      return pack<uint32_t>(c.uint_contents(), elements, where, "uint_contents", out);
    case MRT_DTYPE_UINT64:
      return pack<uint64_t>(c.uint64_contents(), elements, where, "uint64_contents", out);
    case MRT_DTYPE_INT8:
      return pack<int8_t>(c.int_contents(), elements, where, "int_contents", out);
    case MRT_DTYPE_INT16:
      return pack<int16_t>(c.int_contents(), elements, where, "int_contents", out);
    case MRT_DTYPE_INT32:
      return pack<int32_t>(c.int_contents(), elements, where, "int_contents", out);
    case MRT_DTYPE_INT64:
      return pack<int64_t>(c.int64_contents(), elements, where, "int64_contents", out);
    case MRT_DTYPE_FLOAT32:
      return pack<float>(c.fp32_contents(), elements, where, "fp32_contents", out);
    case MRT_DTYPE_FLOAT64:
      return pack<double>(c.fp64_contents(), elements, where, "fp64_contents", out);
    default:
      return invalid_argument(where + ": send " + kserve_datatype(dtype) + " tensors in raw_input_contents");
  }
}

std::string shape_text(const google::protobuf::RepeatedField<int64_t>& dims) {
  std::string s = "[";
  for (int i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

}  // namespace

Result<std::unique_ptr<ipc::ClientFrame>> grpc_infer_frame(const inference::ModelInferRequest& r) {
  if (r.model_name().empty()) return invalid_argument("'model_name' is required");
  if (r.inputs_size() == 0) return invalid_argument("'inputs' must hold at least one tensor");
  bool raw = r.raw_input_contents_size() > 0;
  if (raw && r.raw_input_contents_size() != r.inputs_size())
    return invalid_argument("raw_input_contents has " + std::to_string(r.raw_input_contents_size()) + " entries for " +
                            std::to_string(r.inputs_size()) + " inputs: give every input its bytes, in order");
  auto f = std::make_unique<ipc::ClientFrame>();
  ipc::InferRequest* infer = f->mutable_infer();
  infer->set_model_id(r.model_name());
  for (int i = 0; i < r.inputs_size(); ++i) {
    const auto& in = r.inputs(i);
    if (in.name().empty()) return invalid_argument("input " + std::to_string(i) + " has no 'name'");
    std::string where = "input '" + in.name() + "'";
    auto dtype = kserve_dtype(in.datatype());
    if (!dtype)
      return invalid_argument(where + ": datatype '" + in.datatype() + "' is not supported (BYTES tensors are not)");
    ipc::Tensor* t = infer->mutable_tensors()->add_tensors();
    t->set_name(in.name());
    t->set_dtype(*dtype);
    auto elements = kserve_set_shape(t, in.shape(), where);
    if (!elements) return elements.status();
    uint64_t want = *elements * dtype_size(*dtype);
    if (raw) {
      if (in.has_contents()) return invalid_argument(where + ": has 'contents' while raw_input_contents is used");
      const std::string& bytes = r.raw_input_contents(i);
      if (bytes.size() != want)
        return invalid_argument(where + ": shape " + shape_text(in.shape()) + " of " + in.datatype() + " makes " +
                                std::to_string(want) + " bytes but raw_input_contents[" + std::to_string(i) + "] has " +
                                std::to_string(bytes.size()));
      t->set_inline_data(bytes);
    } else {
      if (!in.has_contents()) return invalid_argument(where + ": no 'contents' and no raw_input_contents");
      std::string data;
      if (Status s = contents_bytes(in.contents(), *dtype, *elements, where, data); !s.is_ok()) return s;
      t->set_inline_data(std::move(data));
    }
  }
  if (auto it = r.parameters().find("timeout_ms"); it != r.parameters().end()) {
    // The service's own deadline, as in KServe REST's parameters.
    int64_t ms = it->second.has_int64_param()    ? it->second.int64_param()
                 : it->second.has_uint64_param() ? static_cast<int64_t>(it->second.uint64_param())
                                                 : -1;
    if (ms < 0 || ms > UINT32_MAX) return invalid_argument("parameter 'timeout_ms' must be a non-negative integer");
    if (ms > 0) infer->mutable_options()->set_timeout_ms(static_cast<uint32_t>(ms));
  }
  return f;
}

}  // namespace mrt::vnode
