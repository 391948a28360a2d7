// libFuzzer target: the IPC stream as the service reads it
// (vnode/service/frame_io.h, proto_convert.h). The input is the byte stream
// a client sends on its socket: it goes through a socketpair into a
// FrameReader (4-byte length prefix, a 1 MiB frame limit), every whole
// frame is parsed as a ClientFrame, and an InferRequest is converted as
// Server::on_infer does (infer_request_from_proto, 1 MiB request limit),
// with one 4 KiB memfd standing for the descriptors a frame carries.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "frame_io.h"
#include "model_runtime.pb.h"
#include "proto_convert.h"

namespace {

int shared_memfd() {
  static int fd = [] {
    int f = ::memfd_create("fuzz-ipc-frame", MFD_CLOEXEC);
    if (f < 0 || ::ftruncate(f, 4096) != 0) std::abort();
    return f;
  }();
  return fd;
}

void handle(const std::string& bytes) {
  mrt::ipc::ClientFrame frame;
  if (!frame.ParseFromString(bytes) || !frame.has_infer()) return;
  std::vector<int> fds;
  if (mrt::vnode::fds_wanted(frame.infer()) > 0) fds.push_back(shared_memfd());
  (void)mrt::vnode::infer_request_from_proto(frame.infer(), fds, 1u << 20);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
  int flags = ::fcntl(sv[0], F_GETFL);
  ::fcntl(sv[0], F_SETFL, flags | O_NONBLOCK);  // the writer never blocks; the reader does
  mrt::vnode::FrameReader reader(1u << 20);
  size_t written = 0;
  bool shut = false, done = false;
  while (!done) {
    // Write what the socket takes, then read: after a write (or a full
    // buffer, or the shutdown) there is always something for recvmsg().
    while (written < size) {
      ssize_t w = ::write(sv[0], data + written, size - written);
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (w <= 0) std::abort();
      written += static_cast<size_t>(w);
    }
    if (written == size && !shut) {
      ::shutdown(sv[0], SHUT_WR);
      shut = true;
    }
    auto got = reader.read_some(sv[1]);
    if (!got || (*got == 0 && shut)) done = true;
    for (;;) {
      auto frame = reader.next();
      if (!frame) {  // a length of 0 or over the limit: the service drops the connection
        done = true;
        break;
      }
      if (!*frame) break;
      handle(**frame);
    }
  }
  ::close(sv[0]);
  ::close(sv[1]);
  return 0;
}
