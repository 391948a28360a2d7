// Framing over a socketpair: whole frames, split reads, descriptors, limits.
#include "frame_io.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <utility>
#include <vector>

#include "../unit/test_support.h"
#include "proto_convert.h"

namespace mrt::vnode {
namespace {

struct Pair {
  Pair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0); }
  ~Pair() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  int fds[2];
};

TEST(FrameIo, RoundTripsFramesAndDescriptors) {
  Pair p;
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  ASSERT_TRUE(write_frame(p.fds[0], "hello", {pipe_fds[0]}).is_ok());
  ASSERT_TRUE(write_frame(p.fds[0], std::string(200000, 'z')).is_ok());
  FrameReader reader;
  auto a = read_frame(p.fds[1], reader);
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, "hello");
  auto fds = reader.take_fds(1);
  ASSERT_EQ(fds.size(), 1u);
  ASSERT_EQ(::write(pipe_fds[1], "x", 1), 1);
  char c = 0;
  EXPECT_EQ(::read(fds[0], &c, 1), 1);  // the received descriptor is the pipe
  EXPECT_EQ(c, 'x');
  auto b = read_frame(p.fds[1], reader);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->size(), 200000u);
  for (int fd : {fds[0], pipe_fds[0], pipe_fds[1]}) ::close(fd);
}

TEST(FrameIo, RefusesOversizedAndEmptyFrames) {
  Pair p;
  unsigned char huge[4] = {0xff, 0xff, 0xff, 0x7f};
  ASSERT_EQ(::write(p.fds[0], huge, 4), 4);
  FrameReader reader(1024);
  auto r = read_frame(p.fds[1], reader);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("exceeds the maximum of 1024"), std::string::npos) << r.status().message();
  Pair q;
  unsigned char zero[4] = {0, 0, 0, 0};
  ASSERT_EQ(::write(q.fds[0], zero, 4), 4);
  FrameReader reader2;
  EXPECT_NE(read_frame(q.fds[1], reader2).status().message().find("length 0"), std::string::npos);
}

TEST(FrameIo, TruncatedFrameThenCloseIsUnavailable) {
  Pair p;
  unsigned char len[4] = {100, 0, 0, 0};
  ASSERT_EQ(::write(p.fds[0], len, 4), 4);
  ASSERT_EQ(::write(p.fds[0], "only ten b", 10), 10);
  ::shutdown(p.fds[0], SHUT_WR);
  FrameReader reader;
  EXPECT_EQ(read_frame(p.fds[1], reader).status().code(), MRT_CODE_UNAVAILABLE);
}

// An answer too large for a frame travels in one sealed memfd, however many
// outputs it has (a frame carries at most 16 descriptors), and reads back
// bit for bit.
TEST(FrameIo, LargeAnswersShareOneMemfd) {
  InferResult result;
  for (int i = 0; i < 20; ++i) {
    auto t = Tensor::zeros("out" + std::to_string(i), MRT_DTYPE_FLOAT32, {1, 3 + i * 1000});
    for (uint64_t k = 0; k < t->element_count(); ++k) t->data_as<float>()[k] = static_cast<float>(i * 100000 + k);
    result.tensors.push_back(std::move(*t));
  }
  std::vector<int> fds;
  auto answer = infer_response_to_proto("m", result, std::nullopt, 1024, fds);
  ASSERT_TRUE(answer) << answer.status().to_string();
  ASSERT_EQ(fds.size(), 1u);
  ASSERT_EQ(memfd_tensor_count(*answer), 20u);
  ASSERT_TRUE(resolve_memfd_tensors(*answer, fds).is_ok());
  for (int i = 0; i < 20; ++i) {
    const std::string& bytes = answer->tensors().tensors(i).inline_data();
    ASSERT_EQ(bytes.size(), result.tensors[static_cast<size_t>(i)].byte_size()) << i;
    EXPECT_EQ(std::memcmp(bytes.data(), result.tensors[static_cast<size_t>(i)].data(), bytes.size()), 0) << i;
  }
  EXPECT_LT(::fcntl(fds[0], F_ADD_SEALS, F_SEAL_SHRINK), 0) << "the memfd is sealed";
  ::close(fds[0]);
}

