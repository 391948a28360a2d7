// C++ client library for the model-runtime service (svc://model-runtime).
// One request at a time per Client; open one Client per thread for
// concurrency. Every call returns the service's error as a Status.
//
// Installed as <mrt/client/client.h> with libmrt-client and pkg-config's
// `mrt-client` (docs/service.md, "Clients"): this header may include only
// what is installed beside it (model_runtime.pb.h, mrt/core/status.h,
// mrt/plugin.h), so the frame reader stays behind a pointer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model_runtime.pb.h"
#include "mrt/core/status.h"

namespace mrt::vnode {
class FrameReader;
}

namespace mrt::client {

class Client {
 public:
  static Result<std::unique_ptr<Client>> connect(const std::filesystem::path& socket_path);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  using ChunkFn = std::function<void(const std::string& chunk)>;
  // Sends an inference and waits for its answer; streamed text chunks go to
  // `on_chunk` as they arrive. `fds` travel with the frame (memfd tensors).
  Result<ipc::InferResponse> infer(const ipc::InferRequest& request, const ChunkFn& on_chunk = {},
                                   const std::vector<int>& fds = {});
  Result<ipc::ModelList> list_models();
  Result<ipc::ModelStatus> model_status(const std::string& model_id);
  Result<ipc::ModelStatus> load(const std::string& model_id);
  Status unload(const std::string& model_id);
  // Admins: serve again with a plugin disabled after repeated crashes.
  Status enable_plugin(const std::string& plugin);
  // Users' own models: upload the model directory `dir` as `model_id` into
  // the caller's /home/<AID>/models (replacing a model of that id), remove
  // one, and describe one (`mrt push`, `rm`, `info`; docs/service.md).
  Result<ipc::ModelStatus> push(const std::filesystem::path& dir, const std::string& model_id);
  Status remove(const std::string& model_id);
  Result<ipc::ModelStatus> describe(const std::string& model_id);
  Result<std::string> metrics();
  Result<ipc::Health> health();

  // Low level (tests, tools): one frame out, the next frame in.
  uint64_t next_request_id() { return ++last_id_; }
  Status send(const ipc::ClientFrame& frame, const std::vector<int>& fds = {});
  Status send_raw(const std::string& bytes);
  Result<ipc::ServerFrame> receive();
  int socket() const { return fd_; }

 private:
  explicit Client(int fd);
  // Sends `frame` and returns the final frame answering it.
  Result<ipc::ServerFrame> call(ipc::ClientFrame frame, const ChunkFn& on_chunk = {}, const std::vector<int>& fds = {});

  int fd_;
  uint64_t last_id_ = 0;
  std::unique_ptr<vnode::FrameReader> reader_;
};

// An anonymous memory file holding `size` bytes of `data`, for sending a
// large tensor by descriptor (ipc::Tensor.memfd). The caller closes it.
Result<int> make_memfd(const char* name, const void* data, size_t size);

}  // namespace mrt::client
