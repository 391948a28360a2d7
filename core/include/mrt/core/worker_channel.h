// The wire between the service and a plugin worker process (see
// plugin_worker.h): length-prefixed frames over a Unix stream socketpair,
// each carrying an operation, the id of the call it belongs to, a body, and
// at most one file descriptor (SCM_RIGHTS).
//
// Bulk bytes (tensors, images, model files) never travel through the socket
// when they are large: a frame's Payload puts them in one sealed memfd that
// the receiver maps read-only, so a 100 MB tensor costs one copy into shared
// memory and none through the kernel's socket buffers. Small ones (the
// common tiny request) stay inline, which is cheaper than a memfd.
//
// Both ends treat the other as untrusted in the sense that matters: every
// length and offset is checked before use (Reader), so a corrupted or
// malicious worker cannot make the service read out of bounds.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "mrt/core/status.h"

namespace mrt::worker {

enum class Op : uint32_t {
  // service → worker
  kProbe = 1,
  kLoad = 2,
  kUnload = 3,
  kStage = 4,
  kCancel = 5,      // the call's CallControl fired: body = code, message
  kFileReply = 6,   // answer to kFileRequest: status, size, fd
  kShutdown = 7,
  kPing = 8,        // answered with kReply: a no-op round trip
  // worker → service
  kHello = 100,     // plugin info, or the reason the plugin cannot run
  kReply = 101,     // the final answer of a call: status + results
  kFileRequest = 102,
  kText = 103,      // a streamed text chunk of a running call
  kFatal = 104,     // the worker is about to die and says why (out of memory)
};

// A file descriptor owned by the holder.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  ~UniqueFd();
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// A read-only mapping of a received memfd, shared by every view into it,
// and the memfd itself (sealed against writes, shrinking and growth: checked
// when it was received), which an answer can pass on instead of a copy.
struct Mapping {
  void* data = nullptr;
  size_t size = 0;
  UniqueFd file;
  ~Mapping();
};

struct Frame {
  Op op = Op::kReply;
  uint64_t call_id = 0;
  std::string body;
  UniqueFd fd;
};

// Serializes a body. Bulk spans are collected separately and placed by
// finish(): inline when small, else in one memfd attached to the frame.
class Writer {
 public:
  void u8(uint8_t v) { raw(&v, 1); }
  void u32(uint32_t v) { raw(&v, 4); }
  void i32(int32_t v) { raw(&v, 4); }
  void u64(uint64_t v) { raw(&v, 8); }
  void i64(int64_t v) { raw(&v, 8); }
  void f32(float v) { raw(&v, 4); }
  void str(std::string_view s) {
    u64(s.size());
    raw(s.data(), s.size());
  }
  void status(const Status& s) {
    i32(s.code());
    str(s.message());
  }
  // Bytes that may be large: referenced by (index) in the body, placed by
  // finish(). `data` must stay valid until finish(). `discard`: the caller
  // will not read them again, so finish() may return their whole pages to
  // the kernel as soon as they are copied into the memfd (a worker's
  // results: a 200 MB output then never exists twice over in full).
  void bulk(const void* data, uint64_t size, bool discard = false);
  // Places the bulk spans and builds the frame. Fails only when a memfd
  // cannot be had (RESOURCE_EXHAUSTED).
  Result<Frame> finish(Op op, uint64_t call_id);

 private:
  void raw(const void* p, size_t n) { body_.append(static_cast<const char*>(p), n); }
  struct Span {
    const void* data;
    uint64_t size;
    bool discard;
  };
  std::string body_;
  std::vector<Span> spans_;
};

// Reads a body written by Writer. Any read past the end, or a bulk span
// outside its storage, sets failed() and yields zero values: callers check
// ok() once after reading everything.
class Reader {
 public:
  // Maps the frame's memfd when it carries bulk spans.
  static Result<Reader> open(Frame& frame);
  uint8_t u8() { return get<uint8_t>(); }
  uint32_t u32() { return get<uint32_t>(); }
  int32_t i32() { return get<int32_t>(); }
  uint64_t u64() { return get<uint64_t>(); }
  int64_t i64() { return get<int64_t>(); }
  float f32() { return get<float>(); }
  std::string str();
  Status status();
  // A bulk span: its bytes stay valid while this Reader (or a copy of
  // mapping()) lives.
  std::string_view bulk();
  bool ok() const { return ok_; }
  const std::shared_ptr<Mapping>& mapping() const { return mapping_; }

 private:
  template <typename T>
  T get() {
    T v{};
    if (!take(&v, sizeof v)) return T{};
    return v;
  }
  bool take(void* out, size_t n);
  std::string_view body_;
  size_t pos_ = 0;
  bool ok_ = true;
  std::shared_ptr<Mapping> mapping_;
  std::string_view inline_area_;  // where spans live: the body's tail or the memfd
  std::string_view span_table_;   // (offset, size) per span
};

// One end of the socketpair. send() may be called from any thread (frames
// never interleave); recv() from one thread at a time.
class Channel {
 public:
  explicit Channel(UniqueFd fd) : fd_(std::move(fd)) {}
  Status send(const Frame& frame);
  // The next frame; UNAVAILABLE "closed" at end of stream.
  Result<Frame> recv();
  int fd() const { return fd_.get(); }
  // Wakes a blocked recv() and fails every later send.
  void shutdown();

 private:
  UniqueFd fd_;
  std::mutex send_mutex_;
};

}  // namespace mrt::worker
