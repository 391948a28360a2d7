// `mrt` against the real daemon, as a script or a user at a terminal runs
// it: exit statuses by error class, --json on every command, classify's
// and generate's output, and the progress line of a slow load.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

#include "daemon_fixture.h"
#include "mrt/core/npy.h"

namespace mrt {
namespace {

using test::Daemon;
using Json = nlohmann::json;

struct Run {
  int status;
  std::string out, err;
};

// Runs a shell command with stdout and stderr apart (neither a terminal).
Run sh(const test::TempDir& dir, const std::string& command) {
  std::string out = (dir.path() / "mrt.out").string(), err = (dir.path() / "mrt.err").string();
  int status = std::system(("{ " + command + "; } >" + out + " 2>" + err).c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, test::read_all(out), test::read_all(err)};
}
Run mrt(const test::TempDir& dir, const std::string& args) { return sh(dir, std::string(MRT_EXE) + " " + args); }
// The same at a terminal: util-linux's script(1) runs it on a pty, whose
// output (stdout and stderr together) becomes script's stdout.
Run mrt_on_tty(const test::TempDir& dir, const std::string& args) {
  return sh(dir, "script -qec \"" + std::string(MRT_EXE) + " " + args + "\" /dev/null");
}

Json parse(const Run& r) {
  Json j = Json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not one JSON document: " << r.out << r.err;
  return j;
}

class CliServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::write_fixture_model(dir, "identity", "bytes=1000\n");
    test::write_fixture_model(dir, "slow", "exec_ms=300\n");
    test::write_fixture_model(dir, "slow-load", "load_ms=1600\n");
    test::write_fixture_model(dir, "huge", "bytes=200000000\n");  // over the test manifest's 64 MB
    test::write_fixture_model(dir, "short-talker", "words=5\n", "task: text-generation\n");
    test::write_fixture_model(dir, "colours", "image=8\n",
                              "task: classification\n"
                              "preprocess: {kind: image, width: 8, height: 8, resize: exact, channels: 3, layout: nchw, "
                              "scale: 0.00392156862745098, mean: [0.0, 0.0, 0.0], std: [1.0, 1.0, 1.0]}\n"
                              "postprocess: {kind: classification, top_k: 2, labels: labels.txt}\n");
    dir.write("models/colours/labels.txt", "red\ngreen\nblue\nnone\n");
    // An 8x8 red PPM (the image stage reads PPM too).
    std::string ppm = "P6\n8 8\n255\n";
    for (int i = 0; i < 64; ++i) ppm += std::string("\xfa\x0a\x0a", 3);
    dir.write("red.ppm", ppm);
    auto x = Tensor::zeros("input", MRT_DTYPE_FLOAT32, {1, 4});
    ASSERT_TRUE(write_npy(dir.path() / "x.npy", *x).is_ok());
  }
  std::string sock(const Daemon& d) const { return "--socket " + d.socket().string() + " "; }
  test::TempDir dir;
};

TEST_F(CliServiceTest, ExitStatusTellsTheErrorClass) {
  Daemon d(dir, {});
  std::string s = sock(d);
  EXPECT_EQ(mrt(dir, s + "health").status, 0);
  EXPECT_EQ(mrt(dir, "--socket " + (dir.path() / "nobody.sock").string() + " health").status, 4);  // unavailable
  EXPECT_EQ(mrt(dir, s + "load no-such-model").status, 3);                                         // not found
  EXPECT_EQ(mrt(dir, s + "load 'bad/id'").status, 2);                                              // invalid argument
  EXPECT_EQ(mrt(dir, "frobnicate").status, 2);                                                     // bad command line
  EXPECT_EQ(mrt(dir, s + "rm identity").status, 5);  // a system model: nobody removes it over IPC
  EXPECT_EQ(mrt(dir, s + "load huge").status, 6);    // cannot fit the cache budget
  EXPECT_EQ(mrt(dir, s + "--timeout-ms 50 run slow --input " + (dir.path() / "x.npy").string()).status, 7);
  auto help = mrt(dir, "--help");
  EXPECT_EQ(help.status, 0);
  for (const char* line : {"Exit status:", "3  not found", "4  unavailable", "5  permission denied",
                           "6  resource exhausted", "--json"})
    EXPECT_NE(help.out.find(line), std::string::npos) << line << "\n" << help.out;
  // The error, with --json, is the one JSON object on stdout.
  auto r = mrt(dir, s + "--json load no-such-model");
  EXPECT_EQ(r.status, 3);
  Json j = parse(r);
  EXPECT_EQ(j["error"]["code"], "NOT_FOUND");
  EXPECT_EQ(j["error"]["exit_code"], 3);
  EXPECT_NE(r.err.find("NOT_FOUND"), std::string::npos) << r.err;
}

