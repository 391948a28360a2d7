// The HTTP front ends (OpenAI-compatible and KServe v2 REST) through the real
// daemon, with raw sockets: what a malformed, oversized, slow or
// unauthenticated client gets, how service errors map to HTTP statuses, and
// that none of it stalls anyone else. The real Python clients are
// http_clients_test.sh's.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "daemon_fixture.h"

namespace mrt {
namespace {

using namespace std::chrono_literals;
using client::Client;
using test::Daemon;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr const char* kToken = "test-token-0123456789abcdef";

int connect_unix(const fs::path& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int connect_tcp(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

struct Answer {
  int status = 0;
  std::string head;
  std::string body;  // de-chunked
  bool complete = false;
};

// Reads one answer (Content-Length or chunked) within `timeout`.
Answer read_answer(int fd, std::chrono::milliseconds timeout = 5000ms) {
  std::string buf;
  Answer a;
  auto until = Clock::now() + timeout;
  auto more = [&] {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char tmp[65536];
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<size_t>(n));
    return true;
  };
  size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos)
    if (!more()) return a;
  a.head = buf.substr(0, end);
  a.status = std::atoi(a.head.c_str() + 9);
  std::string rest = buf.substr(end + 4);
  std::string lower = a.head;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  if (auto cl = lower.find("content-length: "); cl != std::string::npos) {
    size_t n = std::stoul(lower.substr(cl + 16));
    buf = rest;
    while (buf.size() < n)
      if (!more()) return a;
    a.body = buf.substr(0, n);
    a.complete = true;
    return a;
  }
  buf = rest;  // chunked
  for (;;) {
    size_t line;
    while ((line = buf.find("\r\n")) == std::string::npos)
      if (!more()) return a;
    size_t n = std::stoul(buf.substr(0, line), nullptr, 16);
    while (buf.size() < line + 2 + n + 2)
      if (!more()) return a;
    if (n == 0) {
      a.complete = true;
      return a;
    }
    a.body += buf.substr(line + 2, n);
    buf.erase(0, line + 2 + n + 2);
  }
}

void send_all(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

std::string request(const std::string& method, const std::string& path, const std::string& body = "",
                    const std::string& extra_headers = "") {
  return method + " " + path + " HTTP/1.1\r\nHost: localhost\r\n" + extra_headers +
         (body.empty() && method == "GET" ? "" : "Content-Type: application/json\r\nContent-Length: " +
                                                     std::to_string(body.size()) + "\r\n") +
         "\r\n" + body;
}

bool closed_by_peer(int fd, std::chrono::milliseconds within) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(within.count())) <= 0) return false;
  char c;
  return ::recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

class HttpFrontEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::write_fixture_model(dir, "identity", "bytes=1000\n");
    test::write_fixture_model(dir, "slow", "exec_ms=300\n");
    test::write_fixture_model(dir, "talker", "words=200\nword_ms=10\n", "task: text-generation\n");
    fs::path tokens = dir.write("tokens", std::to_string(::geteuid()) + " " + kToken + "\n");
    ::chmod(tokens.c_str(), 0600);
    port = free_port();
    Daemon::Options o;
    o.manifest_extra = "http:\n  unix_socket: true\n  tcp_port: " + std::to_string(port) + "\n  tokens_file: " +
                       tokens.string() + "\n  max_request_bytes: 64KB\n  request_timeout_ms: 1000\n"
                       "limits:\n  per_aid: {connections: 12}\n";
    daemon = std::make_unique<Daemon>(dir, o);
    http_socket = daemon->socket().parent_path() / "svc.http.sock";
    // The daemon binds its native socket last, so once the fixture could
    // connect to it every HTTP listener accepts too: no client needs to retry.
    for (int fd : {connect_unix(http_socket), connect_tcp(port)}) {
      EXPECT_GE(fd, 0) << "an HTTP listener was not up when the native socket was";
      if (fd >= 0) ::close(fd);
    }
  }
  // One request on a fresh connection to the HTTP Unix socket.
  Answer ask(const std::string& bytes) {
    int fd = connect_unix(http_socket);
    EXPECT_GE(fd, 0);
    send_all(fd, bytes);
    Answer a = read_answer(fd);
    ::close(fd);
    return a;
  }
  std::string error_message(const Answer& a) {
    auto j = nlohmann::json::parse(a.body, nullptr, false);
    if (j.is_discarded() || !j.contains("error")) return "(no JSON error body: " + a.body + ")";
    return j["error"].is_object() ? j["error"].value("message", "") : j["error"].get<std::string>();
  }

  test::TempDir dir;
  int port = 0;
  std::unique_ptr<Daemon> daemon;
  fs::path http_socket;
};

