// model.yml parsing: valid documents and errors that name the key and line.
#include "mrt/core/manifest.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "test_support.h"

namespace mrt {
namespace {

TEST(Manifest, ParsesFullDocument) {
  auto m = parse_model_manifest(R"(
format: onnx
task: classification
files: [model.onnx, weights.bin]
inputs:
  - {name: x, dtype: float32, shape: [-1, 3, 224, 224]}
outputs:
  - {name: logits, dtype: float32, shape: [-1, 1000]}
postprocess: {kind: classification, top_k: 3, labels: labels.txt, softmax: true}
device: [gpu, cpu]
plugin: onednn
options: {precision: fp16, tf32: true}
warmup: {iterations: 2}
)", "m.yml");
  ASSERT_TRUE(m) << m.status().to_string();
  EXPECT_EQ(m->format, "onnx");
  EXPECT_EQ(m->files, (std::vector<std::string>{"model.onnx", "weights.bin"}));
  ASSERT_EQ(m->inputs.size(), 1u);
  EXPECT_EQ(*m->inputs[0].shape, (Dims{-1, 3, 224, 224}));
  EXPECT_EQ(*m->inputs[0].dtype, MRT_DTYPE_FLOAT32);
  EXPECT_EQ(m->postprocess.top_k, 3);
  EXPECT_TRUE(m->postprocess.softmax);
  EXPECT_EQ(m->devices, (std::vector<MRT_DeviceKind>{MRT_DEVICE_GPU, MRT_DEVICE_CPU}));
  EXPECT_EQ(m->options.at("precision"), "fp16");
  EXPECT_EQ(m->warmup_iterations, 2);
}

struct BadCase {
  const char* yaml;
  const char* expected;  // substring of the error
};

class ManifestErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(ManifestErrors, NameTheProblem) {
  auto m = parse_model_manifest(GetParam().yaml, "model.yml");
  ASSERT_FALSE(m) << GetParam().yaml;
  EXPECT_EQ(m.status().code(), MRT_CODE_INVALID_ARGUMENT);
  EXPECT_NE(m.status().message().find(GetParam().expected), std::string::npos) << m.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ManifestErrors,
    ::testing::Values(
        BadCase{"format: onnx\nfromat: x\n", "model.yml:2:1: unknown key 'fromat'"},
        BadCase{"task: tensor\n", "'format' is required"},
        BadCase{"format: [a, b]\n", "'format' must be a string"},
        BadCase{"format: onnx\ninputs:\n  - {name: x, dtype: float33}\n", "model.yml:3:22: unknown dtype 'float33'"},
        BadCase{"format: onnx\ninputs:\n  - {name: x, shape: [1, two]}\n", "'shape' must be an integer"},
        BadCase{"format: onnx\ninputs:\n  - {name: x, shape: [-5]}\n", "shape dimension -5 is invalid"},
        BadCase{"format: onnx\ninputs:\n  - {name: x}\n  - {name: x}\n", "duplicate inputs name 'x'"},
        BadCase{"format: onnx\ninputs:\n  - {dtype: float32}\n", "needs a 'name'"},
        BadCase{"format: onnx\npostprocess: {kind: classification, top_k: 0}\n", "'top_k' must be between"},
        BadCase{"format: onnx\npostprocess: {kind: segmentation}\n", "unknown postprocess kind 'segmentation'"},
        BadCase{"format: onnx\npostprocess: {kind: classification, colour: red}\n", "unknown key 'colour' in postprocess"},
        BadCase{"format: onnx\ndevice: tpu\n", "unknown device 'tpu'"},
        BadCase{"format: onnx\nfiles: [../../etc/passwd]\n", "must be a relative path inside the model directory"},
        BadCase{"format: onnx\nfiles: [/etc/passwd]\n", "must be a relative path"},
        BadCase{"format: onnx\ntask: dance\n", "unknown task 'dance'"},
        BadCase{"format: onnx\nwarmup: {iterations: yes}\n", "'iterations' must be an integer"},
        BadCase{"format: onnx\noptions: {a: [1]}\n", "option 'a' must be a scalar"},
        BadCase{"format: onnx\n  bad indent: [\n", "YAML syntax error"},
        BadCase{"- just\n- a list\n", "must be a YAML mapping"},
        BadCase{"", "must be a YAML mapping"}));

TEST(Manifest, BareFileFormatFromExtension) {
  EXPECT_EQ(manifest_for_bare_file("/x/model.onnx").format, "onnx");
  EXPECT_EQ(manifest_for_bare_file("/x/M.ONNX").format, "onnx");
  EXPECT_EQ(manifest_for_bare_file("/x/w.dense").format, "dense");
  EXPECT_EQ(manifest_for_bare_file("/x/readme.txt").format, "");
  EXPECT_EQ(manifest_for_bare_file("/x/model.onnx").files, (std::vector<std::string>{"model.onnx"}));
  EXPECT_EQ(manifest_for_bare_file("/x/model.onnx").task, "tensor");
  EXPECT_EQ(manifest_for_bare_file("/x/tiny.Q8_0.gguf").format, "gguf");
  EXPECT_EQ(manifest_for_bare_file("/x/tiny.Q8_0.gguf").task, "text-generation");
}

}  // namespace
}  // namespace mrt

namespace mrt {
namespace {

// Out of descriptors is the process's condition, not a missing model: a
// model.yml that cannot be opened for that reason is RESOURCE_EXHAUSTED
// (retryable), never NOT_FOUND (which would drop the model as gone).
TEST(Manifest, OutOfDescriptorsIsNotAMissingFile) {
  test::TempDir dir;
  auto path = dir.write("m/model.yml", "format: onnx\nfiles: [model.onnx]\n");
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<int> held;
    for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) held.push_back(fd);  // use them all up
    auto m = read_model_manifest(path, "/models/m/model.yml");
    if (m || m.status().code() != MRT_CODE_RESOURCE_EXHAUSTED) _exit(1);
    if (m.status().message().find("file descriptors") == std::string::npos) _exit(2);
    for (int fd : held) ::close(fd);
    _exit(read_model_manifest(path, "/models/m/model.yml") ? 0 : 3);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: not RESOURCE_EXHAUSTED, 2: message, 3: no recovery";
}

}  // namespace
}  // namespace mrt
