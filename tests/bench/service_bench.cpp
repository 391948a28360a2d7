// Round-trip latency and throughput of the service, against the same call
// in-process and a raw Unix-socket ping-pong, measured in one run.
//
//   service-bench --daemon build/vnode/model-runtime.vnode --models models
//                 [--model iris-dense] [--requests 5000] [--seconds 2] [--repeats 3]
//
// Prints p50/p99 of each path, the ratios the service issue sets targets on
// (p50 ≤ 3× ping-pong; < 30 µs added over in-process), and requests/s with
// 1, 4 and 16 clients. Each figure is the median over --repeats runs.
#include <CLI/CLI.hpp>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include "client.h"
#include "ping_pong.h"
#include "mrt/core/log.h"
#include "mrt/core/npy.h"
#include "mrt/core/runtime.h"
#include "plugin_search.h"
#include "proto_convert.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }
using mrt::bench::median;
double pct(std::vector<double> v, double p) { return mrt::bench::percentile(std::move(v), p); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"service-bench: model-runtime round trips against in-process calls and a raw socket"};
  std::string daemon, models, model = "iris-dense";
  int requests = 5000, repeats = 3;
  double seconds = 2;
  app.add_option("--daemon", daemon, "model-runtime.vnode binary")->required();
  app.add_option("--models", models, "system models directory")->required();
  app.add_option("--model", model, "model_id to call");
  app.add_option("--requests", requests, "round trips per latency run");
  app.add_option("--seconds", seconds, "duration of each throughput run");
  app.add_option("--repeats", repeats, "runs per figure (the median is reported)");
  CLI11_PARSE(app, argc, argv);
  mrt::set_log_level(mrt::LogLevel::kError);

  auto input = mrt::read_npy(fs::path(models) / model / "reference" / "inputs" / "x.npy", "x");
  if (!input) {
    std::fprintf(stderr, "%s\n", input.status().to_string().c_str());
    return 1;
  }
  input = mrt::read_npy(fs::path(models) / model / "reference" / "inputs" / "x.npy", "x");

  // In-process: the Runtime call the service makes, with nothing around it.
  mrt::RuntimeConfig rc;
  rc.plugin_files = mrt::builtin_plugin_files();
  (void)rc.vfs.add_mount({"/models", models, true});
  auto rt = mrt::Runtime::create(std::move(rc));
  mrt::InferRequest local;
  local.model_id = model;
  local.tensors.push_back(std::move(*input));
  std::vector<double> in_p50, in_p99;
  for (int r = 0; r < repeats; ++r) {
    std::vector<double> us;
    for (int i = 0; i < requests + 100; ++i) {
      auto t0 = Clock::now();
      auto res = (*rt)->infer(local);
      if (!res) return std::fprintf(stderr, "%s\n", res.status().to_string().c_str()), 1;
      if (i >= 100) us.push_back(micros(Clock::now() - t0));
    }
    in_p50.push_back(pct(us, 0.5));
    in_p99.push_back(pct(us, 0.99));
  }

  // The daemon, on a private socket.
  fs::path tmp = fs::temp_directory_path() / ("mrt-bench-" + std::to_string(getpid()));
  fs::create_directories(tmp);
  fs::path sock = tmp / "svc.sock";
  pid_t pid = fork();
  if (pid == 0) {
    execl(daemon.c_str(), daemon.c_str(), "--socket", sock.c_str(), "--state-dir", (tmp / "state").c_str(),
          "--system-models", models.c_str(), "--log-level", "error", static_cast<char*>(nullptr));
    _exit(127);
  }
  std::unique_ptr<mrt::client::Client> client;
  for (int i = 0; i < 200 && !client; ++i) {
    if (auto c = mrt::client::Client::connect(sock)) client = std::move(*c);
    else std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!client) return std::fprintf(stderr, "daemon did not start\n"), 1;
  mrt::ipc::InferRequest req;
  req.set_model_id(model);
  mrt::vnode::tensor_to_proto(local.tensors[0], req.mutable_tensors()->add_tensors());
  std::string frame_bytes;
  {
    mrt::ipc::ClientFrame f;
    *f.mutable_infer() = req;
    f.SerializeToString(&frame_bytes);
  }
  std::vector<double> svc_p50, svc_p99, raw_p50, raw_p99;
  for (int r = 0; r < repeats; ++r) {
    std::vector<double> us;
    for (int i = 0; i < requests + 100; ++i) {
      auto t0 = Clock::now();
      auto res = client->infer(req);
      if (!res) return std::fprintf(stderr, "%s\n", res.status().to_string().c_str()), 1;
      if (i >= 100) us.push_back(micros(Clock::now() - t0));
    }
    svc_p50.push_back(pct(us, 0.5));
    svc_p99.push_back(pct(us, 0.99));
    mrt::bench::Latency raw = mrt::bench::raw_ping_pong(tmp / "raw.sock", frame_bytes.size() + 4, requests);
    raw_p50.push_back(raw.p50);
    raw_p99.push_back(raw.p99);
  }

  std::printf("model %s, %zu-byte request frames, %d round trips × %d runs (medians of runs)\n", model.c_str(),
              frame_bytes.size() + 4, requests, repeats);
  std::printf("%-34s %10s %10s\n", "path", "p50 µs", "p99 µs");
  std::printf("%-34s %10.1f %10.1f\n", "raw unix-socket ping-pong (2 procs)", median(raw_p50), median(raw_p99));
  std::printf("%-34s %10.1f %10.1f\n", "in-process Runtime::infer", median(in_p50), median(in_p99));
  std::printf("%-34s %10.1f %10.1f\n", "service round trip", median(svc_p50), median(svc_p99));
  double ratio = median(svc_p50) / median(raw_p50);
  double added = median(svc_p50) - median(in_p50);
  std::printf("service p50 / ping-pong p50 = %.2fx (target ≤ 3x: %s)\n", ratio, ratio <= 3 ? "met" : "NOT met");
  std::printf("service p50 − in-process p50 = %.1f µs (target < 30 µs: %s)\n", added, added < 30 ? "met" : "NOT met");

  std::printf("%-10s %14s\n", "clients", "requests/s");
  for (int clients : {1, 4, 16}) {
    std::vector<double> rates;
    for (int r = 0; r < repeats; ++r) {
      std::atomic<uint64_t> done{0};
      std::atomic<bool> stop{false};
      std::vector<std::thread> threads;
      for (int c = 0; c < clients; ++c)
        threads.emplace_back([&] {
          auto cl = mrt::client::Client::connect(sock);
          if (!cl) return;
          while (!stop) {
            if ((*cl)->infer(req)) ++done;
          }
        });
      auto t0 = Clock::now();
      std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
      stop = true;
      for (auto& t : threads) t.join();
      rates.push_back(static_cast<double>(done) / std::chrono::duration<double>(Clock::now() - t0).count());
    }
    std::printf("%-10d %14.0f\n", clients, median(rates));
  }
  client.reset();
  ::kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  fs::remove_all(tmp);
  return 0;
}
