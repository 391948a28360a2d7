#include "proto_convert.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "mrt/core/router.h"

namespace mrt::vnode {

namespace {
// Name, dtype and dims: everything but where the data is.
void tensor_header_to_proto(const Tensor& t, ipc::Tensor* out) {
  out->set_name(t.name());
  out->set_dtype(t.dtype());
  for (int64_t d : t.dims()) out->add_dims(d);
}
}  // namespace

void tensor_to_proto(const Tensor& t, ipc::Tensor* out) {
  tensor_header_to_proto(t, out);
  out->set_inline_data(reinterpret_cast<const char*>(t.data()), t.byte_size());
}

namespace {

Status pread_all(int fd, std::byte* out, size_t size, uint64_t offset, const std::string& what) {
  size_t done = 0;
  while (done < size) {
    ssize_t r = ::pread(fd, out + done, size - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return invalid_argument(what + ": memfd read failed");
    done += static_cast<size_t>(r);
  }
  return Status::ok();
}

}  // namespace

Result<uint64_t> declared_bytes(const ipc::Tensor& m) {
  const std::string& name = m.name();
  if (m.dims_size() > MRT_MAX_RANK) return invalid_argument("tensor '" + name + "' has rank above " + std::to_string(MRT_MAX_RANK));
  size_t esize = dtype_size(m.dtype());
  if (esize == 0) return invalid_argument("tensor '" + name + "' has unknown dtype " + std::to_string(m.dtype()));
  Dims dims(m.dims().begin(), m.dims().end());
  auto count = element_count(dims);
  if (!count || *count > UINT64_MAX / esize)
    return invalid_argument("tensor '" + name + "' has invalid dims " + dims_to_string(dims));
  return *count * esize;
}

Result<Tensor> tensor_from_proto(const ipc::Tensor& m, const std::vector<int>& fds) {
  const std::string& name = m.name();
  auto bytes = declared_bytes(m);
  if (!bytes) return bytes.status();
  Dims dims(m.dims().begin(), m.dims().end());
  // Every length is checked against the declaration before any allocation:
  // a 20-byte frame must not make the service allocate what it declares.
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
    if (ref.length() != *bytes)
      return invalid_argument("tensor '" + name + "': memfd range holds " + std::to_string(ref.length()) + " bytes, dims " +
                              dims_to_string(dims) + " need " + std::to_string(*bytes));
    auto t = Tensor::uninitialized(name, static_cast<MRT_DType>(m.dtype()), dims);
    if (!t) return t.status();
    MRT_RETURN_IF_ERROR(pread_all(fd, t->data(), t->byte_size(), ref.offset(), "tensor '" + name + "'"));
    return t;
  }
  if (m.inline_data().size() != *bytes)
    return invalid_argument("tensor '" + name + "' carries " + std::to_string(m.inline_data().size()) + " bytes, dims " +
                            dims_to_string(dims) + " of " + std::string(dtype_name(m.dtype())) + " need " +
                            std::to_string(*bytes));
  auto t = Tensor::uninitialized(name, static_cast<MRT_DType>(m.dtype()), dims);
  if (!t) return t.status();
  if (t->byte_size()) std::memcpy(t->data(), m.inline_data().data(), t->byte_size());
  return t;
}

Status tensor_to_proto_memfd(const Tensor& t, ipc::Tensor* out, int fd, uint32_t fd_index, uint64_t& offset) {
  const char* data = reinterpret_cast<const char*>(t.data());
  for (size_t done = 0; done < t.byte_size();) {
    ssize_t w = ::pwrite(fd, data + done, t.byte_size() - done, static_cast<off_t>(offset + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return resource_exhausted("cannot write an answer's memfd: " + std::string(std::strerror(errno)));
    done += static_cast<size_t>(w);
  }
  tensor_header_to_proto(t, out);
  auto* ref = out->mutable_memfd();
  ref->set_fd_index(fd_index);
  ref->set_offset(offset);
  ref->set_length(t.byte_size());
  offset += (t.byte_size() + 63) / 64 * 64;  // the next tensor starts 64-byte aligned
  return Status::ok();
}

namespace {
// A memfd for tensors, appended to `fds` (whose owner closes it).
Result<int> tensor_memfd(const std::string& name, std::vector<int>& fds) {
  int fd = ::memfd_create(name.substr(0, 240).c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return internal_error(std::string("memfd_create: ") + std::strerror(errno));
  fds.push_back(fd);
  return fd;
}
// Sealed: the receiver may map it without fearing that it shrinks under it.
void seal(int fd) { ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL); }
}  // namespace

Status tensors_to_request(const std::vector<Tensor>& tensors, ipc::InferRequest& request, uint64_t inline_limit,
                          std::vector<int>& fds) {
  uint64_t total = 0;
  for (const auto& t : tensors) total += t.byte_size();
  if (total <= inline_limit) {
    for (const auto& t : tensors) tensor_to_proto(t, request.mutable_tensors()->add_tensors());
    return Status::ok();
  }
  auto fd = tensor_memfd("mrt-request", fds);
  if (!fd) return fd.status();
  const auto index = static_cast<uint32_t>(fds.size() - 1);
  uint64_t offset = 0;
  for (const auto& t : tensors)
    MRT_RETURN_IF_ERROR(tensor_to_proto_memfd(t, request.mutable_tensors()->add_tensors(), *fd, index, offset));
  seal(*fd);
  return Status::ok();
}

size_t fds_wanted(const ipc::InferRequest& m) {
  size_t wanted = 0;
  if (m.has_tensors())
    for (const auto& t : m.tensors().tensors())
      if (t.has_memfd()) wanted = std::max<size_t>(wanted, size_t{t.memfd().fd_index()} + 1);
  return wanted;
}

Result<InferRequest> infer_request_from_proto(const ipc::InferRequest& m, const std::vector<int>& fds,
                                              uint64_t max_request_bytes) {
  InferRequest r;
  r.model_id = m.model_id();
  r.top_k = m.options().top_k();
  switch (m.payload_case()) {
    case ipc::InferRequest::kTensors: {
      r.kind = MRT_PAYLOAD_TENSORS;
      uint64_t total = 0;
      for (const auto& t : m.tensors().tensors()) {
        auto bytes = declared_bytes(t);
        if (!bytes) return bytes.status();
        total += std::min(*bytes, max_request_bytes + 1);
        if (total > max_request_bytes)
          return resource_exhausted("the request's tensors declare more than " + std::to_string(max_request_bytes) +
                                    " bytes (limits.per_aid.request_bytes)");
      }
      for (const auto& t : m.tensors().tensors()) {
        auto tensor = tensor_from_proto(t, fds);
        if (!tensor) return tensor.status();
        r.tensors.push_back(std::move(*tensor));
      }
      break;
    }
    case ipc::InferRequest::kImage:
      r.kind = MRT_PAYLOAD_IMAGE;
      r.image = m.image();
      break;
    case ipc::InferRequest::kText:
      r.kind = MRT_PAYLOAD_TEXT;
      r.text = m.text().prompt();
      r.generation = generation_from_proto(m.text().params());
      MRT_RETURN_IF_ERROR(validate_generation(r.generation));
      break;
    case ipc::InferRequest::kChat: {
      r.kind = MRT_PAYLOAD_TEXT;
      if (m.chat().messages().empty()) return invalid_argument("a chat request needs at least one message");
      if (static_cast<size_t>(m.chat().messages_size()) > ChatTemplate::kMaxMessages)
        return invalid_argument("a chat of " + std::to_string(m.chat().messages_size()) + " messages is over the limit of " +
                                std::to_string(ChatTemplate::kMaxMessages));
      for (const auto& msg : m.chat().messages()) r.chat.push_back({msg.role(), msg.content()});
      r.generation = generation_from_proto(m.chat().params());
      MRT_RETURN_IF_ERROR(validate_generation(r.generation));
      break;
    }
    default:
      return invalid_argument("InferRequest has no payload");
  }
  return r;
}

GenerationParams generation_from_proto(const ipc::GenerationParams& p) {
  GenerationParams g;
  g.max_tokens = p.max_tokens();
  g.temperature = p.temperature();
  g.top_p = p.top_p();
  g.top_k = p.top_k();
  if (p.has_seed()) g.seed = p.seed();
  g.stop.assign(p.stop().begin(), p.stop().end());
  return g;
}

Result<ipc::InferResponse> infer_response_to_proto(const std::string& model_id, const InferResult& result,
                                                   std::optional<double> latency_ms, uint64_t inline_limit,
                                                   std::vector<int>& fds) {
  ipc::InferResponse r;
  r.set_model_id(model_id);
  if (latency_ms) r.set_latency_ms(*latency_ms);
  uint64_t total = 0;
  for (const auto& t : result.tensors) total += t.byte_size();
  // Above the limit tensor data leaves the frame. An output a plugin worker
  // sent in a sealed memfd is still in it (Tensor::sealed_file): the client
  // gets that file and the offset, and no byte is copied. Every other tensor
  // goes into one sealed memfd of the answer, one after the other.
  constexpr size_t kMaxPassedFiles = 4;
  std::vector<std::pair<int, uint32_t>> passed;  // a tensor's sealed file → its index in fds
  auto passed_index = [&](int file) -> std::optional<uint32_t> {
    for (const auto& [f, index] : passed)
      if (f == file) return index;
    if (passed.size() == kMaxPassedFiles) return std::nullopt;
    int fd = ::fcntl(file, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return std::nullopt;
    fds.push_back(fd);  // the caller closes it, on error too
    passed.emplace_back(file, static_cast<uint32_t>(fds.size() - 1));
    return passed.back().second;
  };
  int memfd = -1;
  uint32_t memfd_index = 0;
  uint64_t offset = 0;
  auto add = [&](const Tensor& t, ipc::TensorResult* to) -> Status {
    if (total <= inline_limit || t.byte_size() == 0) {  // an empty output needs no descriptor
      tensor_to_proto(t, to->add_tensors());
      return Status::ok();
    }
    if (auto file = t.sealed_file())
      if (auto index = passed_index(file->file)) {
        ipc::Tensor* out = to->add_tensors();
        tensor_header_to_proto(t, out);
        auto* ref = out->mutable_memfd();
        ref->set_fd_index(*index);
        ref->set_offset(file->offset);
        ref->set_length(t.byte_size());
        return Status::ok();
      }
    if (memfd < 0) {
      auto fd = tensor_memfd("mrt-answer-" + model_id, fds);  // the caller closes it, on error too
      if (!fd) return fd.status();
      memfd = *fd;
      memfd_index = static_cast<uint32_t>(fds.size() - 1);
    }
    return tensor_to_proto_memfd(t, to->add_tensors(), memfd, memfd_index, offset);
  };
  if (result.text) {
    auto* t = r.mutable_text();
    t->set_text(result.text->text);
    t->set_final(true);
    t->set_prompt_tokens(result.text->prompt_tokens);
    t->set_generated_tokens(result.text->generated_tokens);
    t->set_finish_reason(finish_reason_name(result.text->finish_reason));
  } else if (!result.classes.empty()) {
    auto* cls = r.mutable_classification();
    for (const auto& e : result.classes) {
      auto* entry = cls->add_classes();
      entry->set_batch_index(e.batch_index);
      entry->set_class_index(e.class_index);
      entry->set_score(e.score);
      entry->set_label(e.label);
    }
    for (const auto& t : result.tensors) MRT_RETURN_IF_ERROR(add(t, r.mutable_outputs()));
  } else {
    for (const auto& t : result.tensors) MRT_RETURN_IF_ERROR(add(t, r.mutable_tensors()));
  }
  if (memfd >= 0) seal(memfd);
  return r;
}

size_t fds_wanted(const ipc::InferResponse& r) {
  size_t wanted = 0;
  for (const auto* list : {&r.tensors(), &r.outputs()})
    for (const auto& t : list->tensors())
      if (t.has_memfd()) wanted = std::max<size_t>(wanted, size_t{t.memfd().fd_index()} + 1);
  return wanted;
}

size_t memfd_tensor_count(const ipc::InferResponse& r) {
  size_t n = 0;
  for (const auto* list : {&r.tensors(), &r.outputs()})
    for (const auto& t : list->tensors()) n += t.has_memfd() ? 1 : 0;
  return n;
}

Status resolve_memfd_tensors(ipc::InferResponse& r, const std::vector<int>& fds) {
  for (auto* list : {r.mutable_tensors(), r.mutable_outputs()})
    for (auto& t : *list->mutable_tensors()) {
      if (!t.has_memfd()) continue;
      auto tensor = tensor_from_proto(t, fds);
      if (!tensor) return data_loss("answer from the service: " + tensor.status().message());
      t.set_inline_data(reinterpret_cast<const char*>(tensor->data()), tensor->byte_size());
    }
  return Status::ok();
}

void status_to_proto(const Status& s, ipc::Error* out) {
  out->set_code(s.code());
  out->set_code_name(std::string(status_code_name(s.code())));
  out->set_message(s.message());
}

ipc::ServerFrame error_frame(uint64_t id, const Status& s) {
  ipc::ServerFrame f;
  f.set_request_id(id);
  status_to_proto(s, f.mutable_error());
  return f;
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
