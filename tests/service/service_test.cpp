// The real daemon (model-runtime.vnode) on a temporary socket, driven with
// the client library: concurrency, deadlines, queues, disconnects, hostile
// input, capabilities, identity and draining.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "daemon_fixture.h"
#include "frame_io.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace mrt {
namespace {

using client::Client;
using test::Daemon;
using test::first_output;
using test::identity_request;
using test::kAllCaps;
using test::read_all;
using test::text_request;

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto model = [&](const std::string& id, const std::string& file, const std::string& yml) {
      test::write_fixture_model(dir, id, file, yml);
    };
    model("identity", "bytes=1000\n", "");
    model("identity2", "bytes=1000\n", "");
    model("slow", "exec_ms=300\n", "");
    model("talker", "words=200\nword_ms=10\n", "task: text-generation\n");
    model("short-talker", "words=5\n", "task: text-generation\n");
    model("gpu-only", "bytes=10\n", "device: gpu\n");
    dir.write("outside/evil/model.fixture", "bytes=1\n");
    // A real text model, served by the raw plugin the daemon loads from the build.
    fs::copy(fs::path(MRT_SOURCE_ROOT) / "tests/fixtures/models/tiny-llama-hf", dir.path() / "models/tiny-llama",
             fs::copy_options::recursive);
  }
  test::TempDir dir;
};

TEST_F(ServiceTest, ThirtyTwoClientsTwoHundredRequestsEachNothingLostOrMixedUp) {
  Daemon d(dir, {});
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < 32; ++c)
    threads.emplace_back([&, c] {
      auto client = Client::connect(d.socket());
      if (!client) return (void)++bad;
      for (int i = 0; i < 200; ++i) {
        float base = static_cast<float>(c * 1000 + i);
        auto r = (*client)->infer(identity_request(base));
        if (r && first_output(*r) == base) ++ok;
        else ++bad;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 6400);
  EXPECT_EQ(bad, 0);
  auto metrics = d.connect()->metrics();
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->find("inference_success_total 6400"), std::string::npos) << *metrics;
  EXPECT_EQ(d.stop(), 0);
}

