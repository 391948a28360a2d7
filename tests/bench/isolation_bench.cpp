// What running plugins in worker processes costs (issue 23), measured in one
// run against the same service with `plugins: {isolation: in-process}`:
//
//   isolation-bench --daemon build/vnode/model-runtime.vnode --models models
//                   --vnode-yml vnode/model-runtime/vnode.yml
//                   [--model iris-dense] [--requests 3000] [--repeats 3] [--starts 9]
//                   [--heavy MODEL_ID]... [--heavy-requests 20] [--prompt TEXT --tokens N]
//
// Prints, per mode: time from exec to the first accepted connection
// ("ready"), the daemon's RSS once ready and after serving (its workers are
// other processes and are listed apart), the round trip of a tiny model
// (p50/p99), and for each --heavy model the mean latency (a text model:
// the time to generate --tokens tokens). Medians over --repeats runs; the
// isolation budgets are checked: ready ≤ 50 ms, idle RSS ≤ 20 MB,
// tiny-model p50 ≤ +15 µs, heavy models ≤ +3 %.
#include <CLI/CLI.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "client.h"
#include "mrt/core/npy.h"
#include "ping_pong.h"
#include "proto_convert.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
using mrt::bench::median;
double pct(std::vector<double> v, double p) { return mrt::bench::percentile(std::move(v), p); }

double rss_mb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/statm");
  uint64_t size = 0, resident = 0;
  in >> size >> resident;
  return static_cast<double>(resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE))) / (1 << 20);
}

// The daemon's child processes (its plugin workers) and their RSS.
double children_rss_mb(pid_t parent) {
  double total = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string name = e.path().filename();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    std::getline(stat, line);
    size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) total += rss_mb(std::stoi(name));
  }
  return total;
}

struct Daemon {
  pid_t pid = -1;
  fs::path dir, sock;
  double ready_ms = 0;
  std::unique_ptr<mrt::client::Client> client;

