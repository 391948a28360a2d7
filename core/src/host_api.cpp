// Implementation of every MRT_HostApi service. Each function is a C entry
// reached from plugin code: none may throw, so each body is wrapped.
#include "mrt/core/host_api.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <utility>

#include "mrt/core/log.h"
#include "mrt/core/vfs.h"

MRT_Blob::~MRT_Blob() {
  if (mapping) ::munmap(mapping, mapping_size);
}

MRT_File::~MRT_File() {
  if (fd >= 0) ::close(fd);
}

namespace mrt {
namespace {

thread_local const std::string* t_plugin_name = nullptr;

MRT_Status* new_status(MRT_StatusCode code, std::string message) noexcept {
  try {
    return new MRT_Status{code == MRT_CODE_OK ? MRT_CODE_UNKNOWN : code, std::move(message)};
  } catch (...) {
    // Out of memory while reporting an error: a static status would be freed
    // by the caller, so there is nothing safe to return but a best effort.
    return nullptr;
  }
}

MRT_Status* host_status_create(MRT_StatusCode code, const char* message) {
  return new_status(code, message ? message : "");
}
MRT_StatusCode host_status_code(const MRT_Status* s) { return s ? s->code : MRT_CODE_OK; }
const char* host_status_message(const MRT_Status* s) { return s ? s->message.c_str() : ""; }
void host_status_free(MRT_Status* s) { delete s; }

void host_log(MRT_LogLevel level, const char* message) {
  try {
    std::string component = "plugin";
    if (t_plugin_name) component += ":" + *t_plugin_name;
    int lv = std::clamp(static_cast<int>(level), 0, 3);
    log(static_cast<LogLevel>(lv), component, message ? message : "");
  } catch (...) {
  }
}

void* host_alloc(size_t size, size_t alignment) {
  if (alignment == 0) alignment = 64;
  if ((alignment & (alignment - 1)) != 0 || alignment > 4096) return nullptr;
  if (alignment < sizeof(void*)) alignment = sizeof(void*);
  if (size > std::numeric_limits<size_t>::max() - alignment) return nullptr;
  size_t rounded = (size + alignment - 1) / alignment * alignment;
  return std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded);
}
void host_free(void* p) { std::free(p); }

// A file of a model source opened for reading; closed on scope exit.
struct SourceFile {
  int fd = -1;
  uint64_t size = 0;
  SourceFile() = default;
  SourceFile(const SourceFile&) = delete;
  SourceFile& operator=(const SourceFile&) = delete;
  ~SourceFile() {
    if (fd >= 0) ::close(fd);
  }
};

// How errors name `path` of `source`: under its display (virtual) directory.
std::string shown_path(const MRT_ModelSource* source, const char* path) {
  if (source == nullptr || source->display_directory.empty()) return path;
  return (std::filesystem::path(source->display_directory) / path).string();
}

// Opens `path` inside the source (confined to its directory, a regular
// file), or returns the reason it cannot.
MRT_Status* open_in_source(const MRT_ModelSource* source, const char* path, SourceFile& file) {
  if (source == nullptr || path == nullptr) return new_status(MRT_CODE_INVALID_ARGUMENT, "source or path is NULL");
  auto full = confine(source->directory, path);
  if (!full) {
    // confine names the host directory when it is gone: say it in client terms.
    if (full.status().code() == MRT_CODE_NOT_FOUND)
      return new_status(MRT_CODE_NOT_FOUND, "cannot open '" + shown_path(source, path) + "': the model directory is gone");
    return new_status(full.status().code(), full.status().message());
  }
  file.fd = ::open(full->c_str(), O_RDONLY | O_CLOEXEC);
  if (file.fd < 0) {
    int e = errno;
    return new_status(e == ENOENT ? MRT_CODE_NOT_FOUND : MRT_CODE_PERMISSION_DENIED,
                      "cannot open '" + shown_path(source, path) + "': " + std::strerror(e));
  }
  struct stat st {};
  if (::fstat(file.fd, &st) != 0 || !S_ISREG(st.st_mode))
    return new_status(MRT_CODE_INVALID_ARGUMENT, "'" + shown_path(source, path) + "' is not a regular file");
  file.size = static_cast<uint64_t>(st.st_size);
  return nullptr;
}

// The exception barrier of the file services.
template <typename Body>
MRT_Status* guard_file_call(const char* path, Body&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return new_status(MRT_CODE_RESOURCE_EXHAUSTED, std::string("out of memory reading '") + (path ? path : "") + "'");
  } catch (const std::exception& e) {
    return new_status(MRT_CODE_INTERNAL, e.what());
  }
}

