// mrt --bench: timing runs and reporting them as a `bench:` line
// (scripts/bench-* parse it) or as the --json object's `bench` field.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "mrt/core/runtime.h"
#include "mrt/core/status.h"

namespace mrt::cli {

using Json = nlohmann::ordered_json;

double percentile(std::vector<double> v, double p);
// `bench: k=v ...` in the object's order: ms to 4 decimals, load and reload
// to 2, tokens/s to 1.
void print_bench_line(const Json& bench);
// {model, via[, plugin], threads, iterations, median_ms, p90_ms, min_ms[,
// load_ms][, reload_ms]}: `load_ms` < 0: not measured (the service loaded
// the model earlier); `reload_ms`: the same load again in this now warm
// process (< 0: not done).
Json bench_json(const std::string& model, const std::string& via, const std::string& plugin, int threads,
                const std::vector<double>& ms, double load_ms = -1, double reload_ms = -1);
// Prefill and decode tokens/s of a text model, medians over `runs` runs
// after a warm-up: {prompt_tokens, generated, runs, prefill_tok_s, decode_tok_s}.
Result<Json> bench_generation(Runtime& rt, InferRequest& request, int runs);

// Times `once` after a warm-up; `once` returns false on failure. `paced`:
// after the warm-up it prints `bench-ready`, then for each line on stdin
// (a count k, empty for 1) makes k timed runs, printing `run_ms=…` after
// each, until n runs are timed or stdin ends. A benchmark script thus
// alternates short blocks of runs with a peer's, each pair of blocks seeing
// the same machine state (this machine's neighbours move timings by ±20%
// within seconds).
template <typename F>
Result<std::vector<double>> time_runs(int n, F&& once, bool paced = false) {
  auto timed = [&](std::vector<double>& ms) -> Status {
    auto t0 = std::chrono::steady_clock::now();
    MRT_RETURN_IF_ERROR(once());
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    return Status::ok();
  };
  std::vector<double> warm, ms;
  for (int i = 0; i < std::max(3, n / 10); ++i) MRT_RETURN_IF_ERROR(timed(warm));
  if (!paced) {
    while (static_cast<int>(ms.size()) < n) MRT_RETURN_IF_ERROR(timed(ms));
    return ms;
  }
  std::printf("bench-ready\n");
  std::fflush(stdout);
  std::string line;
  while (static_cast<int>(ms.size()) < n && std::getline(std::cin, line)) {
    int k = line.empty() ? 1 : std::atoi(line.c_str());
    for (int j = 0; j < std::max(1, k) && static_cast<int>(ms.size()) < n; ++j) {
      MRT_RETURN_IF_ERROR(timed(ms));
      std::printf("run_ms=%.4f\n", ms.back());
    }
    std::fflush(stdout);
  }
  if (ms.empty()) return failed_precondition("no timed run (stdin ended before the first)");
  return ms;
}

}  // namespace mrt::cli
