// Tensors, .npy round trips, top-k, statuses and the host services table.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "mrt/core/host_api.h"
#include "mrt/core/npy.h"
#include "mrt/core/pipeline.h"
#include "mrt/core/worker_channel.h"
#include "test_support.h"

namespace mrt {
namespace {

TEST(Npy, RoundTripsEveryDtype) {
  for (MRT_DType dt : {MRT_DTYPE_FLOAT32, MRT_DTYPE_FLOAT16, MRT_DTYPE_INT64, MRT_DTYPE_INT32, MRT_DTYPE_UINT8,
                       MRT_DTYPE_BOOL, MRT_DTYPE_FLOAT64, MRT_DTYPE_INT8}) {
    auto t = Tensor::zeros("t", dt, {2, 3});
    ASSERT_TRUE(t);
    for (size_t i = 0; i < t->byte_size(); ++i) t->data()[i] = static_cast<std::byte>(i * 7 + 1);
    auto back = parse_npy(serialize_npy(*t), "t");
    ASSERT_TRUE(back) << back.status().to_string();
    EXPECT_EQ(back->dtype(), dt);
    EXPECT_EQ(back->dims(), (Dims{2, 3}));
    EXPECT_EQ(std::memcmp(back->data(), t->data(), t->byte_size()), 0);
  }
  auto scalar = Tensor::zeros("s", MRT_DTYPE_FLOAT32, {});
  EXPECT_EQ(parse_npy(serialize_npy(*scalar), "s")->dims(), Dims{});
  auto vec = Tensor::zeros("v", MRT_DTYPE_FLOAT32, {7});
  EXPECT_EQ(parse_npy(serialize_npy(*vec), "v")->dims(), Dims{7});
}

TEST(Npy, RejectsMalformedFiles) {
  auto t = Tensor::zeros("t", MRT_DTYPE_FLOAT32, {4});
  std::string good = serialize_npy(*t);
  EXPECT_NE(parse_npy("hello", "x").status().message().find("bad magic"), std::string::npos);
  EXPECT_NE(parse_npy(good.substr(0, good.size() - 1), "x").status().message().find("needs 16"), std::string::npos);
  std::string fortran = good;
  fortran.replace(fortran.find("False"), 5, "True ");
  EXPECT_NE(parse_npy(fortran, "x").status().message().find("Fortran"), std::string::npos);
  std::string big_endian = good;
  big_endian.replace(big_endian.find("<f4"), 3, ">f4");
  EXPECT_NE(parse_npy(big_endian, "x").status().message().find("unsupported .npy dtype '>f4'"), std::string::npos);
  std::string huge = good;
  huge.replace(huge.find("(4,)"), 4, "(99999999999,)");
  EXPECT_FALSE(parse_npy(huge, "x"));
}

TEST(Tensor, ValidatesViews) {
  auto t = Tensor::zeros("x", MRT_DTYPE_FLOAT32, {2, 2});
  MRT_Tensor v = t->view();
  EXPECT_TRUE(validate_tensor_view(v).is_ok());
  v.byte_size = 15;
  EXPECT_NE(validate_tensor_view(v).message().find("byte_size 15 does not match"), std::string::npos);
  v = t->view();
  v.dtype = 99;
  EXPECT_NE(validate_tensor_view(v).message().find("unknown dtype 99"), std::string::npos);
  v = t->view();
  v.rank = 9;
  EXPECT_FALSE(validate_tensor_view(v).is_ok());
  EXPECT_FALSE(Tensor::zeros("x", MRT_DTYPE_FLOAT32, {-1}));
  EXPECT_FALSE(Tensor::zeros("x", MRT_DTYPE_FLOAT32, {1 << 30, 1 << 30}));
}

// A tensor over bytes it does not own reads them in place, and copies them
// into memory of its own before the first write (the bytes are read-only).
TEST(Tensor, SharedBytesAreCopiedOnWrite) {
  auto owner = std::shared_ptr<float>(static_cast<float*>(std::aligned_alloc(64, 64 * sizeof(float))), std::free);
  for (int i = 0; i < 64; ++i) owner.get()[i] = static_cast<float>(i);
  Tensor::SharedBytes bytes{owner, reinterpret_cast<const std::byte*>(owner.get()), 7, 128};
  auto t = Tensor::shared("t", MRT_DTYPE_FLOAT32, {4, 16}, bytes, 64 * sizeof(float));
  ASSERT_TRUE(t) << t.status().to_string();
  const Tensor& read = *t;
  EXPECT_EQ(read.data_as<float>(), owner.get()) << "read in place";
  ASSERT_TRUE(read.sealed_file());
  EXPECT_EQ(read.sealed_file()->file, 7);
  EXPECT_EQ(read.sealed_file()->offset, 128u);
  float* w = t->data_as<float>();
  EXPECT_NE(w, owner.get()) << "written in a copy";
  EXPECT_FALSE(read.sealed_file()) << "the file no longer holds what the tensor does";
  w[3] = -1;
  EXPECT_EQ(owner.get()[3], 3.f);
  EXPECT_EQ(w[4], 4.f);
  // Sizes that do not match dims, and misaligned bytes, are refused.
  EXPECT_FALSE(Tensor::shared("t", MRT_DTYPE_FLOAT32, {4, 16}, bytes, 63 * sizeof(float)));
  bytes.data += 4;
  EXPECT_FALSE(Tensor::shared("t", MRT_DTYPE_FLOAT32, {1}, bytes, 4));
}

// Bulk bytes above the inline limit travel in a sealed memfd; a frame whose
// memfd the sender did not seal (it could shrink it under the reader: SIGBUS)
// is refused, not mapped.
TEST(WorkerChannel, BulkMemfdMustBeSealed) {
  std::vector<char> big(200000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 13);
  worker::Writer w;
  w.bulk(big.data(), big.size());
  auto frame = w.finish(worker::Op::kReply, 1);
  ASSERT_TRUE(frame) << frame.status().to_string();
  ASSERT_TRUE(frame->fd) << "200 KB goes in a memfd";
  {
    auto r = worker::Reader::open(*frame);
    ASSERT_TRUE(r) << r.status().to_string();
    std::string_view got = r->bulk();
    ASSERT_EQ(got.size(), big.size());
    EXPECT_EQ(std::memcmp(got.data(), big.data(), big.size()), 0);
    ASSERT_TRUE(r->mapping());
    EXPECT_GE(r->mapping()->file.get(), 0) << "the memfd is kept to be passed on";
  }
  worker::Frame unsealed;
  unsealed.body = frame->body;
  unsealed.fd = worker::UniqueFd(::memfd_create("unsealed", MFD_CLOEXEC));
  ASSERT_EQ(::ftruncate(unsealed.fd.get(), static_cast<off_t>(big.size())), 0);
  ASSERT_EQ(::pwrite(unsealed.fd.get(), big.data(), big.size(), 0), static_cast<ssize_t>(big.size()));
  auto r = worker::Reader::open(unsealed);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("not sealed"), std::string::npos) << r.status().message();
}

// A worker's results are copied into the reply's memfd and not read again:
// their pages go back to the kernel as the copy goes, so a large output is
// never held twice over in full.
TEST(WorkerChannel, DiscardedBulkIsGivenBackAsItIsCopied) {
  const size_t bytes = size_t{20} << 20;
  auto* src =
      static_cast<unsigned char*>(::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(src, MAP_FAILED);
  for (size_t i = 0; i < bytes; ++i) src[i] = static_cast<unsigned char>(i * 7 + 3);
  const long page = ::sysconf(_SC_PAGESIZE);
  auto resident_pages = [&] {
    std::vector<unsigned char> in(bytes / static_cast<size_t>(page));
    EXPECT_EQ(::mincore(src, bytes, in.data()), 0);
    return std::count_if(in.begin(), in.end(), [](unsigned char c) { return c & 1; });
  };
  ASSERT_EQ(resident_pages(), static_cast<long>(bytes / static_cast<size_t>(page)));
  worker::Writer w;
  w.bulk(src, bytes, /*discard=*/true);
  auto frame = w.finish(worker::Op::kReply, 1);
  ASSERT_TRUE(frame) << frame.status().to_string();
  EXPECT_EQ(resident_pages(), 0) << "every page of the source was given back";
  auto r = worker::Reader::open(*frame);
  ASSERT_TRUE(r) << r.status().to_string();
  std::string_view got = r->bulk();
  ASSERT_EQ(got.size(), bytes);
  size_t wrong = 0;
  for (size_t i = 0; i < bytes; ++i)
    wrong += static_cast<unsigned char>(got[i]) != static_cast<unsigned char>(i * 7 + 3);
  EXPECT_EQ(wrong, 0u);
  ::munmap(src, bytes);
}

TEST(TopK, SortsSoftmaxesAndLabels) {
  auto t = Tensor::zeros("logits", MRT_DTYPE_FLOAT32, {2, 3});
  float v[] = {1, 3, 2, 0, 0, 5};
  std::memcpy(t->data(), v, sizeof v);
  auto c = top_k_classes(*t, 2, true, {"a", "b", "c"});
  ASSERT_TRUE(c);
  ASSERT_EQ(c->size(), 4u);
  EXPECT_EQ((*c)[0].class_index, 1);
  EXPECT_EQ((*c)[0].label, "b");
  EXPECT_EQ((*c)[1].class_index, 2);
  float expected = std::exp(3.f) / (std::exp(1.f) + std::exp(2.f) + std::exp(3.f));
  EXPECT_NEAR((*c)[0].score, expected, 1e-6);
  EXPECT_EQ((*c)[2].batch_index, 1);
  EXPECT_EQ((*c)[2].class_index, 2);
  EXPECT_EQ((*c)[3].class_index, 0);  // tie broken by the lower index
  auto ints = Tensor::zeros("i", MRT_DTYPE_INT64, {3});
  EXPECT_EQ(top_k_classes(*ints, 1, false, {}).status().code(), MRT_CODE_INVALID_ARGUMENT);
}

TEST(HostApi, FilesAreConfinedToTheSource) {
  test::TempDir dir;
  dir.write("model/weights.bin", "0123456789");
  dir.write("secret", "secret");
  MRT_ModelSource source{dir.path() / "model", "weights.bin"};
  const MRT_HostApi* h = host_api();
  MRT_Blob* blob = nullptr;
  ASSERT_EQ(h->file_read(&source, "weights.bin", &blob), nullptr);
  EXPECT_EQ(h->blob_size(blob), 10u);
  EXPECT_EQ(std::memcmp(h->blob_data(blob), "0123456789", 10), 0);
  h->blob_release(blob);
  ASSERT_EQ(h->file_map(&source, "weights.bin", &blob), nullptr);
  EXPECT_EQ(std::memcmp(h->blob_data(blob), "0123456789", 10), 0);
  h->blob_release(blob);
  uint64_t size = 0;
  ASSERT_EQ(h->file_size(&source, "weights.bin", &size), nullptr);
  EXPECT_EQ(size, 10u);

  blob = nullptr;
  MRT_Status* s = h->file_read(&source, "../secret", &blob);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(h->status_code(s), MRT_CODE_PERMISSION_DENIED);
  EXPECT_EQ(blob, nullptr);  // out-parameter untouched on error
  h->status_free(s);
  s = h->file_map(&source, "missing.bin", &blob);
  EXPECT_EQ(h->status_code(s), MRT_CODE_NOT_FOUND);
  h->status_free(s);
  s = h->file_read(&source, ".", &blob);  // a directory
  EXPECT_EQ(h->status_code(s), MRT_CODE_INVALID_ARGUMENT);
  h->status_free(s);
}

TEST(HostApi, StatusesAndResults) {
  const MRT_HostApi* h = host_api();
  EXPECT_EQ(h->struct_size, MRT_HOST_API_STRUCT_SIZE);
  MRT_Status* s = h->status_create(MRT_CODE_DATA_LOSS, "bad bytes");
  Status taken = take_plugin_status(s);
  EXPECT_EQ(taken.code(), MRT_CODE_DATA_LOSS);
  EXPECT_EQ(taken.message(), "bad bytes");
  EXPECT_TRUE(take_plugin_status(nullptr).is_ok());

  MRT_Results results;
  int64_t dims[] = {2, 2};
  void* data = nullptr;
  ASSERT_EQ(h->results_add_tensor(&results, "y", MRT_DTYPE_FLOAT32, 2, dims, &data), nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(data) % 64, 0u);
  MRT_Status* dup = h->results_add_tensor(&results, "y", MRT_DTYPE_FLOAT32, 2, dims, &data);
  EXPECT_EQ(h->status_code(dup), MRT_CODE_ALREADY_EXISTS);
  h->status_free(dup);
  int64_t neg[] = {-1};
  MRT_Status* bad = h->results_add_tensor(&results, "z", MRT_DTYPE_FLOAT32, 1, neg, &data);
  EXPECT_EQ(h->status_code(bad), MRT_CODE_INVALID_ARGUMENT);
  h->status_free(bad);

  void* p = h->alloc(100, 256);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 256, 0u);
  h->free(p);
  EXPECT_EQ(h->alloc(8, 3), nullptr);  // not a power of two
}

TEST(HostApi, CallContextReportsCancellationAndStreams) {
  const MRT_HostApi* h = host_api();
  CallControl control;
  std::string streamed;
  MRT_CallContext call{&control, [&](std::string_view chunk) {
                         streamed += chunk;
                         return Status::ok();
                       }};
  EXPECT_EQ(h->call_is_cancelled(&call), 0);
  EXPECT_EQ(h->call_emit_text(&call, "hel", 3), nullptr);
  EXPECT_EQ(h->call_emit_text(&call, "lo", 2), nullptr);
  EXPECT_EQ(streamed, "hello");
  control.set_timeout(std::chrono::microseconds(0));
  EXPECT_EQ(h->call_is_cancelled(&call), 1);
  MRT_Status* s = h->call_cancel_status(&call);
  EXPECT_EQ(h->status_code(s), MRT_CODE_DEADLINE_EXCEEDED);
  h->status_free(s);
}

}  // namespace
}  // namespace mrt
