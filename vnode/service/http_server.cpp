#include "http_server.h"

#include <sys/socket.h>

#include <atomic>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cerrno>
#include <chrono>
#include <deque>
#include <mutex>
#include <thread>

#include "http_exchange.h"
#include "http_json.h"
#include "mrt/core/log.h"
#include "proto_convert.h"

namespace mrt::vnode {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Local = net::local::stream_protocol;
using Tcp = net::ip::tcp;
using Millis = std::chrono::milliseconds;

constexpr std::string_view kComponent = "http";
// Request line and headers together; bodies have their own limit
// (http.max_request_bytes).
constexpr uint32_t kHeaderLimit = 16 * 1024;
// Answer bytes queued for one connection and not yet written: past this the
// client is not reading, and its exchange is dropped.
constexpr size_t kMaxQueuedBytes = 16u << 20;

std::string reason_phrase(unsigned status) {
  auto r = http::obsolete_reason(http::int_to_status(status));
  if (r.empty() || r.front() == '<') return status == 499 ? "Client Closed Request" : "Error";
  return std::string(r);
}

// The status line and headers of an answer; `length` nullopt: chunked.
std::string head_bytes(const HttpResponse& r, bool keep_alive, std::optional<size_t> length) {
  std::string h = "HTTP/1.1 " + std::to_string(r.status) + " " + reason_phrase(r.status) + "\r\n";
  h += "Content-Type: " + r.content_type + "\r\n";
  for (const auto& [k, v] : r.headers) h += k + ": " + v + "\r\n";
  h += length ? "Content-Length: " + std::to_string(*length) + "\r\n" : std::string("Transfer-Encoding: chunked\r\n");
  if (!keep_alive) h += "Connection: close\r\n";
  return h + "\r\n";
}

std::string chunk_bytes(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return std::string(size) + std::string(data) + "\r\n";
}

// Before any API has the request (bad HTTP, identity, unknown path).
HttpResponse plain_error(unsigned status, const std::string& message) {
  HttpResponse r;
  r.status = status;
  r.body = json_text(Json{{"error", {{"message", message}}}});
  return r;
}

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // At shutdown, with the HTTP threads stopped: close, cancelling any
  // exchange still in flight (which would otherwise keep its session).
  virtual void abandon() = 0;
};

}  // namespace

struct HttpServer::Impl {
  std::unique_ptr<net::io_context> ioc = std::make_unique<net::io_context>();
  std::optional<Local::acceptor> unix_acceptor;
  std::optional<Tcp::acceptor> tcp_acceptor;
  std::optional<BearerTokens> tokens;
  HttpSettings settings;
  RequestPath* path = nullptr;
  std::vector<std::unique_ptr<HttpApi>> apis;
  int thread_count = 1;
  std::vector<std::thread> threads;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::atomic<uint32_t> connections{0};
  std::atomic<uint32_t> busy{0};  // connections answering an exchange
  std::atomic<bool> stopping{false};
  bool shut_down = false;
  std::mutex sessions_mutex;
  std::vector<std::weak_ptr<SessionBase>> sessions;  // for shutdown

  HttpApi* api_for(const std::string& path) const {
    for (const auto& a : apis)
      if (a->serves(path)) return a.get();
    return nullptr;
  }
  template <class Protocol>
  void accept(typename Protocol::acceptor& acceptor, bool tcp);
  void refuse(int fd);
};

namespace {

// One HTTP connection: reads one request at a time, answers it (at once,
// or through an HttpExchange and the API's translator), then reads the
// next. Everything runs on the connection's strand.
template <class Protocol>
class Session final : public SessionBase, public AnswerWriter, public std::enable_shared_from_this<Session<Protocol>> {
 public:
  using Socket = typename Protocol::socket;
  Session(Socket socket, HttpServer::Impl& server, bool tcp)
      : stream_(std::move(socket)), server_(server), tcp_(tcp), request_timer_(stream_.get_executor()) {}
  ~Session() override {
    end_exchange();
    if (identity_) server_.path->close_client(identity_->account);
    server_.connections--;
  }

  auto executor() { return stream_.get_executor(); }
  void abandon() override { close("the service is stopping"); }