TEST_F(ServiceTest, AClientThatStopsReadingStallsNobodyElse) {
  // Both clients are this test's AID: lift the per-AID request limit so this
  // checks the per-model queues (attack_test checks the per-AID limits with
  // clients of two users).
  Daemon::Options o;
  o.manifest_extra = "limits:\n  per_aid:\n    requests: 100000\n";
  Daemon d(dir, o);
  auto hog = d.connect();
  auto other = d.connect();
  ASSERT_TRUE(other->infer(identity_request(0, "identity2")));
  std::thread flood([&] {  // ~1 MB of answers pile up unread
    for (uint64_t id = 1; id <= 20000; ++id) {
      ipc::ClientFrame f;
      f.set_request_id(id);
      *f.mutable_infer() = identity_request(static_cast<float>(id));
      if (!hog->send(f).is_ok()) break;
    }
  });
  // Another model: the hog may fill identity's bounded queue (its requests
  // then get RESOURCE_EXHAUSTED), but queues are per model.
  double worst_ms = 0;
  for (int i = 0; i < 200; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = other->infer(identity_request(static_cast<float>(i), "identity2"));
    EXPECT_TRUE(r) << r.status().to_string();
    if (!r) break;
    EXPECT_EQ(first_output(*r), static_cast<float>(i));
    worst_ms = std::max(worst_ms, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  flood.join();
  EXPECT_LT(worst_ms, 1000.0);
  // The hog still gets an answer to every request once it reads: a result,
  // or RESOURCE_EXHAUSTED where it overran the model's bounded queue.
  int answered = 0, exhausted = 0;
  for (; answered < 20000; ++answered) {
    auto f = hog->receive();
    if (!f) break;
    if (f->has_error()) {
      EXPECT_EQ(f->error().code(), MRT_CODE_RESOURCE_EXHAUSTED) << f->DebugString();
      ++exhausted;
    }
  }
  EXPECT_EQ(answered, 20000);
  EXPECT_LT(exhausted, 20000);
}

TEST_F(ServiceTest, DeadlineExpiresInsideThePlugin) {
  Daemon d(dir, {});
  auto c = d.connect();
  ASSERT_TRUE(c->load("slow"));
  auto req = identity_request(1, "slow");
  req.mutable_options()->set_timeout_ms(50);
  auto t0 = std::chrono::steady_clock::now();
  auto r = c->infer(req);
  EXPECT_EQ(r.status().code(), MRT_CODE_DEADLINE_EXCEEDED) << r.status().to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 250ms);  // not the full 300 ms
  EXPECT_TRUE(c->infer(identity_request(2)));  // the service goes on
}

TEST_F(ServiceTest, FullQueueAnswersResourceExhaustedAtOnce) {
  Daemon::Options o;
  o.queue_capacity = 2;
  Daemon d(dir, o);
  auto c = d.connect();
  ASSERT_TRUE(c->load("slow"));
  for (uint64_t id = 1; id <= 12; ++id) {  // pipelined on one connection
    ipc::ClientFrame f;
    f.set_request_id(id);
    *f.mutable_infer() = identity_request(static_cast<float>(id), "slow");
    ASSERT_TRUE(c->send(f).is_ok());
  }
  int ok = 0, exhausted = 0;
  auto t0 = std::chrono::steady_clock::now();
  auto first_exhausted_at = t0;
  for (int i = 0; i < 12; ++i) {
    auto f = c->receive();
    ASSERT_TRUE(f) << f.status().to_string();
    if (f->has_error() && f->error().code() == MRT_CODE_RESOURCE_EXHAUSTED) {
      if (exhausted++ == 0) first_exhausted_at = std::chrono::steady_clock::now();
      EXPECT_NE(f->error().message().find("is full"), std::string::npos);
    } else if (f->has_infer()) {
      ++ok;
    }
  }
  // One worker and room for 2 waiting: 2 or 3 are accepted (3 when the
  // worker took the first before the others arrived), the rest refused.
  EXPECT_EQ(ok + exhausted, 12);
  EXPECT_GE(ok, 2);
  EXPECT_LE(ok, 3);
  EXPECT_LT(first_exhausted_at - t0, 200ms);  // refused at once, not after the queue moved
}

TEST_F(ServiceTest, StreamingSendsChunksThenFinalAndIsDeterministic) {
  Daemon d(dir, {});
  auto c = d.connect();
  std::string streamed;
  int chunks = 0;
  auto r = c->infer(text_request("short-talker", "hello", 42, true), [&](const std::string& s) {
    streamed += s;
    ++chunks;
  });
  ASSERT_TRUE(r) << r.status().to_string();
  EXPECT_EQ(chunks, 5);
  EXPECT_TRUE(r->text().final());
  EXPECT_EQ(r->text().text(), streamed);
  EXPECT_EQ(r->text().finish_reason(), "length");
  auto again = c->infer(text_request("short-talker", "hello", 42, false));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->text().text(), streamed);
  auto other_seed = c->infer(text_request("short-talker", "hello", 43, false));
  EXPECT_NE(other_seed->text().text(), streamed);
}

TEST_F(ServiceTest, ClientDisconnectingMidStreamCancelsItsRequest) {
  Daemon d(dir, {});
  {
    auto c = d.connect();
    ipc::ClientFrame f;
    f.set_request_id(1);
    *f.mutable_infer() = text_request("talker", "a long story", 1, true);
    ASSERT_TRUE(c->send(f).is_ok());
    auto chunk = c->receive();  // the stream has started (200 words × 10 ms)
    ASSERT_TRUE(chunk) << chunk.status().to_string();
    ASSERT_TRUE(chunk->has_infer());
  }  // disconnect
  auto other = d.connect();
  bool cancelled = false;
  for (int i = 0; i < 30 && !cancelled; ++i) {  // well before the 2 s the stream would take
    std::this_thread::sleep_for(50ms);
    auto m = other->metrics();
    cancelled = m && m->find("inference_failures_total{reason=\"CANCELLED\"} 1") != std::string::npos;
  }
  EXPECT_TRUE(cancelled) << d.log();
  EXPECT_TRUE(other->infer(identity_request(5)));
}