TEST_F(HttpFrontEndTest, KServeInferAndOpenAiModelsWork) {
  std::string infer = R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]})";
  Answer a = ask(request("POST", "/v2/models/identity/infer", infer));
  ASSERT_EQ(a.status, 200) << a.head << a.body;
  auto j = nlohmann::json::parse(a.body);
  EXPECT_EQ(j["outputs"][0]["data"], nlohmann::json({1.0, 2.0, 3.0, 4.0})) << a.body;
  Answer m = ask(request("GET", "/v1/models"));
  ASSERT_EQ(m.status, 200) << m.body;
  EXPECT_NE(m.body.find("\"identity\""), std::string::npos) << m.body;
  Answer live = ask(request("GET", "/v2/health/live"));
  EXPECT_EQ(live.status, 200);
}

TEST_F(HttpFrontEndTest, MalformedHttpIs400AndTheConnectionCloses) {
  int fd = connect_unix(http_socket);
  send_all(fd, "THIS IS NOT HTTP\r\n\r\n");
  Answer a = read_answer(fd);
  EXPECT_EQ(a.status, 400) << a.head;
  EXPECT_NE(error_message(a).find("malformed HTTP request"), std::string::npos) << a.body;
  EXPECT_TRUE(closed_by_peer(fd, 1000ms));
  ::close(fd);
  // A header line without a colon, and a bad chunk size.
  EXPECT_EQ(ask("GET /v1/models HTTP/1.1\r\nno colon here\r\n\r\n").status, 400);
  EXPECT_EQ(ask("POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").status, 400);
  Answer unknown = ask(request("GET", "/nowhere"));
  EXPECT_EQ(unknown.status, 404);
  Answer method = ask(request("DELETE", "/v1/completions"));
  EXPECT_EQ(method.status, 405);
}

TEST_F(HttpFrontEndTest, OversizedBodyIs413BeforeItArrives) {
  int fd = connect_unix(http_socket);
  // Declares 10 MB against a 64 KB limit and sends none of it: refused at
  // the header, not after 10 MB were read.
  send_all(fd, "POST /v1/completions HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n{");
  Answer a = read_answer(fd, 2000ms);
  EXPECT_EQ(a.status, 413) << a.head;
  EXPECT_NE(error_message(a).find("http.max_request_bytes"), std::string::npos) << a.body;
  ::close(fd);
  Answer headers = ask("GET /v1/models HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
  EXPECT_EQ(headers.status, 431);
}

TEST_F(HttpFrontEndTest, BadJsonIs400WithAClearMessage) {
  Answer a = ask(request("POST", "/v1/completions", "{not json"));
  EXPECT_EQ(a.status, 400);
  EXPECT_NE(error_message(a).find("not valid JSON"), std::string::npos) << a.body;
  Answer b = ask(request("POST", "/v1/completions", R"({"model":"talker","prompt":"x","temperature":"hot"})"));
  EXPECT_EQ(b.status, 400);
  EXPECT_NE(error_message(b).find("'temperature' must be a number"), std::string::npos) << b.body;
  Answer c = ask(request("POST", "/v2/models/identity/infer", "[1,2]"));
  EXPECT_EQ(c.status, 400);
  EXPECT_NE(error_message(c).find("JSON object"), std::string::npos) << c.body;
  Answer d = ask(request("POST", "/v2/models/identity/infer",
                         R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3]}]})"));
  EXPECT_EQ(d.status, 400);
  EXPECT_NE(error_message(d).find("has 3 values but the shape holds 4"), std::string::npos) << d.body;
  Answer e = ask(request("POST", "/v2/models/identity/infer", R"({"inputs":[]})",
                         "Inference-Header-Content-Length: 999\r\n"));
  EXPECT_EQ(e.status, 400);
}