  Daemon(const std::string& exe, const std::string& models, const fs::path& manifest, const fs::path& tmp) {
    dir = tmp;
    fs::create_directories(dir);
    sock = dir / "svc.sock";
    fs::remove(sock);
    auto t0 = Clock::now();
    pid = fork();
    if (pid == 0) {
      execl(exe.c_str(), exe.c_str(), "--socket", sock.c_str(), "--state-dir", (dir / "state").c_str(),
            "--system-models", models.c_str(), "--manifest", manifest.c_str(), "--log-level", "error",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 20000 && !client; ++i) {
      if (auto c = mrt::client::Client::connect(sock)) client = std::move(*c);
      else std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    ready_ms = ms(Clock::now() - t0);
  }
  ~Daemon() {
    client.reset();
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      int status = 0;
      waitpid(pid, &status, 0);
    }
  }
};

// Every reference/inputs/<name>.npy of a model, as the request's tensors.
mrt::Status add_reference_inputs(const fs::path& model_dir, mrt::ipc::InferRequest& req) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(model_dir / "reference" / "inputs", ec)) {
    if (e.path().extension() != ".npy") continue;
    auto t = mrt::read_npy(e.path(), e.path().stem().string());
    if (!t) return t.status();
    mrt::vnode::tensor_to_proto(*t, req.mutable_tensors()->add_tensors());
  }
  if (ec || req.tensors().tensors_size() == 0) return mrt::not_found("no reference/inputs/*.npy in " + model_dir.string());
  return mrt::Status::ok();
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"isolation-bench: the cost of plugin worker processes against in-process plugins"};
  std::string daemon, models, vnode_yml, model = "iris-dense", prompt = "Once upon a time";
  std::vector<std::string> heavy;
  int requests = 3000, repeats = 3, starts = 9, heavy_requests = 20, tokens = 64;
  app.add_option("--daemon", daemon, "model-runtime.vnode binary")->required();
  app.add_option("--models", models, "system models directory")->required();
  app.add_option("--vnode-yml", vnode_yml, "the shipped vnode.yml (its plugins: section is switched per mode)")->required();
  app.add_option("--model", model, "tiny model for round trips (needs reference/inputs/x.npy)");
  app.add_option("--heavy", heavy, "more models: mean latency per mode (text models: --tokens tokens)");
  app.add_option("--requests", requests, "round trips per run");
  app.add_option("--heavy-requests", heavy_requests, "requests per heavy model per run");
  app.add_option("--repeats", repeats, "runs per figure (median reported)");
  app.add_option("--starts", starts, "daemon starts for the ready time and RSS");
  app.add_option("--prompt", prompt, "prompt for text models");
  app.add_option("--tokens", tokens, "tokens generated per text request");
  CLI11_PARSE(app, argc, argv);

  fs::path tmp = fs::temp_directory_path() / ("mrt-isolation-bench-" + std::to_string(getpid()));
  fs::create_directories(tmp);
  std::string shipped = slurp(vnode_yml);
  if (shipped.find("isolation: process") == std::string::npos)
    return std::fprintf(stderr, "%s has no 'isolation: process' line to switch\n", vnode_yml.c_str()), 1;
  // Room in the cache for the --heavy models (the shipped budget is 256 MB).
  if (size_t at = shipped.find("required_mem_mb:"); at != std::string::npos) {
    size_t start = at + 16, end = shipped.find_first_of("#\n", start);
    shipped.replace(start, end - start, " 4096   ");
  }
  std::string in_process = shipped;
  in_process.replace(in_process.find("isolation: process"), 18, "isolation: in-process");
  const fs::path manifests[2] = {tmp / "process.yml", tmp / "in-process.yml"};
  std::ofstream(manifests[0]) << shipped;
  std::ofstream(manifests[1]) << in_process;
  const char* names[2] = {"process", "in-process"};

  mrt::ipc::InferRequest tiny;
  tiny.set_model_id(model);
  if (mrt::Status st = add_reference_inputs(fs::path(models) / model, tiny); !st.is_ok())
    return std::fprintf(stderr, "%s\n", st.to_string().c_str()), 1;

  // Startup: ready time and RSS, per mode.
  std::printf("%-11s %10s %14s %16s %16s\n", "isolation", "ready ms", "RSS ready MB", "RSS serving MB", "workers RSS MB");
  double ready[2], rss_ready[2], rss_serving[2];
  for (int mode = 0; mode < 2; ++mode) {
    std::vector<double> r, a, b, w;
    for (int i = 0; i < starts; ++i) {
      Daemon d(daemon, models, manifests[mode], tmp / ("start-" + std::to_string(mode)));
      if (!d.client) return std::fprintf(stderr, "daemon did not start\n"), 1;
      r.push_back(d.ready_ms);
      a.push_back(rss_mb(d.pid));
      if (i == 0 || i == starts - 1) {
        for (int k = 0; k < 20; ++k)
          if (auto answer = d.client->infer(tiny); !answer)
            return std::fprintf(stderr, "tiny model failed: %s\n", answer.status().to_string().c_str()), 1;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        b.push_back(rss_mb(d.pid));
        w.push_back(children_rss_mb(d.pid));
      }
    }
    ready[mode] = median(r);
    rss_ready[mode] = median(a);
    rss_serving[mode] = median(b);
    std::printf("%-11s %10.1f %14.1f %16.1f %16.1f\n", names[mode], ready[mode], rss_ready[mode], rss_serving[mode], median(w));
  }
  std::printf("ready %.1f ms (target ≤ 50: %s); idle RSS %.1f MB (target ≤ 20: %s)\n", ready[0], ready[0] <= 50 ? "met" : "NOT met",
              rss_ready[0], rss_ready[0] <= 20 ? "met" : "NOT met");

  // Round trips and heavy models: both daemons up, runs alternating.
  Daemon process(daemon, models, manifests[0], tmp / "process");
  Daemon inproc(daemon, models, manifests[1], tmp / "in-process");
  Daemon* ds[2] = {&process, &inproc};
  std::vector<double> p50[2], p99[2], floor_p50;
  for (int r = 0; r < repeats; ++r) {
    floor_p50.push_back(mrt::bench::raw_ping_pong(tmp / "raw.sock", 64, requests).p50);
    for (int mode = 0; mode < 2; ++mode) {
      std::vector<double> us;
      for (int i = 0; i < requests + 200; ++i) {
        auto t0 = Clock::now();
        if (!ds[mode]->client->infer(tiny)) return std::fprintf(stderr, "tiny model failed\n"), 1;
        if (i >= 200) us.push_back(ms(Clock::now() - t0) * 1000);
      }
      p50[mode].push_back(pct(us, 0.5));
      p99[mode].push_back(pct(us, 0.99));
    }
  }
  std::printf("\n%s round trip, %d requests × %d runs\n%-11s %10s %10s\n", model.c_str(), requests, repeats, "isolation",
              "p50 µs", "p99 µs");
  for (int mode = 0; mode < 2; ++mode) std::printf("%-11s %10.1f %10.1f\n", names[mode], median(p50[mode]), median(p99[mode]));
  std::printf("%-11s %10.1f\n", "ping-pong", median(floor_p50));
  double added = median(p50[0]) - median(p50[1]);
  std::printf("process − in-process p50 = %+.1f µs (budget ≤ +15: %s); one raw round trip between two processes "
              "here: %.1f µs\n", added, added <= 15 ? "met" : "NOT met", median(floor_p50));

  for (const auto& id : heavy) {
    bool text = fs::exists(fs::path(models) / id / "tokenizer.json") || fs::exists(fs::path(models) / id / "tokenizer.bin");
    mrt::ipc::InferRequest req;
    req.set_model_id(id);
    if (text) {
      req.mutable_text()->set_prompt(prompt);
      req.mutable_text()->mutable_params()->set_max_tokens(tokens);
      req.mutable_text()->mutable_params()->set_seed(1);
    } else {
      if (mrt::Status st = add_reference_inputs(fs::path(models) / id, req); !st.is_ok())
        return std::fprintf(stderr, "%s: %s\n", id.c_str(), st.to_string().c_str()), 1;
    }
    std::vector<double> mean[2];
    for (int mode = 0; mode < 2; ++mode)
      if (!ds[mode]->client->infer(req)) return std::fprintf(stderr, "%s failed\n", id.c_str()), 1;  // load, warm
    for (int r = 0; r < repeats; ++r)
      for (int mode = 0; mode < 2; ++mode) {
        auto t0 = Clock::now();
        for (int i = 0; i < heavy_requests; ++i)
          if (!ds[mode]->client->infer(req)) return std::fprintf(stderr, "%s failed\n", id.c_str()), 1;
        mean[mode].push_back(ms(Clock::now() - t0) / heavy_requests);
      }
    double ratio = median(mean[0]) / median(mean[1]);
    std::printf("%s%s: process %.2f ms, in-process %.2f ms per request: %+.1f %% (budget ≤ +3 %%: %s)\n", id.c_str(),
                text ? " (text)" : "", median(mean[0]), median(mean[1]), (ratio - 1) * 100, ratio <= 1.03 ? "met" : "NOT met");
  }
  fs::remove_all(tmp);
  return 0;
}
