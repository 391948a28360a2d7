#include "proto_convert.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "mrt/core/router.h"

namespace mrt::vnode {

void tensor_to_proto(const Tensor& t, ipc::Tensor* out) {
  out->set_name(t.name());
  out->set_dtype(t.dtype());
  for (int64_t d : t.dims()) out->add_dims(d);
  out->set_inline_data(reinterpret_cast<const char*>(t.data()), t.byte_size());
}

Result<Tensor> tensor_from_proto(const ipc::Tensor& m, const std::vector<int>& fds) {
  std::string name = m.name();
  if (m.dims_size() > MRT_MAX_RANK) return invalid_argument("tensor '" + name + "' has rank above " + std::to_string(MRT_MAX_RANK));
  Dims dims(m.dims().begin(), m.dims().end());
  if (dtype_size(m.dtype()) == 0) return invalid_argument("tensor '" + name + "' has unknown dtype " + std::to_string(m.dtype()));
  auto t = Tensor::zeros(name, static_cast<MRT_DType>(m.dtype()), dims);
  if (!t) return t.status();
  if (m.has_memfd()) {
    const ipc::MemfdRef& ref = m.memfd();
    if (ref.fd_index() >= fds.size())
      return invalid_argument("tensor '" + name + "' refers to descriptor " + std::to_string(ref.fd_index()) + " but " +
                              std::to_string(fds.size()) + " came with the frame");
    int fd = fds[ref.fd_index()];
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return invalid_argument("tensor '" + name + "': descriptor is not a memfd/file");
    uint64_t size = static_cast<uint64_t>(st.st_size);
    if (ref.offset() > size || ref.length() > size - ref.offset())
      return invalid_argument("tensor '" + name + "': memfd range [" + std::to_string(ref.offset()) + ", +" +
                              std::to_string(ref.length()) + ") exceeds its size " + std::to_string(size));
    if (ref.length() != t->byte_size())
      return invalid_argument("tensor '" + name + "': memfd range holds " + std::to_string(ref.length()) + " bytes, dims " +
                              dims_to_string(dims) + " need " + std::to_string(t->byte_size()));
    size_t done = 0;
    while (done < t->byte_size()) {
      ssize_t r = ::pread(fd, t->data() + done, t->byte_size() - done, static_cast<off_t>(ref.offset() + done));
      if (r <= 0) return invalid_argument("tensor '" + name + "': memfd read failed");
      done += static_cast<size_t>(r);
    }
    return t;
  }
  if (m.inline_data().size() != t->byte_size())
    return invalid_argument("tensor '" + name + "' carries " + std::to_string(m.inline_data().size()) + " bytes, dims " +
                            dims_to_string(dims) + " of " + std::string(dtype_name(m.dtype())) + " need " +
                            std::to_string(t->byte_size()));
  if (t->byte_size()) std::memcpy(t->data(), m.inline_data().data(), t->byte_size());
  return t;
}

void status_to_proto(const Status& s, ipc::Error* out) {
  out->set_code(s.code());
  out->set_code_name(std::string(status_code_name(s.code())));
  out->set_message(s.message());
}

Status status_from_proto(const ipc::Error& e) {
  return Status(static_cast<StatusCode>(e.code() == 0 ? MRT_CODE_UNKNOWN : e.code()), e.message());
}

void model_status_to_proto(const ModelStatus& s, ipc::ModelStatus* out) {
  out->set_model_id(s.model_id);
  out->set_loaded(s.loaded);
  out->set_plugin(s.plugin);
  out->set_device(s.loaded ? std::string(device_name(s.device)) : "");
  out->set_host_bytes(s.host_bytes);
  out->set_device_bytes(s.device_bytes);
  out->set_in_use(s.in_use);
  out->set_scope(s.scope.empty() ? "system" : "user");
  for (const auto* list : {&s.inputs, &s.outputs}) {
    for (const auto& io : *list) {
      ipc::TensorSpec* spec = list == &s.inputs ? out->add_inputs() : out->add_outputs();
      spec->set_name(io.name);
      spec->set_dtype(io.dtype);
      for (int64_t d : io.dims) spec->add_dims(d);
    }
  }
}

const char* finish_reason_name(MRT_FinishReason r) {
  switch (r) {
    case MRT_FINISH_EOS: return "eos";
    case MRT_FINISH_LENGTH: return "length";
    case MRT_FINISH_STOP: return "stop";
    default: return "";
  }
}

}  // namespace mrt::vnode