  void start() {
    if (!tcp_) {
      ucred cred{};
      socklen_t len = sizeof cred;
      if (::getsockopt(stream_.socket().native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return close("no peer credentials");
      if (Status s = identify(std::to_string(cred.uid)); !s.is_ok()) {
        keep_alive_ = false;
        return respond_now(plain_error(http_status_for(s.code()), s.message()));
      }
    }
    read_next();
  }

  // --- AnswerWriter (the translator's calls, on this strand) ------------------
  void respond(HttpResponse r) override {
    if (closed_) return;
    std::string bytes = head_bytes(r, keep_alive_, r.body.size());
    queue(std::move(bytes) + r.body);
    end_exchange();
  }
  void begin_events(HttpResponse head) override {
    if (closed_) return;
    streaming_ = true;
    queue(head_bytes(head, keep_alive_, std::nullopt));
  }
  void event(std::string bytes) override {
    if (closed_ || bytes.empty()) return;
    queue(chunk_bytes(bytes));
  }
  void end_events() override {
    if (closed_) return;
    queue("0\r\n\r\n");
    streaming_ = false;
    end_exchange();
  }

 private:
  Status identify(const std::string& aid) {
    if (identity_ && identity_->account->aid == aid) return Status::ok();
    if (identity_) server_.path->close_client(identity_->account);
    identity_.reset();
    auto id = server_.path->open_client(aid);
    if (!id) return id.status();
    identity_ = std::move(*id);
    return Status::ok();
  }

  void read_next() {
    if (closed_) return;
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(server_.settings.max_request_bytes);
    // One deadline for the whole request, headers and body: a client that
    // sends a byte at a time gets no more time than one that sends nothing.
    // A timer of our own rather than the stream's (which closes the socket)
    // so that the client can still be told 408.
    stream_.expires_never();
    timed_out_ = false;
    request_timer_.expires_after(Millis(server_.settings.request_timeout_ms));
    request_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_ || !self->parser_ || self->parser_->is_done()) return;
      self->timed_out_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    request_timer_.cancel();
    if (closed_) return;
    if (ec && timed_out_) {
      if (!parser_->got_some()) return close("idle past http.request_timeout_ms");  // an idle kept-alive connection: nothing to answer
      keep_alive_ = false;
      return respond_now(plain_error(408, "the request did not arrive within " +
                                              std::to_string(server_.settings.request_timeout_ms) +
                                              " ms (http.request_timeout_ms)"));
    }
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
        ec == net::error::operation_aborted)
      return close(ec.message().c_str());
    if (ec) {
      keep_alive_ = false;  // the byte stream cannot be trusted after a bad request
      if (ec == http::error::body_limit)
        return respond_now(plain_error(413, "request body over " + std::to_string(server_.settings.max_request_bytes) +
                                                " bytes (http.max_request_bytes)"));
      if (ec == http::error::header_limit)
        return respond_now(plain_error(431, "request headers over " + std::to_string(kHeaderLimit) + " bytes"));
      return respond_now(plain_error(400, "malformed HTTP request: " + ec.message()));
    }
    auto msg = parser_->release();
    keep_alive_ = msg.keep_alive() && !server_.stopping.load();
    HttpRequest req;
    req.method = std::string(msg.method_string());
    std::string target(msg.target());
    req.path = target.substr(0, target.find('?'));
    for (const auto& field : msg) {
      std::string name(field.name_string());
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      req.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    if (auto* ct = req.header("content-type")) req.content_type = *ct;
    req.body = std::move(msg.body());
    HttpApi* api = server_.api_for(req.path);
    if (!api) return respond_now(plain_error(404, "no such path: " + req.path + " (the APIs are under /v1/ and /v2)"));
    if (tcp_) {
      // A TCP peer has no credentials: its bearer token names its AID.
      const std::string* auth = req.header("authorization");
      std::optional<std::string> aid;
      if (auth && auth->rfind("Bearer ", 0) == 0) aid = server_.tokens->aid_for(std::string_view(*auth).substr(7));
      if (!aid) {
        Status denied(MRT_CODE_UNAUTHENTICATED, auth ? "the bearer token is not valid"
                                                     : "a bearer token is required (Authorization: Bearer <token>)");
        HttpResponse r = api->error(401, denied);
        r.headers.emplace_back("WWW-Authenticate", "Bearer");
        return respond_now(std::move(r));
      }
      if (Status s = identify(*aid); !s.is_ok()) return respond_now(api->error(http_status_for(s.code()), s));
    }
    Routed routed;
    try {
      routed = api->route(req);
    } catch (const std::exception& e) {
      // A bug, never a client's doing; the barrier keeps the HTTP threads
      // (and so the service) alive and says what happened.
      log_error(kComponent, std::string("translating a request failed: ") + e.what());
      return respond_now(api->error(500, internal_error(std::string("internal error: ") + e.what())));
    }
    if (routed.now) return respond_now(std::move(*routed.now));
    begin_exchange(std::move(routed));
  }

  void respond_now(HttpResponse r) {
    server_.busy++;
    exchange_open_ = true;
    respond(std::move(r));
  }

  void begin_exchange(Routed routed) {
    server_.busy++;
    exchange_open_ = true;
    // While the service works on it, no socket operation may be pending
    // (nothing is read): the exchange itself keeps the session alive.
    owner_ = this->shared_from_this();
    translator_ = std::move(routed.translator);
    uint64_t seq = ++exchange_seq_;
    std::weak_ptr<Session> weak = this->shared_from_this();
    auto executor = stream_.get_executor();
    exchange_ = std::make_shared<HttpExchange>(
        identity_->account, identity_->home_models, [weak, executor, seq](ipc::ServerFrame frame) {
          net::post(executor, [weak, seq, frame = std::move(frame)]() {
            if (auto self = weak.lock()) self->on_frame(seq, frame);
          });
        });
    routed.request->set_request_id(next_request_id_++);
    server_.path->submit(exchange_, std::move(routed.request));
    watch_for_hangup();
  }

  void on_frame(uint64_t seq, const ipc::ServerFrame& frame) {
    if (seq != exchange_seq_ || !exchange_ || !translator_) return;
    exchange_->written(frame.ByteSizeLong());
    std::unique_ptr<ipc::ClientFrame> next;
    try {
      next = translator_->on_frame(frame, *this);
    } catch (const std::exception& e) {  // a bug: as in on_read
      log_error(kComponent, std::string("translating an answer failed: ") + e.what());
      return close("an answer could not be translated");
    }
    if (next && exchange_) {
      next->set_request_id(next_request_id_++);
      server_.path->submit(exchange_, std::move(next));
    }
  }

  // While the service works on a request nothing is read from the client,
  // so a hang-up would go unnoticed until the answer is written; waiting for
  // readability notices it, and cancels the request like a native
  // disconnect does.
  void watch_for_hangup() {
    if (watching_) return;
    watching_ = true;
    stream_.socket().async_wait(Socket::wait_read, [self = this->shared_from_this()](beast::error_code ec) {
      self->watching_ = false;
      if (ec || !self->exchange_) return;
      char c;
      ssize_t n = ::recv(self->stream_.socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        self->close("the client hung up; its request is cancelled");
      } else if (n < 0) {
        self->watch_for_hangup();  // woken with nothing to read (the previous request's bytes): watch on
      }
      // Bytes of a pipelined request wait in the socket until this answer is
      // out (watching them would wake at once, again and again).
    });
  }

  void end_exchange() {
    if (exchange_) exchange_->close();  // cancels whatever still runs for it
    exchange_.reset();
    translator_.reset();
    answered_ = true;
    // Let go of the session later, on its strand: the caller still uses it.
    if (owner_) net::post(stream_.get_executor(), [owner = std::move(owner_)] {});
  }

  void queue(std::string bytes) {
    queued_bytes_ += bytes.size();
    out_.push_back(std::move(bytes));
    if (queued_bytes_ > kMaxQueuedBytes) {
      log_warning(kComponent, "dropping an HTTP client that is not reading its answer");
      return close("not reading its answer");
    }
    if (!writing_) write_next();
  }

  void write_next() {
    if (closed_) return;
    if (out_.empty()) {
      writing_ = false;
      if (answered_ && !streaming_) {
        answered_ = false;
        if (exchange_open_) {
          exchange_open_ = false;
          server_.busy--;
        }
        if (!keep_alive_) return close("answered; not kept alive");
        read_next();
      }
      return;
    }
    writing_ = true;
    stream_.expires_after(Millis(server_.settings.send_timeout_ms));
    net::async_write(stream_, net::buffer(out_.front()),
                     [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_written(ec); });
  }

  void on_written(beast::error_code ec) {
    if (ec || closed_) return close(ec ? "write failed" : "closed while writing");
    queued_bytes_ -= out_.front().size();
    out_.pop_front();
    write_next();
  }

  void close(const char* why) {
    if (closed_) return;
    closed_ = true;
    log_debug(kComponent, std::string("closing a connection: ") + why);
    if (exchange_open_) {
      exchange_open_ = false;
      server_.busy--;
    }
    end_exchange();
    // out_ stays until the session is gone: a write in flight may still
    // read its front buffer until the close cancels it.
    request_timer_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(Socket::shutdown_both, ec);
    stream_.close();
  }

  beast::basic_stream<Protocol> stream_;
  HttpServer::Impl& server_;
  const bool tcp_;
  net::steady_timer request_timer_;
  bool timed_out_ = false;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<ClientIdentity> identity_;
  std::shared_ptr<HttpExchange> exchange_;
  std::shared_ptr<Session> owner_;  // set while an exchange is in flight
  std::unique_ptr<FrameTranslator> translator_;
  uint64_t exchange_seq_ = 0;
  uint64_t next_request_id_ = 1;
  bool keep_alive_ = true;
  bool exchange_open_ = false;  // counted in server_.busy
  bool answered_ = false;       // the answer is queued; read the next request once it is written
  bool streaming_ = false;
  bool watching_ = false;
  bool writing_ = false;
  bool closed_ = false;
  std::deque<std::string> out_;
  size_t queued_bytes_ = 0;
};

}  // namespace

void HttpServer::Impl::refuse(int fd) {
  // Over http.max_connections: one best-effort answer, then the door.
  static const std::string body = "{\"error\":{\"message\":\"the HTTP front end has too many connections (http.max_connections)\"}}";
  HttpResponse r;
  r.status = 503;
  std::string bytes = head_bytes(r, false, body.size()) + body;
  (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

template <class Protocol>
void HttpServer::Impl::accept(typename Protocol::acceptor& acceptor, bool tcp) {
  acceptor.async_accept(net::make_strand(*ioc), [this, &acceptor, tcp](beast::error_code ec, typename Protocol::socket socket) {
    if (stopping.load() || ec == net::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors or the like: try again shortly instead of spinning.
      log_warning(kComponent, "accept failed: " + ec.message() + "; pausing accepts for 100 ms");
      auto timer = std::make_shared<net::steady_timer>(acceptor.get_executor(), Millis(100));
      timer->async_wait([this, &acceptor, tcp, timer](beast::error_code) { accept<Protocol>(acceptor, tcp); });
      return;
    }
    if (connections.load() >= settings.max_connections) {
      refuse(socket.native_handle());
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      connections++;
      auto session = std::make_shared<Session<Protocol>>(std::move(socket), *this, tcp);
      {
        std::lock_guard lock(sessions_mutex);
        std::erase_if(sessions, [](const auto& w) { return w.expired(); });
        sessions.push_back(session);
      }
      net::dispatch(session->executor(), [session] { session->start(); });
    }
    accept<Protocol>(acceptor, tcp);
  });
}

HttpServer::HttpServer(Listeners listeners, const HttpSettings& settings, RequestPath* path,
                       std::vector<std::unique_ptr<HttpApi>> apis, int threads)
    : impl_(std::make_unique<Impl>()) {
  impl_->settings = settings;
  impl_->path = path;
  impl_->apis = std::move(apis);
  impl_->thread_count = threads < 1 ? 1 : threads;
  impl_->tokens = std::move(listeners.tokens);
  if (listeners.unix_fd >= 0)
    impl_->unix_acceptor.emplace(net::make_strand(*impl_->ioc), Local(), listeners.unix_fd);
  if (listeners.tcp_fd >= 0) impl_->tcp_acceptor.emplace(net::make_strand(*impl_->ioc), Tcp::v4(), listeners.tcp_fd);
}

HttpServer::~HttpServer() { shutdown(0); }

void HttpServer::start() {
  Impl& s = *impl_;
  s.work.emplace(s.ioc->get_executor());
  if (s.unix_acceptor) net::post(s.unix_acceptor->get_executor(), [&s] { s.accept<Local>(*s.unix_acceptor, false); });
  if (s.tcp_acceptor) net::post(s.tcp_acceptor->get_executor(), [&s] { s.accept<Tcp>(*s.tcp_acceptor, true); });
  for (int i = 0; i < s.thread_count; ++i) s.threads.emplace_back([&s] { s.ioc->run(); });
}

void HttpServer::stop_accepting() {
  Impl& s = *impl_;
  s.stopping.store(true);
  auto close = [](auto& acceptor) {
    net::post(acceptor.get_executor(), [&acceptor] {
      beast::error_code ec;
      acceptor.close(ec);
    });
  };
  if (s.unix_acceptor) close(*s.unix_acceptor);
  if (s.tcp_acceptor) close(*s.tcp_acceptor);
}

void HttpServer::shutdown(int grace_ms) {
  Impl& s = *impl_;
  if (s.shut_down) return;
  s.shut_down = true;
  stop_accepting();
  auto until = std::chrono::steady_clock::now() + Millis(grace_ms);
  while (s.busy.load() > 0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(Millis(10));
  s.work.reset();
  s.ioc->stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  {
    std::lock_guard lock(s.sessions_mutex);
    for (auto& w : s.sessions)
      if (auto session = w.lock()) session->abandon();  // no HTTP thread runs now
    s.sessions.clear();
  }
  // Sessions live in the handlers the io_context still holds: destroying it
  // ends them (each gives its client account back) while the rest of Impl
  // is still whole.
  s.unix_acceptor.reset();
  s.tcp_acceptor.reset();
  s.ioc.reset();
}

}  // namespace mrt::vnode