TEST_F(HttpFrontEndTest, BearerTokensOnTcp) {
  auto ask_tcp = [&](const std::string& auth) {
    int fd = connect_tcp(port);
    EXPECT_GE(fd, 0);
    send_all(fd, request("GET", "/v2/health/ready", "", auth));
    Answer a = read_answer(fd);
    ::close(fd);
    return a;
  };
  Answer none = ask_tcp("");
  EXPECT_EQ(none.status, 401);
  EXPECT_NE(none.head.find("WWW-Authenticate: Bearer"), std::string::npos) << none.head;
  EXPECT_EQ(ask_tcp("Authorization: Bearer not-the-token-0123456789\r\n").status, 401);
  EXPECT_EQ(ask_tcp(std::string("Authorization: Bearer ") + kToken + "x\r\n").status, 401);
  EXPECT_EQ(ask_tcp(std::string("Authorization: Basic ") + kToken + "\r\n").status, 401);
  Answer ok = ask_tcp(std::string("Authorization: Bearer ") + kToken + "\r\n");
  EXPECT_EQ(ok.status, 200) << ok.body;
}

TEST_F(HttpFrontEndTest, ServiceErrorsMapToHttpStatuses) {
  std::string infer = R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]})";
  Answer missing = ask(request("POST", "/v2/models/no-such-model/infer", infer));
  EXPECT_EQ(missing.status, 404) << missing.body;
  Answer bad_id = ask(request("POST", "/v2/models/..%2f/infer", infer));
  EXPECT_EQ(bad_id.status, 400) << bad_id.body;
  // The per-AID connection limit (12, native and HTTP together) → 429.
  // Opened at once: the idle ones are closed after request_timeout_ms.
  std::vector<int> held;
  for (int i = 0; i < 14; ++i) held.push_back(connect_unix(http_socket));
  std::this_thread::sleep_for(300ms);
  int refusals = 0;
  Answer refused;
  for (int fd : held) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) {
      refused = read_answer(fd);
      ++refusals;
    }
  }
  // 14 opened, at most 12 held: at least 2 refused, up to 2 more while the
  // server has not yet seen the two requests above hang up (they count too).
  EXPECT_GE(refusals, 2);
  EXPECT_LE(refusals, 4);
  EXPECT_EQ(refused.status, 429) << refused.body;
  EXPECT_NE(error_message(refused).find("limits.per_aid.connections"), std::string::npos) << refused.body;
  for (int fd : held) ::close(fd);
  // The service's own deadline (the KServe timeout_ms parameter) → 504,
  // once the server has seen the held connections go (429 until then).
  Answer late;
  for (auto start = Clock::now(); Clock::now() - start < 3s;) {
    late = ask(request("POST", "/v2/models/slow/infer",
                       R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}],)"
                       R"("parameters":{"timeout_ms":50}})"));
    if (late.status != 429) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(late.status, 504) << late.body;
}

TEST_F(HttpFrontEndTest, StreamedCompletionIsServerSentEventsEndingInDone) {
  std::string body = R"({"model":"talker","prompt":"hello","max_tokens":5,"stream":true})";
  Answer a = ask(request("POST", "/v1/completions", body));
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_NE(a.head.find("text/event-stream"), std::string::npos);
  EXPECT_EQ(a.body.rfind("data: [DONE]\n\n"), a.body.size() - 14) << a.body;
  EXPECT_GE(std::count(a.body.begin(), a.body.end(), '\n'), 8) << a.body;
  EXPECT_NE(a.body.find("\"finish_reason\":\"length\""), std::string::npos) << a.body;
}