// A client's inputs: inline up to the limit, above it in one sealed memfd
// that the service's decoding reads back bit for bit.
TEST(FrameIo, LargeRequestsGoInOneSealedMemfd) {
  std::vector<Tensor> tensors;
  for (int i = 0; i < 3; ++i) {
    auto t = Tensor::zeros("in" + std::to_string(i), MRT_DTYPE_FLOAT32, {1, 1000 + i});
    for (uint64_t k = 0; k < t->element_count(); ++k) t->data_as<float>()[k] = static_cast<float>(i * 7919 + k);
    tensors.push_back(std::move(*t));
  }
  for (uint64_t limit : {uint64_t{1} << 20, uint64_t{1024}}) {
    ipc::InferRequest req;
    req.set_model_id("m");
    std::vector<int> fds;
    ASSERT_TRUE(tensors_to_request(tensors, req, limit, fds).is_ok());
    ASSERT_EQ(fds.size(), limit == 1024 ? 1u : 0u);
    ASSERT_EQ(fds_wanted(req), fds.size());
    if (!fds.empty()) {
      EXPECT_LT(::fcntl(fds[0], F_ADD_SEALS, F_SEAL_SHRINK), 0) << "the memfd is sealed";
    }
    auto decoded = infer_request_from_proto(req, fds, uint64_t{1} << 30);
    ASSERT_TRUE(decoded) << decoded.status().to_string();
    ASSERT_EQ(decoded->tensors.size(), tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
      ASSERT_EQ(decoded->tensors[i].byte_size(), tensors[i].byte_size());
      EXPECT_EQ(std::memcmp(std::as_const(decoded->tensors[i]).data(), std::as_const(tensors[i]).data(),
                            tensors[i].byte_size()),
                0)
          << i;
    }
    for (int fd : fds) ::close(fd);
  }
}

// An output that is still in the sealed memfd a plugin worker sent it in
// (Tensor::sealed_file) is answered with that memfd and its offset, not a
// copy; other large outputs of the same answer go into the answer's memfd.
TEST(FrameIo, AnswersPassAWorkersSealedMemfdOn) {
  std::vector<float> values(100000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) + 0.25f;
  const size_t bytes = values.size() * sizeof(float), offset = 4096;
  int worker_fd = ::memfd_create("mrt-bulk", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_GE(worker_fd, 0);
  ASSERT_EQ(::ftruncate(worker_fd, static_cast<off_t>(offset + bytes)), 0);
  ASSERT_EQ(::pwrite(worker_fd, values.data(), bytes, offset), static_cast<ssize_t>(bytes));
  ASSERT_EQ(::fcntl(worker_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE), 0);
  void* m = ::mmap(nullptr, offset + bytes, PROT_READ, MAP_SHARED, worker_fd, 0);
  ASSERT_NE(m, MAP_FAILED);
  std::shared_ptr<void> mapping(m, [size = offset + bytes](void* p) { ::munmap(p, size); });
  Tensor::SharedBytes shared{mapping, static_cast<const std::byte*>(m) + offset, worker_fd, offset};
  InferResult result;
  auto passed = Tensor::shared("passed", MRT_DTYPE_FLOAT32, {1, 100000}, shared, bytes);
  ASSERT_TRUE(passed) << passed.status().to_string();
  result.tensors.push_back(std::move(*passed));
  auto own = Tensor::zeros("own", MRT_DTYPE_FLOAT32, {2, 1000});
  for (uint64_t k = 0; k < own->element_count(); ++k) own->data_as<float>()[k] = static_cast<float>(k) * 3;
  result.tensors.push_back(std::move(*own));
  std::vector<int> fds;
  auto answer = infer_response_to_proto("m", result, std::nullopt, 1024, fds);
  ASSERT_TRUE(answer) << answer.status().to_string();
  ASSERT_EQ(fds.size(), 2u) << "the worker's memfd, and one for the other output";
  ASSERT_EQ(fds_wanted(*answer), 2u);
  const auto& ref = answer->tensors().tensors(0).memfd();
  EXPECT_EQ(ref.offset(), offset);
  struct stat a {
  }, b{};
  ASSERT_EQ(::fstat(fds[ref.fd_index()], &a), 0);
  ASSERT_EQ(::fstat(worker_fd, &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino) << "the same file, passed on";
  ASSERT_TRUE(resolve_memfd_tensors(*answer, fds).is_ok());
  for (size_t i = 0; i < 2; ++i) {
    const std::string& got = answer->tensors().tensors(static_cast<int>(i)).inline_data();
    ASSERT_EQ(got.size(), result.tensors[i].byte_size()) << i;
    EXPECT_EQ(std::memcmp(got.data(), std::as_const(result.tensors[i]).data(), got.size()), 0) << i;
  }
  for (int fd : fds) ::close(fd);
  ::close(worker_fd);
}

}  // namespace
}  // namespace mrt::vnode