TEST_F(ServiceTest, MalformedFramesHurtOnlyTheirSender) {
  Daemon d(dir, {});
  auto bystander = d.connect();
  ASSERT_TRUE(bystander->infer(identity_request(1)));
  {  // random bytes
    auto c = d.connect();
    std::mt19937 rng(7);
    std::string junk(1000, '\0');
    for (char& ch : junk) ch = static_cast<char>(rng());
    (void)c->send_raw(junk);
    for (int i = 0; i < 5; ++i) {
      auto f = c->receive();
      if (!f) break;  // disconnected: acceptable
      EXPECT_TRUE(f->has_error());
    }
  }
  {  // a huge length prefix
    auto c = d.connect();
    ASSERT_TRUE(c->send_raw(std::string("\xff\xff\xff\x7f", 4)).is_ok());
    auto f = c->receive();
    ASSERT_TRUE(f) << f.status().to_string();
    ASSERT_TRUE(f->has_error());
    EXPECT_NE(f->error().message().find("exceeds the maximum"), std::string::npos);
    EXPECT_FALSE(c->receive());  // then the service hangs up
  }
  {  // a well-framed body that is not a ClientFrame: an error, the connection lives
    auto c = d.connect();
    ASSERT_TRUE(c->send_raw(std::string("\x05\x00\x00\x00\xff\xff\xff\xff\xff", 9)).is_ok());
    auto f = c->receive();
    ASSERT_TRUE(f && f->has_error());
    EXPECT_NE(f->error().message().find("malformed frame"), std::string::npos);
    EXPECT_TRUE(c->health());
  }
  {  // truncated: a length, part of the body, then gone
    auto c = d.connect();
    ASSERT_TRUE(c->send_raw(std::string("\x64\x00\x00\x00partial", 11)).is_ok());
  }
  {  // tensor bytes that do not match the dims
    auto c = d.connect();
    auto req = identity_request(1);
    req.mutable_tensors()->mutable_tensors(0)->mutable_inline_data()->resize(15);
    auto r = c->infer(req);
    EXPECT_EQ(r.status().code(), MRT_CODE_INVALID_ARGUMENT);
    EXPECT_NE(r.status().message().find("carries 15 bytes"), std::string::npos) << r.status().message();
  }
  auto r = bystander->infer(identity_request(2));
  ASSERT_TRUE(r) << r.status().to_string();
  EXPECT_EQ(first_output(*r), 2.f);
  EXPECT_EQ(d.stop(), 0);
}

TEST_F(ServiceTest, LargeTensorsTravelInAMemfd) {
  Daemon d(dir, {});
  auto c = d.connect();
  float values[4] = {7, 8, 9, 10};
  auto fd = client::make_memfd("input", values, sizeof values);
  ASSERT_TRUE(fd);
  ipc::InferRequest req;
  req.set_model_id("identity");
  auto* t = req.mutable_tensors()->add_tensors();
  t->set_name("input");
  t->set_dtype(MRT_DTYPE_FLOAT32);
  t->add_dims(1);
  t->add_dims(4);
  t->mutable_memfd()->set_fd_index(0);
  t->mutable_memfd()->set_length(sizeof values);
  auto r = c->infer(req, {}, {*fd});
  ASSERT_TRUE(r) << r.status().to_string();
  EXPECT_EQ(first_output(*r), 7.f);
  t->mutable_memfd()->set_offset(8);  // runs past the end of the memfd
  auto bad = c->infer(req, {}, {*fd});
  EXPECT_EQ(bad.status().code(), MRT_CODE_INVALID_ARGUMENT);
  EXPECT_NE(bad.status().message().find("exceeds its size"), std::string::npos) << bad.status().message();
  t->mutable_memfd()->set_fd_index(3);
  EXPECT_NE(c->infer(req).status().message().find("refers to descriptor 3"), std::string::npos);
  ::close(*fd);
}

