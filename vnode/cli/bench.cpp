#include "bench.h"

namespace mrt::cli {

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void print_bench_line(const Json& bench) {
  std::string line = "bench:";
  for (const auto& [key, v] : bench.items()) {
    char buf[64];
    if (v.is_string()) {
      line += " " + key + "=" + v.get<std::string>();
      continue;
    }
    if (v.is_number_integer()) std::snprintf(buf, sizeof buf, "%lld", v.get<long long>());
    else if (key == "load_ms" || key == "reload_ms") std::snprintf(buf, sizeof buf, "%.2f", v.get<double>());
    else if (key.size() > 6 && key.ends_with("_tok_s")) std::snprintf(buf, sizeof buf, "%.1f", v.get<double>());
    else std::snprintf(buf, sizeof buf, "%.4f", v.get<double>());
    line += " " + key + "=" + buf;
  }
  std::printf("%s\n", line.c_str());
}

Json bench_json(const std::string& model, const std::string& via, const std::string& plugin, int threads,
                const std::vector<double>& ms, double load_ms, double reload_ms) {
  Json b = {{"model", model}, {"via", via}};
  if (!plugin.empty()) b["plugin"] = plugin;
  b["threads"] = threads;
  b["iterations"] = ms.size();
  b["median_ms"] = percentile(ms, 0.5);
  b["p90_ms"] = percentile(ms, 0.9);
  b["min_ms"] = percentile(ms, 0.0);
  if (load_ms >= 0) b["load_ms"] = load_ms;
  if (reload_ms >= 0) b["reload_ms"] = reload_ms;
  return b;
}

namespace {
double median_of(std::vector<double> v) { return percentile(std::move(v), 0.5); }
}  // namespace

// The time to the first streamed chunk is the prefill (and sampling the
// first token from its logits); the rest is decode. Each run's prompt
// starts with its own number, so that a plugin's prompt cache (the raw
// plugin keeps recent prompts' KV entries) cannot spare a run its prefill:
// the figure is a cold prompt's.
Result<Json> bench_generation(Runtime& rt, InferRequest& request, int runs) {
  std::vector<double> prefill, decode;
  int prompt_tokens = 0, generated = 0;
  const std::string prompt = request.text;
  for (int i = 0; i < runs + 1; ++i) {  // the first run warms up
    request.text = std::to_string(i) + ". " + prompt;
    auto t0 = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point first{};
    request.on_text = [&](std::string_view) {
      if (first == std::chrono::steady_clock::time_point{}) first = std::chrono::steady_clock::now();
      return Status::ok();
    };
    auto r = rt.infer(request);
    auto t1 = std::chrono::steady_clock::now();
    if (!r) {
      request.text = prompt;
      return r.status();
    }
    if (i == 0 || first == std::chrono::steady_clock::time_point{} || r->text->generated_tokens < 2) continue;
    prompt_tokens = r->text->prompt_tokens;
    generated = r->text->generated_tokens;
    prefill.push_back(prompt_tokens / std::chrono::duration<double>(first - t0).count());
    decode.push_back((generated - 1) / std::chrono::duration<double>(t1 - first).count());
  }
  request.text = prompt;
  if (prefill.empty()) return failed_precondition("the model stopped before 2 tokens; nothing to time");
  // Medians of the runs.
  return Json{{"prompt_tokens", prompt_tokens},
              {"generated", generated},
              {"runs", prefill.size()},
              {"prefill_tok_s", median_of(prefill)},
              {"decode_tok_s", median_of(decode)}};
}

}  // namespace mrt::cli
