#include "http_exchange.h"

#include <unistd.h>

#include "model_runtime.pb.h"
#include "proto_convert.h"

namespace mrt::vnode {

HttpExchange::HttpExchange(std::shared_ptr<ClientAccount> account, std::filesystem::path home, Deliver deliver)
    : ClientSession(std::move(account)), deliver_(std::move(deliver)) {
  home_models = std::move(home);
}

Status HttpExchange::send(const ipc::ServerFrame& frame, std::vector<int> fds) {
  struct Closer {
    std::vector<int>& fds;
    ~Closer() {
      for (int fd : fds) ::close(fd);
    }
  } closer{fds};
  if (closed_.load()) return Status(MRT_CODE_UNAVAILABLE, "HTTP client disconnected");
  size_t bytes = frame.ByteSizeLong();
  if (pending_.load() + bytes > kMaxPendingBytes) {
    close();
    return resource_exhausted("HTTP client is not reading its answer: over " + std::to_string(kMaxPendingBytes >> 20) +
                              " MiB unsent");
  }
  ipc::ServerFrame copy = frame;
  if (!fds.empty() && copy.has_infer())
    if (Status s = resolve_memfd_tensors(*copy.mutable_infer(), fds); !s.is_ok()) copy = error_frame(frame.request_id(), s);
  pending_ += bytes;
  deliver_(std::move(copy));
  return Status::ok();
}

void HttpExchange::close() {
  closed_.store(true);
  cancel_all();
}

}  // namespace mrt::vnode