// A large output comes from the plugin worker in a sealed memfd, and the
// client gets that same memfd: the service neither copies the bytes into
// memory of its own nor into a memfd of the answer (an answer memfd is named
// "mrt-answer-<model>", a worker's "mrt-bulk").
TEST_F(ServiceTest, LargeOutputsReachTheClientInTheWorkersMemfd) {
  Daemon d(dir, {});
  auto c = d.connect();
  const int64_t rows = 100000;  // 1.6 MB: over the 1 MiB inline answer
  std::vector<float> values(static_cast<size_t>(rows) * 4);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) * 0.5f;
  auto fd = client::make_memfd("input", values.data(), values.size() * sizeof(float));
  ASSERT_TRUE(fd);
  ipc::ClientFrame f;
  f.set_request_id(c->next_request_id());
  auto* t = f.mutable_infer()->mutable_tensors()->add_tensors();
  f.mutable_infer()->set_model_id("identity");
  t->set_name("input");
  t->set_dtype(MRT_DTYPE_FLOAT32);
  t->add_dims(rows);
  t->add_dims(4);
  t->mutable_memfd()->set_fd_index(0);
  t->mutable_memfd()->set_length(values.size() * sizeof(float));
  ASSERT_TRUE(c->send(f, {*fd}).is_ok());
  ::close(*fd);
  vnode::FrameReader reader;
  auto bytes = vnode::read_frame(c->socket(), reader);
  ASSERT_TRUE(bytes) << bytes.status().to_string();
  ipc::ServerFrame answer;
  ASSERT_TRUE(answer.ParseFromString(*bytes));
  ASSERT_TRUE(answer.has_infer()) << answer.DebugString().substr(0, 500);
  ASSERT_EQ(vnode::fds_wanted(answer.infer()), 1u);
  std::vector<int> fds = reader.take_fds(1);
  ASSERT_EQ(fds.size(), 1u);
  char link[256] = {};
  ASSERT_GT(::readlink(("/proc/self/fd/" + std::to_string(fds[0])).c_str(), link, sizeof link - 1), 0);
  EXPECT_NE(std::string(link).find("mrt-bulk"), std::string::npos) << link;
  EXPECT_LT(::fcntl(fds[0], F_ADD_SEALS, F_SEAL_SHRINK), 0) << "the memfd is sealed";
  ASSERT_TRUE(vnode::resolve_memfd_tensors(*answer.mutable_infer(), fds).is_ok());
  ::close(fds[0]);
  const std::string& out = answer.infer().tensors().tensors(0).inline_data();
  ASSERT_EQ(out.size(), values.size() * sizeof(float));
  EXPECT_EQ(std::memcmp(out.data(), values.data(), out.size()), 0);
}

TEST_F(ServiceTest, TraversalAndHostileModelIdsAreRefused) {
  Daemon d(dir, {});
  auto c = d.connect();
  for (const char* id : {"../identity", "..", ".", "a/b", "/etc/passwd", ""}) {
    auto r = c->infer(identity_request(1, id));
    EXPECT_EQ(r.status().code(), MRT_CODE_INVALID_ARGUMENT) << id;
  }
  // A user model that is a symlink leaving the user's storage.
  std::string aid = std::to_string(getuid());
  fs::path home = dir.path() / "state/aetherfs/user" / aid / "models";
  ASSERT_TRUE(c->health());  // the daemon created the home on first use
  fs::create_directories(home);
  fs::create_directory_symlink(dir.path() / "outside/evil", home / "evil");
  auto r = c->infer(identity_request(1, "evil"));
  EXPECT_EQ(r.status().code(), MRT_CODE_PERMISSION_DENIED) << r.status().to_string();
  EXPECT_EQ(c->load("nonexistent").status().code(), MRT_CODE_NOT_FOUND);
}