TEST_F(CliServiceTest, EveryCommandSpeaksJson) {
  Daemon d(dir, {});
  std::string s = sock(d) + "--json ";
  Json j = parse(mrt(dir, s + "health"));
  EXPECT_EQ(j["serving"], true);
  EXPECT_EQ(j["aid"], std::to_string(getuid()));
  j = parse(mrt(dir, s + "models"));
  std::set<std::string> ids;
  for (const auto& m : j["models"]) ids.insert(m["model_id"].get<std::string>());
  EXPECT_TRUE(ids.count("identity") && ids.count("colours")) << j;
  j = parse(mrt(dir, s + "load identity"));
  EXPECT_EQ(j["loaded"], true);
  EXPECT_EQ(j["inputs"][0]["name"], "input");
  EXPECT_EQ(j["inputs"][0]["dtype"], "float32");
  j = parse(mrt(dir, s + "info identity"));
  EXPECT_EQ(j["model_id"], "identity");
  j = parse(mrt(dir, s + "run identity --input " + (dir.path() / "x.npy").string() + " -o " +
                     (dir.path() / "out").string()));
  EXPECT_EQ(j["outputs"][0]["name"], "output");
  EXPECT_EQ(j["outputs"][0]["dims"], Json::array({1, 4}));
  EXPECT_TRUE(std::filesystem::exists(j["outputs"][0]["file"].get<std::string>()));
  j = parse(mrt(dir, s + "classify colours " + (dir.path() / "red.ppm").string()));
  ASSERT_EQ(j["images"].size(), 1u) << j;
  EXPECT_EQ(j["images"][0]["classes"][0]["label"], "red");
  EXPECT_GT(j["images"][0]["classes"][0]["score"].get<double>(), 0.5);
  auto gen = mrt(dir, s + "generate short-talker --prompt hello --seed 4");
  j = parse(gen);
  EXPECT_EQ(j["finish_reason"], "length");
  EXPECT_EQ(j["generated_tokens"], 5);
  EXPECT_EQ(j["text"].get<std::string>().size() > 0, true);
  j = parse(mrt(dir, s + "metrics"));
  bool found = false;
  for (const auto& sample : j["samples"])
    found |= sample["name"] == "generation_tokens_total" && sample["labels"]["model"] == "short-talker" &&
             sample["value"] == 5;
  EXPECT_TRUE(found) << j.dump().substr(0, 2000);
  j = parse(mrt(dir, s + "unload identity"));
  EXPECT_EQ(j["unloaded"], "identity");
  j = parse(mrt(dir, "--json plugins --plugin-file " + test::fixture_plugin("good").string()));
  EXPECT_TRUE(j["plugins"].is_array() && !j["plugins"].empty()) << j;
}

// An input larger than a frame (the test daemon's is 1 MiB) goes in a
// memfd, and the output as large comes back in the plugin worker's: the
// file mrt writes holds the input's values.
TEST_F(CliServiceTest, RunSendsLargeInputsInAMemfd) {
  Daemon d(dir, {});
  auto x = Tensor::zeros("input", MRT_DTYPE_FLOAT32, {100000, 4});  // 1.6 MB
  for (uint64_t i = 0; i < x->element_count(); ++i) x->data_as<float>()[i] = static_cast<float>(i) * 0.25f;
  ASSERT_TRUE(write_npy(dir.path() / "big.npy", *x).is_ok());
  auto r = mrt(dir, sock(d) + "--json run identity --input " + (dir.path() / "big.npy").string() + " -o " +
                        (dir.path() / "big-out").string());
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  Json j = parse(r);
  auto out = read_npy(j["outputs"][0]["file"].get<std::string>(), "output");
  ASSERT_TRUE(out) << out.status().to_string();
  ASSERT_EQ(out->byte_size(), x->byte_size());
  EXPECT_EQ(std::memcmp(std::as_const(*out).data(), std::as_const(*x).data(), x->byte_size()), 0);
}

TEST_F(CliServiceTest, ClassifyPrintsLabelAndScoreWithoutTheIndex) {
  Daemon d(dir, {});
  auto r = mrt(dir, sock(d) + "classify colours " + (dir.path() / "red.ppm").string());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("red.ppm:\n  red 0."), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("class"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("batch"), std::string::npos) << r.out;
}

TEST_F(CliServiceTest, GenerateEndsWithFinishReasonAndCountsOnStderr) {
  Daemon d(dir, {});
  auto r = mrt(dir, sock(d) + "generate short-talker --prompt hello --seed 4");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), ' '), 5) << r.out;  // five words, streamed
  EXPECT_EQ(r.err, "finish_reason=length prompt_tokens=1 generated_tokens=5\n");
}

// On a terminal (util-linux's `script` gives mrt one), a load that takes
// over a second shows a progress line and ends with how long it took; a
// pipe sees nothing of it, and neither does a fast load.
TEST_F(CliServiceTest, SlowLoadsShowProgressOnATerminalOnly) {
  if (std::system("command -v script >/dev/null 2>&1") != 0) GTEST_SKIP() << "no script(1)";
  Daemon d(dir, {});
  auto tty = mrt_on_tty(dir, sock(d) + "load slow-load");
  EXPECT_NE(tty.out.find("loading slow-load"), std::string::npos) << tty.out;
  // The fixture's load takes a second or more (more under a sanitizer or a busy machine).
  size_t took = tty.out.find("loaded slow-load in ");
  ASSERT_NE(took, std::string::npos) << tty.out;
  EXPECT_GE(std::atof(tty.out.c_str() + took + std::strlen("loaded slow-load in ")), 1.0) << tty.out;
  ASSERT_EQ(mrt(dir, sock(d) + "unload slow-load").status, 0);
  auto piped = mrt(dir, sock(d) + "load slow-load");
  EXPECT_EQ(piped.status, 0);
  EXPECT_EQ(piped.err, "");
  auto fast = mrt_on_tty(dir, sock(d) + "load identity");
  EXPECT_EQ(fast.out.find("loading"), std::string::npos) << fast.out;
}

}  // namespace
}  // namespace mrt
