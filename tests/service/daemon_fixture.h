// The real daemon (model-runtime.vnode) started on a temporary socket for a
// test, and the requests the service tests send it. Shared by the service
// suite and the attack suite.
#pragma once

#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "../unit/test_support.h"
#include "client.h"
#include "proto_convert.h"

namespace mrt::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using client::Client;

inline std::string read_all(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A manifest like the shipped one, with capabilities and share chosen.
inline std::string manifest(const std::vector<std::string>& caps, double cpu_share = 0.01, const std::string& extra = "") {
  std::string m = "name: model-runtime\nversion: 0.1.0-test\nmode: strict\nruntime:\n  entrypoint: model-runtime.vnode\n"
                  "  required_mem_mb: 64\n  max_cpu_share: " + std::to_string(cpu_share) + "\ncapabilities:\n";
  for (const auto& c : caps) m += "  - " + c + "\n";
  m += "ipc: {address: 'svc://model-runtime'}\nstorage:\n  mounts:\n"
       "    - {path: /models, source: 'aetherfs://system-models', mode: ro}\n"
       "    - {path: '/home/<AID>/models', source: 'aetherfs://user/<AID>/models', mode: rw}\n"
       "    - {path: /tmp, source: 'volatile://ramdisk', mode: rw, size: 1MB}\n"
       "observability:\n  metrics: [inference_requests_total, inference_success_total, inference_errors_total,"
       " inference_latency_avg_ms, model_loads_total, gpu_utilization_percent]\n";
  return m + extra;
}
inline const std::vector<std::string> kAllCaps = {"CAP_IPC_ACCEPT", "'CAP_IPC_CONNECT': 'svc://vfs'",
                                           "'CAP_IPC_CONNECT': 'svc://gpu-driver'", "CAP_LOG_WRITE", "CAP_TIME_READ"};

class Daemon {
 public:
  struct Options {
    std::vector<std::string> caps = kAllCaps;
    size_t queue_capacity = 64;
    std::vector<std::string> env;
    uint32_t max_frame = 1 << 20;
    int metrics_port = 0;
    std::string manifest_extra;  // more vnode.yml sections (access, limits)
    int max_open_files = 0;      // RLIMIT_NOFILE of the daemon; 0 = inherited
    std::vector<std::string> extra_args;  // more command-line options (--plugin-file ...)
    double cpu_share = 0.01;     // max_cpu_share: 0.01 = one worker thread
  };

  Daemon(const TempDir& dir, const Options& o) : dir_(dir) {
    socket_ = dir.path() / "svc.sock";
    log_ = dir.path() / "daemon.log";
    fs::path manifest_path = dir.write("vnode.yml", manifest(o.caps, o.cpu_share, o.manifest_extra));
    std::vector<std::string> args = {MRT_DAEMON_EXE,
                                     "--manifest", manifest_path.string(),
                                     "--socket", socket_.string(),
                                     "--state-dir", (dir.path() / "state").string(),
                                     "--system-models", (dir.path() / "models").string(),
                                     "--plugin-file", fixture_plugin("good").string(),
                                     "--plugin-file", fixture_plugin("gpu").string(),
                                     "--queue-capacity", std::to_string(o.queue_capacity),
                                     "--max-frame-bytes", std::to_string(o.max_frame),
                                     "--metrics-port", std::to_string(o.metrics_port)};
    args.insert(args.end(), o.extra_args.begin(), o.extra_args.end());
    pid_ = fork();
    if (pid_ == 0) {
      for (const auto& e : o.env) putenv(const_cast<char*>(e.c_str()));
      if (o.max_open_files > 0) {
        rlimit rl{static_cast<rlim_t>(o.max_open_files), static_cast<rlim_t>(o.max_open_files)};
        setrlimit(RLIMIT_NOFILE, &rl);
      }
      FILE* log = std::fopen(log_.c_str(), "w");
      dup2(fileno(log), STDERR_FILENO);
      dup2(fileno(log), STDOUT_FILENO);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    for (int i = 0; i < 200; ++i) {  // up to 10 s for the readiness
      if (Client::connect(socket_)) return;
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "daemon did not start:\n" << read_all(log_);
  }
  ~Daemon() { (void)stop(); }

  // SIGTERM, then the exit code (or -signal).
  int stop() {
    if (pid_ <= 0) return exit_code_;
    ::kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    return exit_code_;
  }
  pid_t pid() const { return pid_; }
  std::unique_ptr<Client> connect() {
    auto c = Client::connect(socket_);
    EXPECT_TRUE(c) << c.status().to_string();
    return c ? std::move(*c) : nullptr;
  }
  const fs::path& socket() const { return socket_; }
  std::string log() const { return read_all(log_); }

 private:
  const TempDir& dir_;
  fs::path socket_, log_;
  pid_t pid_ = -1;
  int exit_code_ = 0;
};

// A model of the fixture plugin in `dir`/models/<id>: `file` sets its
// behaviour (tests/fixtures/plugins/fixture_plugin.cpp), `yml` adds to its
// model.yml.
inline void write_fixture_model(const TempDir& dir, const std::string& id, const std::string& file,
                                const std::string& yml = "") {
  dir.write("models/" + id + "/model.fixture", file);
  dir.write("models/" + id + "/model.yml", "format: fixture\nfiles: [model.fixture]\n" + yml);
}

inline ipc::InferRequest identity_request(float base, const std::string& model = "identity") {
  ipc::InferRequest r;
  r.set_model_id(model);
  auto t = Tensor::zeros("input", MRT_DTYPE_FLOAT32, {1, 4});
  for (int i = 0; i < 4; ++i) t->data_as<float>()[i] = base + static_cast<float>(i);
  vnode::tensor_to_proto(*t, r.mutable_tensors()->add_tensors());
  return r;
}

inline ipc::InferRequest text_request(const std::string& model, const std::string& prompt, uint64_t seed, bool stream) {
  ipc::InferRequest r;
  r.set_model_id(model);
  r.mutable_text()->set_prompt(prompt);
  r.mutable_text()->mutable_params()->set_seed(seed);
  r.mutable_options()->set_stream(stream);
  return r;
}

inline float first_output(const ipc::InferResponse& r) {
  float v = -1;
  if (r.tensors().tensors_size() == 1 && r.tensors().tensors(0).inline_data().size() == 16)
    std::memcpy(&v, r.tensors().tensors(0).inline_data().data(), 4);
  return v;
}

// Sends a request to the 300 ms "slow" model on `c` without waiting for it:
// it holds the one worker of the test daemons for that long.
inline void start_slow_request(Client& c, uint64_t id = 1) {
  ipc::ClientFrame f;
  f.set_request_id(id);
  *f.mutable_infer() = identity_request(1, "slow");
  EXPECT_TRUE(c.send(f).is_ok());
}

}  // namespace mrt::test
