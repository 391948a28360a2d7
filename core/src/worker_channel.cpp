// Frames between the service and its plugin workers (worker_channel.h).
//
// On the wire: a 24-byte header {magic, op, call_id, body length}, then the
// body; the frame's descriptor rides on the header's sendmsg. A finished body
// is laid out as
//   u8 storage (0 = spans inline, 1 = spans in the attached memfd)
//   u64 span count, then (offset, size) per span
//   u64 main length, the main bytes (what Writer's u32/str/... wrote)
//   the inline span area (storage 0 only)
#include "mrt/core/worker_channel.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "mrt/core/host_api.h"

namespace mrt::worker {
namespace {

constexpr uint32_t kMagic = 0x4d525457;  // "WTRM"
// Below this many bulk bytes a memfd (create, size, map, seal, map again on
// the other side) costs more than copying through the socket.
constexpr uint64_t kInlineBulkLimit = 64 * 1024;
// No honest frame body comes near this: everything large is bulk.
constexpr uint64_t kMaxBody = uint64_t{256} << 20;
constexpr uint64_t kMaxSpans = 1 << 16;

struct Header {
  uint32_t magic;
  uint32_t op;
  uint64_t call_id;
  uint64_t body_size;
};
static_assert(sizeof(Header) == 24);

uint64_t align64(uint64_t v) { return (v + 63) & ~uint64_t{63}; }

Status errno_status(const char* what) {
  int e = errno;
  return Status(e == ENOMEM || e == EMFILE || e == ENFILE ? MRT_CODE_RESOURCE_EXHAUSTED : MRT_CODE_UNAVAILABLE,
                std::string(what) + ": " + std::strerror(e));
}

Status write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno_status("worker channel send");
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::ok();
}

// Reads exactly n bytes; the first recvmsg may carry a descriptor.
Status read_all(int fd, char* p, size_t n, UniqueFd* fd_out) {
  bool first = true;
  while (n > 0) {
    msghdr msg{};
    iovec iov{p, n};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    if (first && fd_out) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
    }
    ssize_t r = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno_status("worker channel receive");
    if (r == 0) return unavailable("worker channel closed");
    if (first && fd_out) {
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int fds[4] = {-1, -1, -1, -1};
        std::memcpy(fds, CMSG_DATA(c), std::min<size_t>(count, 4) * sizeof(int));
        for (size_t i = 0; i < std::min<size_t>(count, 4); ++i) {
          if (i == 0 && !*fd_out) *fd_out = UniqueFd(fds[i]);
          else ::close(fds[i]);  // more than one descriptor: not ours to keep
        }
      }
      if (msg.msg_flags & MSG_CTRUNC) return data_loss("worker channel: descriptors truncated");
    }
    first = false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return Status::ok();
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

Mapping::~Mapping() {
  if (data) ::munmap(data, size);
}

void Writer::bulk(const void* data, uint64_t size, bool discard) {
  u64(spans_.size());
  spans_.push_back(Span{data, size, discard});
}

namespace {
// Copies `size` bytes to `to`; with `discard`, the source's whole pages are
// given back (MADV_DONTNEED) a chunk at a time as they are copied, so the
// two copies never coexist in full.
void copy_span(char* to, const void* from, uint64_t size, bool discard) {
  constexpr uint64_t kChunk = uint64_t{8} << 20;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto* src = static_cast<const char*>(from);
  uintptr_t given_back = (reinterpret_cast<uintptr_t>(src) + page - 1) / page * page;  // whole pages only
  for (uint64_t done = 0; done < size;) {
    uint64_t n = std::min(kChunk, size - done);
    std::memcpy(to + done, src + done, n);
    done += n;
    uintptr_t copied = (reinterpret_cast<uintptr_t>(src) + done) / page * page;
    if (discard && copied > given_back) {
      (void)::madvise(reinterpret_cast<void*>(given_back), copied - given_back, MADV_DONTNEED);
      given_back = copied;
    }
  }
}
}  // namespace

Result<Frame> Writer::finish(Op op, uint64_t call_id) {
  Frame frame;
  frame.op = op;
  frame.call_id = call_id;
  uint64_t total = 0;
  for (const auto& s : spans_) total = align64(total) + s.size;
  bool in_memfd = total > kInlineBulkLimit;
  std::string& out = frame.body;
  out.reserve(1 + 8 + spans_.size() * 16 + 8 + body_.size() + (in_memfd ? 0 : total + 64));
  auto put = [&out](uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); };
  out.push_back(in_memfd ? 1 : 0);
  put(spans_.size());
  uint64_t offset = 0;
  for (const auto& s : spans_) {
    offset = align64(offset);
    put(offset);
    put(s.size);
    offset += s.size;
  }
  put(body_.size());
  out += body_;
  if (!in_memfd) {
    for (const auto& s : spans_) out.append(static_cast<const char*>(s.data), s.size);
    // Inline spans are packed back to back: rewrite their offsets.
    uint64_t pos = 0;
    for (size_t i = 0; i < spans_.size(); ++i) {
      std::memcpy(&out[1 + 8 + i * 16], &pos, 8);
      pos += spans_[i].size;
    }
    return frame;
  }
  UniqueFd fd(::memfd_create("mrt-bulk", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return errno_status("memfd for a frame's tensors");
  if (::ftruncate(fd.get(), static_cast<off_t>(total)) != 0) return errno_status("sizing a frame's memfd");
  void* m = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (m == MAP_FAILED) return errno_status("mapping a frame's memfd");
  offset = 0;
  for (const auto& s : spans_) {
    offset = align64(offset);
    if (s.size) copy_span(static_cast<char*>(m) + offset, s.data, s.size, s.discard);
    offset += s.size;
  }
  ::munmap(m, total);
  (void)::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  frame.fd = std::move(fd);
  return frame;
}

Result<Reader> Reader::open(Frame& frame) {
  Reader r;
  std::string_view b = frame.body;
  auto u64_at = [&b](size_t pos, uint64_t& v) {
    if (pos + 8 > b.size()) return false;
    std::memcpy(&v, b.data() + pos, 8);
    return true;
  };
  if (b.empty()) return data_loss("worker frame: empty body");
  bool in_memfd = b[0] == 1;
  uint64_t spans = 0;
  if (!u64_at(1, spans) || spans > kMaxSpans) return data_loss("worker frame: bad span count");
  size_t table = 9, main_at = table + spans * 16;
  uint64_t main_len = 0;
  if (!u64_at(main_at, main_len) || main_len > b.size() - main_at - 8) return data_loss("worker frame: bad body length");
  r.body_ = b.substr(main_at + 8, main_len);
  std::string_view storage;
  if (in_memfd) {
    if (!frame.fd) return data_loss("worker frame: bulk data without a memfd");
    struct stat st {};
    if (::fstat(frame.fd.get(), &st) != 0 || st.st_size <= 0) return data_loss("worker frame: unusable memfd");
    // Unsealed, the sender could shrink the file under our reads (SIGBUS
    // here) or change bytes after they were checked.
    constexpr int kSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
    int seals = ::fcntl(frame.fd.get(), F_GET_SEALS);
    if (seals < 0 || (seals & kSeals) != kSeals) return data_loss("worker frame: memfd not sealed against writes");
    auto map = std::make_shared<Mapping>();
    map->file = UniqueFd(::fcntl(frame.fd.get(), F_DUPFD_CLOEXEC, 0));
    if (!map->file) return errno_status("keeping a frame's memfd");
    void* m = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_SHARED, frame.fd.get(), 0);
    if (m == MAP_FAILED) return errno_status("mapping a frame's memfd");
    map->data = m;
    map->size = static_cast<size_t>(st.st_size);
    r.mapping_ = std::move(map);
    storage = std::string_view(static_cast<const char*>(m), r.mapping_->size);
  } else {
    storage = b.substr(main_at + 8 + main_len);
  }
  // Check every span against its storage once, here.
  for (uint64_t i = 0; i < spans; ++i) {
    uint64_t off = 0, size = 0;
    u64_at(table + i * 16, off);
    u64_at(table + i * 16 + 8, size);
    if (off > storage.size() || size > storage.size() - off) return data_loss("worker frame: span outside its data");
  }
  r.inline_area_ = storage;
  r.span_table_ = b.substr(table, spans * 16);
  return r;
}

bool Reader::take(void* out, size_t n) {
  if (!ok_ || n > body_.size() - pos_) {
    ok_ = false;
    return false;
  }
  std::memcpy(out, body_.data() + pos_, n);
  pos_ += n;
  return true;
}

std::string Reader::str() {
  uint64_t n = u64();
  if (!ok_ || n > body_.size() - pos_) {
    ok_ = false;
    return {};
  }
  std::string s(body_.substr(pos_, n));
  pos_ += n;
  return s;
}

Status Reader::status() {
  int32_t code = i32();
  std::string message = str();
  if (code == 0) return Status::ok();
  if (code < 0 || code > MRT_CODE_UNAUTHENTICATED) code = MRT_CODE_UNKNOWN;
  return Status(static_cast<MRT_StatusCode>(code), std::move(message));
}

std::string_view Reader::bulk() {
  uint64_t index = u64();
  if (!ok_ || index >= span_table_.size() / 16) {
    ok_ = false;
    return {};
  }
  uint64_t off = 0, size = 0;
  std::memcpy(&off, span_table_.data() + index * 16, 8);
  std::memcpy(&size, span_table_.data() + index * 16 + 8, 8);
  return inline_area_.substr(off, size);  // checked in open()
}

Status Channel::send(const Frame& frame) {
  Header h{kMagic, static_cast<uint32_t>(frame.op), frame.call_id, frame.body.size()};
  std::lock_guard lock(send_mutex_);
  if (!fd_) return unavailable("worker channel closed");
  msghdr msg{};
  iovec iov[2] = {{&h, sizeof h}, {const_cast<char*>(frame.body.data()), frame.body.size()}};
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (frame.fd) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    int fd = frame.fd.get();
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  ssize_t w;
  do {
    w = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
  } while (w < 0 && errno == EINTR);
  if (w < 0) return errno_status("worker channel send");
  size_t done = static_cast<size_t>(w);
  if (done < sizeof h) {
    MRT_RETURN_IF_ERROR(write_all(fd_.get(), reinterpret_cast<const char*>(&h) + done, sizeof h - done));
    done = sizeof h;
  }
  size_t body_done = done - sizeof h;
  return write_all(fd_.get(), frame.body.data() + body_done, frame.body.size() - body_done);
}

Result<Frame> Channel::recv() {
  Header h{};
  Frame frame;
  MRT_RETURN_IF_ERROR(read_all(fd_.get(), reinterpret_cast<char*>(&h), sizeof h, &frame.fd));
  if (h.magic != kMagic) return data_loss("worker channel: bad frame magic");
  if (h.body_size > kMaxBody) return data_loss("worker channel: frame body of " + std::to_string(h.body_size) + " bytes");
  frame.op = static_cast<Op>(h.op);
  frame.call_id = h.call_id;
  frame.body.resize(h.body_size);
  if (h.body_size) MRT_RETURN_IF_ERROR(read_all(fd_.get(), frame.body.data(), h.body_size, nullptr));
  return frame;
}

void Channel::shutdown() {
  std::lock_guard lock(send_mutex_);
  if (fd_) ::shutdown(fd_.get(), SHUT_RDWR);
}

}  // namespace mrt::worker