TEST_F(ServiceTest, OneAidCannotReachAnothersModels) {
  if (getuid() != 0) GTEST_SKIP() << "needs root to connect as a second uid";
  Daemon d(dir, {});
  fs::path home = dir.path() / "state/aetherfs/user/0/models/private";
  fs::create_directories(home);
  std::ofstream(home / "model.fixture") << "bytes=5\n";
  std::ofstream(home / "model.yml") << "format: fixture\nfiles: [model.fixture]\n";
  auto owner = d.connect();
  ASSERT_TRUE(owner->infer(identity_request(1, "private")));
  pid_t pid = fork();
  if (pid == 0) {
    if (setgid(4242) != 0 || setuid(4242) != 0) _exit(10);
    auto c = Client::connect(d.socket());
    if (!c) _exit(11);
    auto h = (*c)->health();
    if (!h || h->aid() != "4242") _exit(12);
    auto r = (*c)->infer(identity_request(1, "private"));
    if (r || r.status().code() != MRT_CODE_NOT_FOUND) _exit(13);
    auto list = (*c)->list_models();
    if (!list) _exit(14);
    for (const auto& m : list->models())
      if (m.model_id() == "private") _exit(15);
    if (!(*c)->infer(identity_request(1, "identity"))) _exit(16);  // system models are shared
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "child check failed (see exit codes in the test)";
}

TEST_F(ServiceTest, GpuPluginsNeedTheGpuDriverCapability) {
  Daemon::Options without;
  without.caps = {"CAP_IPC_ACCEPT", "'CAP_IPC_CONNECT': 'svc://vfs'", "CAP_LOG_WRITE", "CAP_TIME_READ"};
  without.env = {"FIXTURE_GPU_COUNT=1"};
  {
    Daemon d(dir, without);
    auto r = d.connect()->load("gpu-only");
    ASSERT_FALSE(r);
    EXPECT_NE(r.status().message().find("gpu not allowed"), std::string::npos) << r.status().message();
  }
  Daemon::Options with;
  with.env = {"FIXTURE_GPU_COUNT=1"};
  Daemon d(dir, with);
  auto r = d.connect()->load("gpu-only");
  ASSERT_TRUE(r) << r.status().to_string();
  EXPECT_EQ(r->device(), "gpu");
  EXPECT_EQ(r->plugin(), "fixture-gpu");
}

TEST_F(ServiceTest, WithoutLogWriteNothingIsLogged) {
  Daemon::Options o;
  o.caps = {"CAP_IPC_ACCEPT", "'CAP_IPC_CONNECT': 'svc://vfs'"};
  Daemon d(dir, o);
  auto c = d.connect();
  ASSERT_TRUE(c->infer(identity_request(1)));
  EXPECT_FALSE(c->infer(identity_request(1, "nope")));
  // Without CAP_TIME_READ: no deadlines (the slow model finishes) and no latency.
  auto req = identity_request(1, "slow");
  req.mutable_options()->set_timeout_ms(10);
  auto r = c->infer(req);
  ASSERT_TRUE(r) << r.status().to_string();
  EXPECT_EQ(r->latency_ms(), 0);
  EXPECT_EQ(d.stop(), 0);
  EXPECT_EQ(d.log(), "");
}

TEST_F(ServiceTest, SigtermDrainsInFlightRequests) {
  Daemon d(dir, {});
  auto c = d.connect();
  ASSERT_TRUE(c->load("slow"));
  ipc::ClientFrame f;
  f.set_request_id(9);
  *f.mutable_infer() = identity_request(3, "slow");
  ASSERT_TRUE(c->send(f).is_ok());
  std::this_thread::sleep_for(50ms);  // in flight
  ::kill(d.pid(), SIGTERM);
  auto reply = c->receive();
  ASSERT_TRUE(reply) << reply.status().to_string();
  ASSERT_TRUE(reply->has_infer()) << reply->DebugString();
  EXPECT_EQ(reply->request_id(), 9u);
  EXPECT_EQ(d.stop(), 0);
  EXPECT_FALSE(Client::connect(d.socket()));  // no longer accepting
  EXPECT_NE(d.log().find("draining"), std::string::npos);
}

TEST_F(ServiceTest, RealTextModelStreamsThroughTheService) {
  Daemon d(dir, {});
  auto c = d.connect();
  std::string streamed;
  auto r = c->infer(text_request("tiny-llama", "the cat sat on the mat", 3, true),
                    [&](const std::string& chunk) { streamed += chunk; });
  ASSERT_TRUE(r) << r.status().to_string();
  EXPECT_TRUE(r->text().final());
  EXPECT_EQ(r->text().text(), streamed);
  EXPECT_GT(r->text().generated_tokens(), 0);
  EXPECT_EQ(r->text().prompt_tokens(), 7);  // the reference tokenization of this prompt
  // A prompt longer than the context (96) is a clear error, and the service goes on.
  std::string long_prompt;
  for (int i = 0; i < 120; ++i) long_prompt += "cat ";
  auto too_long = c->infer(text_request("tiny-llama", long_prompt, 3, false));
  EXPECT_EQ(too_long.status().code(), MRT_CODE_INVALID_ARGUMENT);
  EXPECT_NE(too_long.status().message().find("context holds 96"), std::string::npos) << too_long.status().message();
  EXPECT_TRUE(c->infer(identity_request(1)));
}

ipc::InferRequest image_request(const std::string& model, const std::string& bytes) {
  ipc::InferRequest r;
  r.set_model_id(model);
  r.set_image(bytes);
  return r;
}

// The shipped digits model (oneDNN plugin, standard image stage) on every
// held-out image, through the daemon: the same predictions as onnxruntime
// (scripts/train-digits.py wrote them next to the images).
TEST_F(ServiceTest, DigitsPredictionsEqualOnnxruntimeOnTheHeldOutSplit) {
  fs::copy(fs::path(MRT_SOURCE_ROOT) / "models/digits", dir.path() / "models/digits", fs::copy_options::recursive);
  Daemon d(dir, {});
  auto c = d.connect();
  fs::path fixture = fs::path(MRT_SOURCE_ROOT) / "tests/fixtures/digits-heldout";
  std::ifstream tsv(fixture / "onnxruntime.tsv");
  std::string line;
  std::getline(tsv, line);  // header
  int images = 0, same = 0, ours_right = 0, ort_right = 0;
  while (std::getline(tsv, line)) {
    std::stringstream ss(line);
    std::string file, truth, ort;
    std::getline(ss, file, '\t');
    std::getline(ss, truth, '\t');
    std::getline(ss, ort, '\t');
    auto r = c->infer(image_request("digits", read_all(fixture / file)));
    ASSERT_TRUE(r) << file << ": " << r.status().to_string();
    ASSERT_TRUE(r->has_classification());
    ASSERT_GE(r->classification().classes_size(), 1);
    const auto& top = r->classification().classes(0);
    EXPECT_EQ(top.label(), ort) << file;
    EXPECT_GT(top.score(), 0.0f);
    EXPECT_LE(top.score(), 1.0f);  // softmax probabilities
    ++images;
    same += top.label() == ort;
    ours_right += top.label() == truth;
    ort_right += ort == truth;
  }
  EXPECT_GE(images, 300);
  EXPECT_EQ(same, images);
  EXPECT_EQ(ours_right, ort_right);
  RecordProperty("digits_accuracy", std::to_string(double(ours_right) / images));

  // Bad input: each a clear error, and the service goes on.
  auto corrupt = c->infer(image_request("digits", "\x89PNG\r\n\x1a\ngarbage"));
  EXPECT_EQ(corrupt.status().code(), MRT_CODE_INVALID_ARGUMENT);
  EXPECT_NE(corrupt.status().message().find("corrupt png image"), std::string::npos) << corrupt.status().message();
  auto gif = c->infer(image_request("digits", "GIF89a"));
  EXPECT_NE(gif.status().message().find("unsupported image format"), std::string::npos) << gif.status().message();
  auto wrong_task = c->infer(text_request("digits", "hello", 1, false));
  EXPECT_EQ(wrong_task.status().code(), MRT_CODE_INVALID_ARGUMENT);
  EXPECT_NE(wrong_task.status().message().find("does not take text"), std::string::npos) << wrong_task.status().message();
  auto image_to_text_model = c->infer(image_request("tiny-llama", read_all(fixture / "onnxruntime.tsv")));
  EXPECT_FALSE(image_to_text_model);
  auto unknown = c->infer(image_request("no-such-model", "x"));
  EXPECT_EQ(unknown.status().code(), MRT_CODE_NOT_FOUND);
  EXPECT_NE(unknown.status().message().find("no-such-model"), std::string::npos) << unknown.status().message();
  EXPECT_TRUE(c->infer(identity_request(1)));
}

// The shipped language model through the daemon: a fixed seed gives the
// same text every time (and the stream adds up to it); another seed differs.
TEST_F(ServiceTest, ShippedTextModelIsDeterministicWithASeed) {
  fs::copy(fs::path(MRT_SOURCE_ROOT) / "models/tiny-fortunes", dir.path() / "models/tiny-fortunes", fs::copy_options::recursive);
  Daemon d(dir, {});
  auto c = d.connect();
  auto sampled = [&](uint64_t seed, std::string* streamed) {
    ipc::InferRequest r = text_request("tiny-fortunes", "The meaning of life", seed, streamed != nullptr);
    r.mutable_text()->mutable_params()->set_max_tokens(40);
    r.mutable_text()->mutable_params()->set_temperature(0.8f);
    auto out = c->infer(r, [&](const std::string& chunk) {
      if (streamed) *streamed += chunk;
    });
    EXPECT_TRUE(out) << out.status().to_string();
    return out ? out->text().text() : std::string();
  };
  std::string streamed;
  std::string first = sampled(7, &streamed);
  EXPECT_FALSE(first.empty());
  EXPECT_EQ(first, streamed);
  EXPECT_EQ(sampled(7, nullptr), first);
  EXPECT_EQ(sampled(7, nullptr), first);
  EXPECT_NE(sampled(8, nullptr), first);
}

// A chat through the service: rendered with the shipped model's template,
// streamed like text, and the same answer as the rendered prompt (less its
// leading space); a model
// without a template says so, and the connection goes on.
TEST_F(ServiceTest, ChatRequestsAreRenderedAndStreamed) {
  fs::copy(fs::path(MRT_SOURCE_ROOT) / "models/tiny-fortunes", dir.path() / "models/tiny-fortunes", fs::copy_options::recursive);
  Daemon d(dir, {});
  auto c = d.connect();
  ipc::InferRequest chat;
  chat.set_model_id("tiny-fortunes");
  for (auto [role, content] : {std::pair{"system", "Be wise."}, std::pair{"user", "Tell me about Mondays"}}) {
    auto* m = chat.mutable_chat()->add_messages();
    m->set_role(role);
    m->set_content(content);
  }
  chat.mutable_chat()->mutable_params()->set_max_tokens(24);
  chat.mutable_options()->set_stream(true);
  std::string streamed;
  auto r = c->infer(chat, [&](const std::string& chunk) { streamed += chunk; });
  ASSERT_TRUE(r) << r.status().to_string();
  EXPECT_TRUE(r->text().final());
  EXPECT_EQ(r->text().text(), streamed);
  EXPECT_GT(r->text().generated_tokens(), 0);
  auto plain_request = text_request("tiny-fortunes", "Be wise.</s><s>Tell me about Mondays</s><s>", 0, false);
  plain_request.mutable_text()->mutable_params()->set_max_tokens(24);
  auto plain = c->infer(plain_request);
  ASSERT_TRUE(plain) << plain.status().to_string();
  // The reply is a message of its own: without the leading space of its
  // first token, which the plain continuation keeps.
  const std::string& continuation = plain->text().text();
  EXPECT_EQ(r->text().text(), continuation.substr(continuation.find_first_not_of(" \n")));
  EXPECT_NE(r->text().text().front(), ' ');
  EXPECT_EQ(r->text().prompt_tokens(), plain->text().prompt_tokens());

  ipc::InferRequest no_template = chat;
  no_template.set_model_id("tiny-llama");
  auto refused = c->infer(no_template);
  EXPECT_EQ(refused.status().code(), MRT_CODE_FAILED_PRECONDITION);
  EXPECT_NE(refused.status().message().find("has no chat template"), std::string::npos) << refused.status().message();
  ipc::InferRequest empty;
  empty.set_model_id("tiny-fortunes");
  empty.mutable_chat();
  EXPECT_EQ(c->infer(empty).status().code(), MRT_CODE_INVALID_ARGUMENT);
  EXPECT_TRUE(c->infer(identity_request(1)));
}

TEST_F(ServiceTest, MetricsOverHttpOnLoopback) {
  Daemon::Options o;
  o.metrics_port = 20000 + static_cast<int>(getpid() % 20000);
  Daemon d(dir, o);
  ASSERT_TRUE(d.connect()->infer(identity_request(1)));
  auto scrape = [&] {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(o.metrics_port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    std::string req = "GET /metrics HTTP/1.0\r\n\r\n";
    EXPECT_EQ(::send(s, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
    std::string resp;
    char buf[4096];
    for (ssize_t n; (n = ::recv(s, buf, sizeof buf, 0)) > 0;) resp.append(buf, static_cast<size_t>(n));
    ::close(s);
    return resp;
  };
  // The service answers first and counts after (the client does not wait
  // for its bookkeeping), so a scrape right after the answer may precede
  // the count: it must show within a few seconds.
  std::string resp = scrape();
  for (int i = 0; i < 100 && resp.find("inference_success_total 1") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    resp = scrape();
  }
  EXPECT_EQ(resp.rfind("HTTP/1.0 200 OK", 0), 0u) << resp.substr(0, 200);
  EXPECT_NE(resp.find("inference_success_total 1"), std::string::npos);
}

TEST_F(ServiceTest, ModelsLoadUnloadAndMetricsThroughTheProtocol) {
  Daemon d(dir, {});
  auto c = d.connect();
  auto list = c->list_models();
  ASSERT_TRUE(list);
  std::set<std::string> ids;
  for (const auto& m : list->models()) ids.insert(m.model_id());
  EXPECT_TRUE(ids.count("identity") && ids.count("slow") && ids.count("talker"));
  auto loaded = c->load("identity");
  ASSERT_TRUE(loaded) << loaded.status().to_string();
  EXPECT_TRUE(loaded->loaded());
  EXPECT_EQ(loaded->plugin(), "fixture-gpu");  // scores 80 against fixture-good's 50
  EXPECT_EQ(loaded->inputs(0).name(), "input");
  auto status = c->model_status("identity");
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->loaded());
  EXPECT_TRUE(c->unload("identity").is_ok());
  EXPECT_FALSE(c->model_status("identity")->loaded());
  EXPECT_EQ(c->unload("identity").code(), MRT_CODE_NOT_FOUND);
  auto m = c->metrics();
  ASSERT_TRUE(m);
  for (const char* name : {"inference_requests_total", "inference_success_total", "inference_errors_total",
                           "inference_latency_avg_ms", "model_loads_total 1", "gpu_utilization_percent",
                           "inference_latency_ms_bucket", "inference_latency_ms_sum", "inference_latency_ms_count",
                           "inference_queue_depth", "model_load_duration_ms_count 1"})
    EXPECT_NE(m->find(name), std::string::npos) << name;
  EXPECT_NE(d.log().find("event=load model=identity"), std::string::npos);
}

// Text generation's own metrics, per model, move with each generate request:
// tokens, time to first token, the gaps between chunks, active sequences.
TEST_F(ServiceTest, GenerationMetricsMoveAfterAGenerateRequest) {
  Daemon d(dir, {});
  auto c = d.connect();
  ASSERT_TRUE(c->infer(text_request("short-talker", "hello", 42, true), [](const std::string&) {}));
  ASSERT_TRUE(c->infer(text_request("short-talker", "hello", 43, false)));  // no stream: timed all the same
  auto m = c->metrics();
  ASSERT_TRUE(m);
  // The fixture counts its prompt as 1 token and streams 5 words, one per chunk.
  for (const char* line : {"generation_tokens_total{model=\"short-talker\"} 10",
                           "generation_prompt_tokens_total{model=\"short-talker\"} 2",
                           "generation_time_to_first_token_ms_count{model=\"short-talker\"} 2",
                           "generation_inter_token_latency_ms_count{model=\"short-talker\"} 8",
                           "generation_inter_token_latency_ms_bucket{model=\"short-talker\",le=\"+Inf\"} 8",
                           "generation_active_sequences{model=\"short-talker\"} 0",
                           "# TYPE generation_time_to_first_token_ms histogram"})
    EXPECT_NE(m->find(line), std::string::npos) << line << "\n" << *m;
  // A sequence counts as active while it runs: 200 words, 10 ms apart.
  auto streamer = d.connect();
  ipc::ClientFrame f;
  f.set_request_id(1);
  *f.mutable_infer() = text_request("talker", "a long story", 1, true);
  ASSERT_TRUE(streamer->send(f).is_ok());
  ASSERT_TRUE(streamer->receive());  // the first chunk: it runs
  auto during = c->metrics();
  ASSERT_TRUE(during);
  EXPECT_NE(during->find("generation_active_sequences{model=\"talker\"} 1"), std::string::npos) << *during;
}

}  // namespace
}  // namespace mrt
