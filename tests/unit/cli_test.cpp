// The `mrt` command as a user runs it: run a model, write .npy outputs,
// list plugins, and fail clearly on bad input.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "mrt/core/npy.h"
#include "test_support.h"

namespace mrt {
namespace {

namespace fs = std::filesystem;

struct Output {
  int status;
  std::string text;
};

// `mrt <args>` with stderr sent where `stderr_redirect` says; its stdout.
Output run_mrt_redirected(const std::string& args, const std::string& stderr_redirect) {
  FILE* p = popen((std::string(MRT_EXE) + " " + args + " " + stderr_redirect).c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// `mrt <args>`'s stdout and stderr together.
Output run_mrt(const std::string& args) { return run_mrt_redirected(args, "2>&1"); }

TEST(Cli, RunWritesOutputsMatchingReference) {
  test::TempDir out;
  auto model = test::dense_model_dir();
  auto r = run_mrt("run " + model.string() + " --input " + (model / "reference/inputs/x.npy").string() + " --output " +
                   out.path().string() + " --bench 20");
  ASSERT_EQ(r.status, 0) << r.text;
  EXPECT_NE(r.text.find("wrote"), std::string::npos);
  // Label and score per class; "batch N:" since the input holds 5 samples.
  EXPECT_NE(r.text.find("batch 0: setosa 0."), std::string::npos) << r.text;
  EXPECT_EQ(r.text.find("class"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("median_ms="), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("p90_ms="), std::string::npos) << r.text;
  // The fastest run, the median and the 90th percentile come in that order.
  auto field = [&](const std::string& key) {
    size_t at = r.text.find(" " + key + "=");
    return at == std::string::npos ? -1.0 : std::stod(r.text.substr(at + key.size() + 2));
  };
  double fastest = field("min_ms"), median = field("median_ms"), p90 = field("p90_ms");
  EXPECT_GT(fastest, 0) << r.text;
  EXPECT_LE(fastest, median) << r.text;
  EXPECT_LE(median, p90) << r.text;
  auto got = read_npy(out.path() / "probabilities.npy", "");
  auto want = read_npy(model / "reference/outputs/probabilities.npy", "");
  ASSERT_TRUE(got) << got.status().to_string();
  ASSERT_EQ(got->dims(), want->dims());
  for (uint64_t i = 0; i < want->element_count(); ++i) EXPECT_NEAR(got->data_as<float>()[i], want->data_as<float>()[i], 1e-5);
}

// --bench-paced: after the warm-up the CLI says it is ready, then times as
// many runs as each stdin line asks (empty: one), printing each; a bench
// script alternates these blocks with a peer's. Stdin ending stops the
// timing early, and the summary counts only the runs made.
TEST(Cli, PacedBenchRunsWhatStdinAsks) {
  auto model = test::dense_model_dir();
  std::string input = (model / "reference/inputs/x.npy").string();
  test::TempDir dir;
  std::string lines = (dir.path() / "lines").string();
  FILE* f = std::fopen(lines.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("2\n\n", f);
  std::fclose(f);
  auto r = run_mrt("run " + model.string() + " --input " + input + " --bench 10 --bench-paced < " + lines);
  ASSERT_EQ(r.status, 0) << r.text;
  size_t ready = r.text.find("bench-ready\n");
  ASSERT_NE(ready, std::string::npos) << r.text;
  size_t runs = 0;
  for (size_t at = r.text.find("run_ms=", ready); at != std::string::npos; at = r.text.find("run_ms=", at + 1)) ++runs;
  EXPECT_EQ(runs, 3u) << r.text;  // 2, then 1 for the empty line; then stdin ends
  EXPECT_NE(r.text.find("iterations=3 "), std::string::npos) << r.text;
  // No line at all: nothing was timed, which is an error, not a zero.
  r = run_mrt("run " + model.string() + " --input " + input + " --bench 10 --bench-paced < /dev/null");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.text.find("no timed run"), std::string::npos) << r.text;
}

TEST(Cli, NamedInputAndForcedPlugin) {
  test::TempDir out;
  auto model = test::dense_model_dir();
  auto r = run_mrt("run " + (model / "model.dense").string() + " --input x=" + (model / "reference/inputs/x.npy").string() +
                   " -o " + out.path().string() + " --plugin dense --threads 2");
  ASSERT_EQ(r.status, 0) << r.text;
  EXPECT_TRUE(std::filesystem::exists(out.path() / "probabilities.npy"));
}

TEST(Cli, ErrorsAreClearAndNonZero) {
  test::TempDir dir;
  auto model = test::dense_model_dir();
  auto bad_shape = Tensor::zeros("x", MRT_DTYPE_FLOAT32, {1, 7});
  ASSERT_TRUE(write_npy(dir.path() / "bad.npy", *bad_shape).is_ok());
  auto r = run_mrt("run " + model.string() + " --input " + (dir.path() / "bad.npy").string());
  EXPECT_EQ(r.status, 2);  // invalid argument (exit_codes.h)
  EXPECT_NE(r.text.find("INVALID_ARGUMENT: input 'x' must have shape [-1, 4], got [1, 7]"), std::string::npos) << r.text;
  dir.write("junk.npy", "not numpy");
  r = run_mrt("run " + model.string() + " --input " + (dir.path() / "junk.npy").string());
  EXPECT_NE(r.text.find("bad magic"), std::string::npos) << r.text;
  r = run_mrt("run " + (dir.path() / "nothing").string() + " --input " + (dir.path() / "bad.npy").string());
  EXPECT_NE(r.text.find("NOT_FOUND"), std::string::npos) << r.text;
  EXPECT_EQ(r.status, 3);  // not found
  r = run_mrt("run " + model.string() + " --input " + (model / "reference/inputs/x.npy").string() + " --plugin nosuch");
  EXPECT_NE(r.text.find("plugin 'nosuch', which is not loaded"), std::string::npos) << r.text;
}

TEST(Cli, PluginsListsBuiltAndRefused) {
  test::TempDir dir;
  std::filesystem::copy_file(test::fixture_plugin("wrong-major"), dir.path() / "wrong-major.so");
  auto r = run_mrt("plugins --plugin-dir " + dir.path().string());
  ASSERT_EQ(r.status, 0) << r.text;
  EXPECT_NE(r.text.find("dense"), std::string::npos);
  EXPECT_NE(r.text.find("1.0.0"), std::string::npos);
  EXPECT_NE(r.text.find("refused"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("ABI major 2 != host ABI major 1"), std::string::npos) << r.text;
}

// `mrt chat` in-process with the shipped model: each line is a turn, the
// reply streams, /reset and /exit work, and a model without a chat
// template is an error naming why.
// --option KEY=VALUE reaches the plugin as a manifest option over the
// model's own (the raw plugin names a bad kv_cache value), is refused when
// it is not KEY=VALUE, and with --socket (the service reads model.yml).
TEST(Cli, ModelOptionsReachThePlugin) {
  const std::string model = (fs::path(MRT_SOURCE_ROOT) / "tests/fixtures/models/tiny-llama2c").string();
  auto ok = run_mrt("--option kv_cache=f16 generate " + model + " --prompt 'the cat' --max-tokens 4");
  EXPECT_EQ(ok.status, 0) << ok.text;
  auto bad = run_mrt("generate " + model + " --prompt 'the cat' --max-tokens 4 --option kv_cache=f8");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.text.find("option kv_cache 'f8' is not f16 or f32"), std::string::npos) << bad.text;
  auto malformed = run_mrt("--option kv_cache generate " + model + " --prompt x");
  EXPECT_NE(malformed.status, 0);
  EXPECT_NE(malformed.text.find("is not KEY=VALUE"), std::string::npos) << malformed.text;
  auto remote = run_mrt("--socket /nonexistent --option kv_cache=f32 generate tiny --prompt x");
  EXPECT_NE(remote.status, 0);
  EXPECT_NE(remote.text.find("in-process run"), std::string::npos) << remote.text;
}

TEST(Cli, ChatAnswersEachLine) {
  test::TempDir dir;
  {
    std::FILE* f = std::fopen((dir.path() / "lines").c_str(), "w");
    std::fputs("Tell me a fortune\nAnother\n/reset\nOne more\n/exit\nnever read\n", f);
    std::fclose(f);
  }
  auto model = fs::path(MRT_SOURCE_ROOT) / "models/tiny-fortunes";
  auto r = run_mrt("chat " + model.string() + " --max-tokens 12 < " + (dir.path() / "lines").string());
  EXPECT_EQ(r.status, 0) << r.text;
  EXPECT_NE(r.text.find("(conversation cleared)"), std::string::npos) << r.text;
  // Three replies, each ending its line, and no prompt (stdin is not a terminal).
  EXPECT_EQ(std::count(r.text.begin(), r.text.end(), '\n') >= 4, true) << r.text;
  EXPECT_EQ(r.text.find("> "), std::string::npos) << r.text;

  auto none = run_mrt("chat " + (fs::path(MRT_SOURCE_ROOT) / "tests/fixtures/models/tiny-llama-hf").string() + " < " +
                      (dir.path() / "lines").string());
  EXPECT_EQ(none.status, 1) << none.text;
  EXPECT_NE(none.text.find("has no chat template"), std::string::npos) << none.text;
}

// `mrt <args>`'s stdout alone (stderr to `err_file`, or dropped).
Output run_mrt_stdout(const std::string& args, const std::string& err_file = "/dev/null") {
  return run_mrt_redirected(args, "2>" + err_file);
}

// In-process commands speak --json too: one object on stdout, nothing else.
TEST(Cli, InProcessJson) {
  test::TempDir out;
  auto model = test::dense_model_dir();
  auto r = run_mrt_stdout("--json run " + model.string() + " --input " + (model / "reference/inputs/x.npy").string() +
                          " -o " + out.path().string() + " --bench 5");
  ASSERT_EQ(r.status, 0) << r.text;
  auto j = nlohmann::json::parse(r.text, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.text;
  EXPECT_EQ(j["plugin"], "dense");
  EXPECT_EQ(j["outputs"][0]["name"], "probabilities");
  EXPECT_EQ(j["classes"].size(), 15u);  // 5 samples, top 3
  EXPECT_EQ(j["classes"][0]["label"], "setosa");
  EXPECT_EQ(j["bench"]["iterations"], 5);
  EXPECT_GT(j["bench"]["median_ms"].get<double>(), 0);
  // An error is the one object too, with its exit status.
  r = run_mrt_stdout("--json run " + (out.path() / "nothing").string() + " --input " +
                     (model / "reference/inputs/x.npy").string());
  EXPECT_EQ(r.status, 3);
  j = nlohmann::json::parse(r.text, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.text;
  EXPECT_EQ(j["error"]["code"], "NOT_FOUND");
}

// In-process generation ends like the service's: the text on stdout, the
// finish reason and token counts on stderr.
TEST(Cli, InProcessGenerateEndsWithCountsOnStderr) {
  test::TempDir dir;
  std::string model = std::string(MRT_SOURCE_ROOT) + "/tests/fixtures/models/tiny-llama-hf";
  fs::path err = dir.path() / "err";
  auto r = run_mrt_stdout("generate " + model + " --prompt 'the cat sat on the mat' --max-tokens 8 --seed 1", err.string());
  ASSERT_EQ(r.status, 0) << r.text;
  std::ifstream in(err);
  std::string summary((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(summary.find("finish_reason="), std::string::npos) << summary;
  EXPECT_NE(summary.find(" prompt_tokens=7 generated_tokens="), std::string::npos) << summary;
  EXPECT_FALSE(r.text.empty());
}

}  // namespace
}  // namespace mrt