TEST_F(HttpFrontEndTest, SlowAndSilentClientsStallNobody) {
  // Five clients trickle a request a byte at a time, one sends nothing, one
  // asks for a 2-second stream and never reads it.
  std::vector<int> slow;
  for (int i = 0; i < 5; ++i) slow.push_back(connect_unix(http_socket));
  int silent = connect_unix(http_socket);
  int unread = connect_unix(http_socket);
  send_all(unread, request("POST", "/v1/completions", R"({"model":"talker","prompt":"x","stream":true})"));
  std::string trickle = request("GET", "/v1/models");
  auto native = daemon->connect();
  ASSERT_TRUE(native);
  double worst_native_ms = 0, worst_http_ms = 0;
  auto start = Clock::now();
  for (size_t i = 0; Clock::now() - start < 800ms; ++i) {
    for (int fd : slow) send_all(fd, trickle.substr(i % trickle.size(), 1));
    auto t0 = Clock::now();
    auto r = native->health();
    ASSERT_TRUE(r && r->serving());
    auto t1 = Clock::now();
    Answer h = ask(request("GET", "/v2/health/ready"));
    auto t2 = Clock::now();
    ASSERT_EQ(h.status, 200);
    worst_native_ms = std::max(worst_native_ms, std::chrono::duration<double, std::milli>(t1 - t0).count());
    worst_http_ms = std::max(worst_http_ms, std::chrono::duration<double, std::milli>(t2 - t1).count());
    std::this_thread::sleep_for(50ms);
  }
  std::printf("SLOW-CLIENTS worst native health %.2f ms, worst HTTP health %.2f ms\n", worst_native_ms, worst_http_ms);
  EXPECT_LT(worst_native_ms, 200);
  EXPECT_LT(worst_http_ms, 200);
  // The trickling and silent ones are cut off at http.request_timeout_ms (1 s).
  for (int fd : slow) {
    Answer a = read_answer(fd, 2000ms);
    EXPECT_EQ(a.status, 408) << a.head;
    ::close(fd);
  }
  EXPECT_TRUE(closed_by_peer(silent, 2000ms));
  ::close(silent);
  ::close(unread);
}

TEST_F(HttpFrontEndTest, AClientThatHangsUpCancelsItsRequest) {
  // 200 words at 10 ms each: two seconds of generation. Answered OK unless
  // the hang-up reached the call, and CANCELLED well before its end only if
  // the plugin worker heard of it while its chunks were still flowing.
  int fd = connect_unix(http_socket);
  send_all(fd, request("POST", "/v1/completions", R"({"model":"talker","prompt":"x","max_tokens":200})"));
  std::this_thread::sleep_for(200ms);
  ::close(fd);
  auto start = Clock::now();
  while (daemon->log().find("model=talker scope=system status=") == std::string::npos && Clock::now() - start < 5s)
    std::this_thread::sleep_for(20ms);
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  EXPECT_NE(daemon->log().find("model=talker scope=system status=CANCELLED"), std::string::npos) << daemon->log();
  std::printf("HANGUP the request ended CANCELLED %.0f ms after the client closed\n", ms);
  EXPECT_LT(ms, 1200) << "the generation ran on after its cancellation";
}

TEST_F(HttpFrontEndTest, SigtermFinishesTheHttpRequestInFlight) {
  int fd = connect_unix(http_socket);
  send_all(fd, request("POST", "/v1/completions", R"({"model":"talker","prompt":"x","max_tokens":50})"));
  std::this_thread::sleep_for(100ms);
  ::kill(daemon->pid(), SIGTERM);
  Answer a = read_answer(fd, 5000ms);
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_NE(a.body.find("\"finish_reason\":\"length\""), std::string::npos) << a.body;
  ::close(fd);
  EXPECT_EQ(daemon->stop(), 0);
  EXPECT_LT(connect_unix(http_socket), 0);  // no longer accepting (the socket file is gone)
}

}  // namespace
}  // namespace mrt
