#include "client.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "frame_io.h"
#include "model_pack.h"
#include "proto_convert.h"

namespace mrt::client {

Result<std::unique_ptr<Client>> Client::connect(const std::filesystem::path& socket_path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.native().size() >= sizeof addr.sun_path) return invalid_argument("socket path too long");
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return internal_error(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::close(fd);
    return Status(MRT_CODE_UNAVAILABLE, "cannot reach the service at " + socket_path.string() + ": " + std::strerror(e));
  }
  return std::unique_ptr<Client>(new Client(fd));
}

Client::Client(int fd) : fd_(fd), reader_(std::make_unique<vnode::FrameReader>()) {}

Client::~Client() { ::close(fd_); }

Status Client::send(const ipc::ClientFrame& frame, const std::vector<int>& fds) {
  std::string bytes;
  frame.SerializeToString(&bytes);
  return vnode::write_frame(fd_, bytes, fds);
}

Status Client::send_raw(const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return Status(MRT_CODE_UNAVAILABLE, "send failed");
    done += static_cast<size_t>(w);
  }
  return Status::ok();
}

Result<ipc::ServerFrame> Client::receive() {
  auto bytes = vnode::read_frame(fd_, *reader_);
  if (!bytes) return bytes.status();
  ipc::ServerFrame f;
  if (!f.ParseFromString(*bytes)) return data_loss("malformed frame from the service");
  // Large answers come in sealed memfds sent with the frame: read back
  // inline, so callers see one kind of tensor whatever its size.
  if (f.has_infer()) {
    size_t n = vnode::fds_wanted(f.infer());
    if (n > 0) {
      std::vector<int> fds = reader_->take_fds(n);
      Status s = vnode::resolve_memfd_tensors(*f.mutable_infer(), fds);
      for (int fd : fds) ::close(fd);
      MRT_RETURN_IF_ERROR(s);
    }
  }
  return f;
}

Result<ipc::ServerFrame> Client::call(ipc::ClientFrame frame, const ChunkFn& on_chunk, const std::vector<int>& fds) {
  uint64_t id = next_request_id();
  frame.set_request_id(id);
  MRT_RETURN_IF_ERROR(send(frame, fds));
  for (;;) {
    auto reply = receive();
    if (!reply) return reply.status();
    // Request 0 is the service speaking about the connection itself.
    if (reply->request_id() != id && reply->request_id() != 0) continue;
    if (reply->has_error()) return vnode::status_from_proto(reply->error());
    if (reply->has_infer() && reply->infer().has_text() && !reply->infer().text().final()) {
      if (on_chunk) on_chunk(reply->infer().text().text());
      continue;
    }
    return reply;
  }
}

Result<ipc::InferResponse> Client::infer(const ipc::InferRequest& request, const ChunkFn& on_chunk,
                                         const std::vector<int>& fds) {
  ipc::ClientFrame f;
  *f.mutable_infer() = request;
  auto r = call(std::move(f), on_chunk, fds);
  if (!r) return r.status();
  if (!r->has_infer()) return data_loss("the service answered an inference with another kind of frame");
  return r->infer();
}

Result<ipc::ModelList> Client::list_models() {
  ipc::ClientFrame f;
  f.mutable_list_models();
  auto r = call(std::move(f));
  if (!r) return r.status();
  return r->models();
}

Result<ipc::ModelStatus> Client::model_status(const std::string& model_id) {
  ipc::ClientFrame f;
  f.mutable_model_status()->set_model_id(model_id);
  auto r = call(std::move(f));
  if (!r) return r.status();
  return r->model_status();
}

Result<ipc::ModelStatus> Client::load(const std::string& model_id) {
  ipc::ClientFrame f;
  f.mutable_load_model()->set_model_id(model_id);
  auto r = call(std::move(f));
  if (!r) return r.status();
  return r->model_status();
}

Status Client::enable_plugin(const std::string& plugin) {
  ipc::ClientFrame f;
  f.mutable_enable_plugin()->set_plugin(plugin);
  return call(std::move(f)).status();
}

Status Client::unload(const std::string& model_id) {
  ipc::ClientFrame f;
  f.mutable_unload_model()->set_model_id(model_id);
  return call(std::move(f)).status();
}

Result<ipc::ModelStatus> Client::push(const std::filesystem::path& dir, const std::string& model_id) {
  auto packed = pack_model_dir(dir, model_id);
  if (!packed) return packed.status();
  ipc::ClientFrame f;
  *f.mutable_push_model() = std::move(packed->request);
  auto r = call(std::move(f), {}, {packed->memfd});
  if (!r) return r.status();
  return r->model_status();
}

Status Client::remove(const std::string& model_id) {
  ipc::ClientFrame f;
  f.mutable_remove_model()->set_model_id(model_id);
  return call(std::move(f)).status();
}

Result<ipc::ModelStatus> Client::describe(const std::string& model_id) {
  ipc::ClientFrame f;
  f.mutable_model_status()->set_model_id(model_id);
  f.mutable_model_status()->set_describe(true);
  auto r = call(std::move(f));
  if (!r) return r.status();
  return r->model_status();
}

Result<std::string> Client::metrics() {
  ipc::ClientFrame f;
  f.mutable_metrics();
  auto r = call(std::move(f));
  if (!r) return r.status();
  return r->metrics().prometheus();
}

Result<ipc::Health> Client::health() {
  ipc::ClientFrame f;
  f.mutable_health();
  auto r = call(std::move(f));
  if (!r) return r.status();
  return r->health();
}

Result<int> make_memfd(const char* name, const void* data, size_t size) {
  int fd = ::memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) return internal_error(std::string("memfd_create: ") + std::strerror(errno));
  size_t done = 0;
  while (done < size) {
    ssize_t w = ::write(fd, static_cast<const char*>(data) + done, size - done);
    if (w <= 0) {
      ::close(fd);
      return internal_error("writing the memfd failed");
    }
    done += static_cast<size_t>(w);
  }
  return fd;
}

}  // namespace mrt::client
