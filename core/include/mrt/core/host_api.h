// The services table the host hands every plugin (MRT_HostApi), and the
// host-side definitions of the ABI's opaque objects.
#pragma once

#include <mrt/plugin.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mrt/core/call_control.h"
#include "mrt/core/status.h"
#include "mrt/core/tensor.h"

struct MRT_Status {
  MRT_StatusCode code;
  std::string message;
};

// A model's directory (host path, already confined by the repository) and
// its primary file. Plugins reach files only through this.
struct MRT_ModelSource {
  std::filesystem::path directory;
  std::string primary_file;
  // True only for storage no caller can change under the service (a
  // read-only vfs mount: the system repository). file_map memory-maps such
  // files; any other file is read into memory the host owns, because a
  // mapped file that shrinks kills the process with SIGBUS on next access.
  bool immutable_storage = false;
  // How errors name `directory` (the virtual path, e.g.
  // "/home/1000/models/x"): a client never sees host paths. Empty = name
  // files by their relative path alone.
  std::string display_directory = {};
};

// Bytes of one file: a read-only mapping, either of the file itself
// (immutable storage) or of anonymous memory the file was read into.
// Unmapped when destroyed (blob_release).
struct MRT_Blob {
  const void* data = nullptr;
  uint64_t size = 0;
  void* mapping = nullptr;
  size_t mapping_size = 0;

  MRT_Blob() = default;
  MRT_Blob(const MRT_Blob&) = delete;
  MRT_Blob& operator=(const MRT_Blob&) = delete;
  ~MRT_Blob();
};

// A model file opened for reads at offsets (file_open, ABI 1.2): the
// descriptor (the file itself, never a copy: a read past where it now ends
// is an error, not a signal), the size at the open, and how errors name it.
struct MRT_File {
  int fd = -1;
  uint64_t size = 0;
  std::string shown;

  MRT_File(int fd_, uint64_t size_, std::string shown_) : fd(fd_), size(size_), shown(std::move(shown_)) {}
  MRT_File(const MRT_File&) = delete;
  MRT_File& operator=(const MRT_File&) = delete;
  ~MRT_File();
};

namespace mrt {

struct Classification {
  int32_t batch_index = 0;
  int32_t class_index = 0;
  float score = 0;
  std::string label;
};

struct TextResult {
  std::string text;
  int32_t prompt_tokens = 0;
  int32_t generated_tokens = 0;
  MRT_FinishReason finish_reason = MRT_FINISH_NONE;
};

// Streams a chunk of generated text to the requester; a non-OK status means
// the requester is gone.
using TextSink = std::function<Status(std::string_view chunk)>;

}  // namespace mrt

struct MRT_CallContext {
  const mrt::CallControl* control = nullptr;  // never NULL while a call runs
  mrt::TextSink on_text;                      // may be empty (no streaming)
};

struct MRT_Results {
  std::vector<mrt::Tensor> tensors;
  std::vector<mrt::Classification> classes;
  std::optional<mrt::TextResult> text;
};

namespace mrt {

// The process-wide host table (ABI MRT_ABI_VERSION_MAJOR.MINOR).
const MRT_HostApi* host_api();

// Converts a status a plugin returned into a Status, freeing it. NULL → OK.
Status take_plugin_status(MRT_Status* status);
// A status object for returning across the ABI (the plugin or host frees it).
MRT_Status* make_plugin_status(const Status& status);

// Opens `path` of `source` for reading, confined to its directory, as
// file_read / file_map / file_size do: *fd (close-on-exec, the caller closes
// it), the size, and how errors name the file (`shown`). For the plugin
// workers' file requests, which the service answers with a descriptor.
Status open_source_file(const MRT_ModelSource* source, const char* path, int* fd, uint64_t* size, std::string* shown);
// Reads `size` bytes of `fd` from `offset` into `dest`: DATA_LOSS naming
// the file (`shown`) when it fails or ends early (changed while being read).
Status read_file_at(int fd, uint64_t offset, void* dest, uint64_t size, const std::string& shown);
// The first `size` bytes.
inline Status read_file_fully(int fd, void* dest, uint64_t size, const std::string& shown) {
  return read_file_at(fd, 0, dest, size, shown);
}

// Reads `size` bytes of `fd` into page-aligned anonymous memory that `blob`
// owns (read-only once filled), as file_read and file_map do for files on
// storage callers can change: pages a plugin gives back (MADV_DONTNEED)
// are then freed, unlike a copy's pages in a memfd. An error names the file
// (`shown`): no memory, or DATA_LOSS when it ends early.
MRT_Status* read_file_into_blob(int fd, uint64_t size, const std::string& shown, MRT_Blob& blob);

// Name attributed to plugin log lines issued on this thread (set by the host
// around every call into a plugin).
class PluginLogScope {
 public:
  explicit PluginLogScope(const std::string& plugin_name);
  ~PluginLogScope();
  PluginLogScope(const PluginLogScope&) = delete;
  PluginLogScope& operator=(const PluginLogScope&) = delete;

 private:
  const std::string* previous_;
};

}  // namespace mrt