// Read-write anonymous memory for `size` bytes (> 0), or NULL. From 2 MiB on
// it starts on a 2 MiB boundary and is advised huge pages: read() then faults
// once per 2 MiB instead of once per 4 KiB, and decoding misses the TLB less.
// The advice is only a hint, ignored where transparent huge pages are off.
void* map_owned_memory(size_t size) {
  constexpr size_t kHugePage = size_t{2} << 20;
  constexpr int kProt = PROT_READ | PROT_WRITE, kFlags = MAP_PRIVATE | MAP_ANONYMOUS;
  if (size < kHugePage || size > std::numeric_limits<size_t>::max() - 2 * kHugePage) {
    void* m = ::mmap(nullptr, size, kProt, kFlags, -1, 0);
    return m == MAP_FAILED ? nullptr : m;
  }
  size_t span = size + kHugePage;
  void* m = ::mmap(nullptr, span, kProt, kFlags, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  auto raw = reinterpret_cast<uintptr_t>(m);
  uintptr_t start = (raw + kHugePage - 1) & ~(uintptr_t{kHugePage} - 1);
  uintptr_t end = (start + size + 4095) & ~uintptr_t{4095};
  if (start > raw) ::munmap(m, start - raw);
  if (raw + span > end) ::munmap(reinterpret_cast<void*>(end), raw + span - end);
  (void)::madvise(reinterpret_cast<void*>(start), size, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(start);
}


MRT_Status* host_file_read(const MRT_ModelSource* source, const char* path, MRT_Blob** out) {
  return guard_file_call(path, [&]() -> MRT_Status* {
    if (out == nullptr) return new_status(MRT_CODE_INVALID_ARGUMENT, "out is NULL");
    SourceFile file;
    if (MRT_Status* s = open_in_source(source, path, file)) return s;
    auto blob = std::make_unique<MRT_Blob>();
    if (MRT_Status* s = read_file_into_blob(file.fd, file.size, shown_path(source, path), *blob)) return s;
    blob->size = file.size;
    *out = blob.release();
    return nullptr;
  });
}

// Maps the file only when its storage is immutable (a read-only mount):
// a mapped file that another process truncates raises SIGBUS on the next
// access to the lost pages, which would kill the service. Everything else
// gets a private copy, which the ABI allows (docs/abi.md).
MRT_Status* host_file_map(const MRT_ModelSource* source, const char* path, MRT_Blob** out) {
  return guard_file_call(path, [&]() -> MRT_Status* {
    if (out == nullptr) return new_status(MRT_CODE_INVALID_ARGUMENT, "out is NULL");
    SourceFile file;
    if (MRT_Status* s = open_in_source(source, path, file)) return s;
    auto blob = std::make_unique<MRT_Blob>();
    if (!source->immutable_storage) {
      if (MRT_Status* s = read_file_into_blob(file.fd, file.size, shown_path(source, path), *blob)) return s;
    } else if (file.size > 0) {
      void* m = ::mmap(nullptr, file.size, PROT_READ, MAP_PRIVATE, file.fd, 0);
      if (m == MAP_FAILED)
        return new_status(MRT_CODE_INTERNAL, "cannot map '" + shown_path(source, path) + "': " + std::strerror(errno));
      blob->mapping = m;
      blob->mapping_size = file.size;
      blob->data = m;
    }
    blob->size = file.size;
    *out = blob.release();
    return nullptr;
  });
}

MRT_Status* host_file_open(const MRT_ModelSource* source, const char* path, MRT_File** out, uint64_t* out_size) {
  return guard_file_call(path, [&]() -> MRT_Status* {
    if (out == nullptr) return new_status(MRT_CODE_INVALID_ARGUMENT, "out is NULL");
    SourceFile file;
    if (MRT_Status* s = open_in_source(source, path, file)) return s;
    *out = new MRT_File(std::exchange(file.fd, -1), file.size, shown_path(source, path));
    if (out_size) *out_size = file.size;
    return nullptr;
  });
}

MRT_Status* host_file_read_at(MRT_File* file, uint64_t offset, void* dst, size_t size) {
  return guard_file_call("", [&]() -> MRT_Status* {
    if (file == nullptr || (dst == nullptr && size > 0))
      return new_status(MRT_CODE_INVALID_ARGUMENT, "file or dst is NULL");
    if (offset > file->size || size > file->size - offset)
      return new_status(MRT_CODE_OUT_OF_RANGE, "bytes " + std::to_string(offset) + " to " +
                                                   std::to_string(offset + size) + " are past the end of '" +
                                                   file->shown + "' (" + std::to_string(file->size) + " bytes)");
    return make_plugin_status(read_file_at(file->fd, offset, dst, size, file->shown));
  });
}

void host_file_close(MRT_File* file) { delete file; }

MRT_Status* host_file_size(const MRT_ModelSource* source, const char* path, uint64_t* out_size) {
  return guard_file_call(path, [&]() -> MRT_Status* {
    if (out_size == nullptr) return new_status(MRT_CODE_INVALID_ARGUMENT, "out_size is NULL");
    SourceFile file;
    if (MRT_Status* s = open_in_source(source, path, file)) return s;
    *out_size = file.size;
    return nullptr;
  });
}

const char* host_source_primary_file(const MRT_ModelSource* source) {
  return source ? source->primary_file.c_str() : "";
}
const void* host_blob_data(const MRT_Blob* b) { return b ? b->data : nullptr; }
uint64_t host_blob_size(const MRT_Blob* b) { return b ? b->size : 0; }
void host_blob_release(MRT_Blob* b) { delete b; }

int32_t host_call_is_cancelled(const MRT_CallContext* call) {
  return call && call->control && !call->control->check().is_ok() ? 1 : 0;
}
int64_t host_call_deadline_remaining_us(const MRT_CallContext* call) {
  return call && call->control ? call->control->remaining_us() : std::numeric_limits<int64_t>::max();
}
MRT_Status* host_call_cancel_status(const MRT_CallContext* call) {
  if (call == nullptr || call->control == nullptr) return nullptr;
  Status s = call->control->check();
  return s.is_ok() ? nullptr : new_status(s.code(), s.message());
}
MRT_Status* host_call_emit_text(MRT_CallContext* call, const char* utf8, size_t length) {
  try {
    if (call == nullptr) return new_status(MRT_CODE_INVALID_ARGUMENT, "call is NULL");
    if (length > 0 && utf8 == nullptr) return new_status(MRT_CODE_INVALID_ARGUMENT, "text is NULL");
    if (!call->on_text) return nullptr;  // caller did not ask for streaming
    Status s = call->on_text(std::string_view(utf8 ? utf8 : "", length));
    return s.is_ok() ? nullptr : new_status(s.code(), s.message());
  } catch (const std::exception& e) {
    return new_status(MRT_CODE_INTERNAL, e.what());
  }
}

MRT_Status* host_results_add_tensor(MRT_Results* results, const char* name, int32_t dtype, int32_t rank,
                                    const int64_t* dims, void** out_data) {
  try {
    if (results == nullptr || out_data == nullptr) return new_status(MRT_CODE_INVALID_ARGUMENT, "results or out_data is NULL");
    std::string n = name ? name : "";
    if (rank < 0 || rank > MRT_MAX_RANK || (rank > 0 && dims == nullptr))
      return new_status(MRT_CODE_INVALID_ARGUMENT, "output '" + n + "': invalid rank " + std::to_string(rank));
    for (const auto& t : results->tensors)
      if (!n.empty() && t.name() == n) return new_status(MRT_CODE_ALREADY_EXISTS, "output '" + n + "' added twice");
    auto t = Tensor::zeros(n, static_cast<MRT_DType>(dtype), Dims(dims, dims + rank));
    if (!t) return new_status(t.status().code(), "output '" + n + "': " + t.status().message());
    results->tensors.push_back(std::move(*t));
    *out_data = results->tensors.back().data();
    return nullptr;
  } catch (const std::bad_alloc&) {
    return new_status(MRT_CODE_RESOURCE_EXHAUSTED, "out of memory for an output tensor");
  } catch (const std::exception& e) {
    return new_status(MRT_CODE_INTERNAL, e.what());
  }
}

MRT_Status* host_results_add_class(MRT_Results* results, int32_t batch_index, int32_t class_index, float score,
                                   const char* label) {
  try {
    if (results == nullptr) return new_status(MRT_CODE_INVALID_ARGUMENT, "results is NULL");
    results->classes.push_back(Classification{batch_index, class_index, score, label ? label : ""});
    return nullptr;
  } catch (const std::exception& e) {
    return new_status(MRT_CODE_INTERNAL, e.what());
  }
}

MRT_Status* host_results_set_text(MRT_Results* results, const char* utf8, size_t length, int32_t prompt_tokens,
                                  int32_t generated_tokens, int32_t finish_reason) {
  try {
    if (results == nullptr || (length > 0 && utf8 == nullptr)) return new_status(MRT_CODE_INVALID_ARGUMENT, "results or text is NULL");
    TextResult t;
    t.text.assign(utf8 ? utf8 : "", length);
    t.prompt_tokens = prompt_tokens;
    t.generated_tokens = generated_tokens;
    t.finish_reason = static_cast<MRT_FinishReason>(finish_reason);
    results->text = std::move(t);
    return nullptr;
  } catch (const std::exception& e) {
    return new_status(MRT_CODE_INTERNAL, e.what());
  }
}

MRT_HostApi make_host_api() {
  MRT_HostApi api{};
  api.struct_size = MRT_HOST_API_STRUCT_SIZE;
  api.abi_major = MRT_ABI_VERSION_MAJOR;
  api.abi_minor = MRT_ABI_VERSION_MINOR;
  api.status_create = host_status_create;
  api.status_code = host_status_code;
  api.status_message = host_status_message;
  api.status_free = host_status_free;
  api.log = host_log;
  api.alloc = host_alloc;
  api.free = host_free;
  api.file_read = host_file_read;
  api.file_map = host_file_map;
  api.file_size = host_file_size;
  api.source_primary_file = host_source_primary_file;
  api.blob_data = host_blob_data;
  api.blob_size = host_blob_size;
  api.blob_release = host_blob_release;
  api.call_is_cancelled = host_call_is_cancelled;
  api.call_deadline_remaining_us = host_call_deadline_remaining_us;
  api.call_cancel_status = host_call_cancel_status;
  api.call_emit_text = host_call_emit_text;
  api.results_add_tensor = host_results_add_tensor;
  api.results_add_class = host_results_add_class;
  api.results_set_text = host_results_set_text;
  api.file_open = host_file_open;
  api.file_read_at = host_file_read_at;
  api.file_close = host_file_close;
  return api;
}

}  // namespace

// No zero-fill pass of our own: the kernel hands out fresh pages as read()
// fills them; then read-only, like a file mapping. A file that ends before
// the size fstat gave (truncated while being read) is DATA_LOSS naming it.
MRT_Status* read_file_into_blob(int fd, uint64_t file_size, const std::string& path, MRT_Blob& blob) {
  if (file_size == 0) return nullptr;
  if (file_size > std::numeric_limits<size_t>::max())
    return new_status(MRT_CODE_RESOURCE_EXHAUSTED, "'" + path + "' is larger than the address space");
  size_t size = static_cast<size_t>(file_size);
  void* m = map_owned_memory(size);
  if (m == nullptr) {
    int e = errno;
    return new_status(MRT_CODE_RESOURCE_EXHAUSTED,
                      "cannot allocate " + std::to_string(size) + " bytes for '" + path + "': " + std::strerror(e));
  }
  blob.mapping = m;  // unmapped by ~MRT_Blob on every error below
  blob.mapping_size = size;
  if (Status s = read_file_fully(fd, m, size, path); !s.is_ok()) return make_plugin_status(s);
  (void)::mprotect(m, size, PROT_READ);
  blob.data = m;
  return nullptr;
}

const MRT_HostApi* host_api() {
  static const MRT_HostApi api = make_host_api();
  return &api;
}

Status take_plugin_status(MRT_Status* status) {
  if (status == nullptr) return Status::ok();
  Status s(status->code == MRT_CODE_OK ? MRT_CODE_UNKNOWN : status->code, status->message);
  delete status;
  return s;
}

MRT_Status* make_plugin_status(const Status& status) {
  return status.is_ok() ? nullptr : new_status(status.code(), status.message());
}

Status read_file_at(int fd, uint64_t offset, void* dest, uint64_t size, const std::string& shown) {
  auto* out = static_cast<char*>(dest);
  uint64_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, out + done, size - done, static_cast<off_t>(offset + done));
    int e = errno;
    if (n < 0 && e == EINTR) continue;
    if (n < 0) return data_loss("cannot read '" + shown + "': " + std::strerror(e));
    if (n == 0)
      return data_loss("'" + shown + "' ended after " + std::to_string(offset + done) + " of " +
                       std::to_string(offset + size) + " bytes (changed while being read?)");
    done += static_cast<uint64_t>(n);
  }
  return Status::ok();
}

Status open_source_file(const MRT_ModelSource* source, const char* path, int* fd, uint64_t* size, std::string* shown) {
  SourceFile file;
  Status s = take_plugin_status(open_in_source(source, path, file));
  if (!s.is_ok()) return s;
  *fd = file.fd;
  file.fd = -1;
  *size = file.size;
  *shown = shown_path(source, path);
  return Status::ok();
}

PluginLogScope::PluginLogScope(const std::string& plugin_name) : previous_(t_plugin_name) { t_plugin_name = &plugin_name; }
PluginLogScope::~PluginLogScope() { t_plugin_name = previous_; }

}  // namespace mrt
