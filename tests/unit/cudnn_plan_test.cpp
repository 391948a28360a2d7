// The cuDNN backend's host-side planning, which needs no GPU and so runs
// everywhere: lowering of the fixture models to cuDNN/cuBLAS/kernel steps
// (nothing left on the host for ResNet, MobileNetV2 and BERT), conv+bias+
// ReLU(+residual) fusion, transposed convolutions and odd pooling, host
// steps, algorithm-cache keys shared by repeated layers,
// buffer sharing by lifetime, the device bytes each precision needs, and
// the channels-last choice for half-precision CNNs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "gpu_plan.h"
#include "mrt/onnx/onnx_loader.h"

namespace fs = std::filesystem;
using namespace mrt::cudnn;
using mrt::onnx::OnnxError;

namespace {

std::vector<char> read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

// The fixture model at `batch` (every dynamic dim), fused and lowered.
std::unique_ptr<GpuPlan> plan_of(const std::string& model, int64_t batch, Precision p = Precision::kFloat32, bool allow_nhwc = true) {
  fs::path f = fs::path(MRT_SOURCE_ROOT) / "tests" / "fixtures" / "models" / model / "model.onnx";
  auto bytes = read(f);
  auto g = mrt::onnx::load_onnx(bytes.data(), bytes.size(), [&](const std::string& rel) { return read(f.parent_path() / rel); });
  std::map<std::string, Dims> dims;
  for (const auto& in : g.inputs) {
    Dims d = g.types.at(in).dims;
    for (auto& v : d) v = v < 0 ? batch : v;
    dims[in] = d;
  }
  return build_gpu_plan(mrt::onnx::plan_fusions(mrt::onnx::specialize(g, dims)), p, allow_nhwc);
}

int count(const GpuPlan& plan, Step::Kind k) {
  return static_cast<int>(std::count_if(plan.steps.begin(), plan.steps.end(), [&](const Step& s) { return s.kind == k; }));
}

TEST(CudnnPlan, ResnetIsAllConvolutionsWithFusedReluAndResiduals) {
  auto plan = plan_of("onnx-resnet", 2);
  EXPECT_EQ(plan->host_steps, 0);
  EXPECT_EQ(count(*plan, Step::kConv), 12);  // BatchNorm folded in
  int fused = 0, residual = 0;
  for (const auto& s : plan->steps)
    if (s.kind == Step::kConv) {
      fused += s.fused_relu;
      residual += s.residual >= 0;
      EXPECT_EQ(s.conv.n, 2);
    }
  EXPECT_EQ(fused, 9);     // every Relu of the graph rides on its convolution
  EXPECT_EQ(residual, 4);  // and so does every residual Add before one
  EXPECT_EQ(count(*plan, Step::kBinary), 0);
  EXPECT_EQ(count(*plan, Step::kPool), 2);  // MaxPool, GlobalAveragePool
  EXPECT_EQ(count(*plan, Step::kGemm), 1);
}

TEST(CudnnPlan, MobilenetAndBertRunEntirelyOnTheGpu) {
  auto mobilenet = plan_of("onnx-mobilenetv2", 1);
  EXPECT_EQ(mobilenet->host_steps, 0);
  EXPECT_EQ(count(*mobilenet, Step::kConv), 19);
  for (const char* m : {"onnx-bert", "onnx-bert17"}) {
    auto bert = plan_of(m, 2);
    EXPECT_EQ(bert->host_steps, 0) << m;
    EXPECT_EQ(count(*bert, Step::kGemm), 17) << m;  // 16 MatMul + the pooler's Gemm
    EXPECT_EQ(count(*bert, Step::kLayerNorm), 5) << m;
    EXPECT_TRUE(bert->has_gather) << m;
    EXPECT_EQ(count(*bert, Step::kSoftmax), 2) << m;
  }
}

TEST(CudnnPlan, RepeatedLayersShareAlgorithmKeys) {
  auto plan = plan_of("onnx-resnet", 1);
  std::set<std::string> keys;
  for (const auto& s : plan->steps)
    if (s.kind == Step::kConv) keys.insert(s.algo_key);
  EXPECT_LT(keys.size(), 12u);  // same-shape layers in a stage search once
  EXPECT_GT(keys.size(), 3u);
  ConvGeometry g;
  g.n = 1, g.c = 64, g.h = 56, g.w = 56, g.k = 64, g.r = 3, g.s = 3, g.pad_h = 1, g.pad_w = 1, g.out_h = 56, g.out_w = 56;
  std::string base = conv_algorithm_key(g, DType::kFloat, Precision::kFloat32, true);
  EXPECT_EQ(base, conv_algorithm_key(g, DType::kFloat, Precision::kFloat32, true));
  ConvGeometry batch8 = g;
  batch8.n = 8;
  EXPECT_NE(base, conv_algorithm_key(batch8, DType::kFloat, Precision::kFloat32, true));
  EXPECT_NE(base, conv_algorithm_key(g, DType::kFloat16, Precision::kFloat16, true));
  EXPECT_NE(base, conv_algorithm_key(g, DType::kFloat, Precision::kTF32, true));
  EXPECT_NE(base, conv_algorithm_key(g, DType::kFloat, Precision::kFloat32, false));
}

TEST(CudnnPlan, BuffersAreSharedByLifetime) {
  // a → b → c → d: a chain needs two buffers; the pinned input/output never share.
  std::vector<int> buffer_of;
  auto sizes = assign_buffers({100, 200, 150, 50, 10}, {0, 0, 1, 2, 3}, {0, 1, 2, 3, 3}, {true, false, false, false, true}, buffer_of);
  ASSERT_EQ(sizes.size(), 4u);
  EXPECT_NE(buffer_of[1], buffer_of[2]);                  // b and c overlap at step 1
  EXPECT_EQ(buffer_of[3], buffer_of[1]);                  // d reuses b's buffer (free since step 1)
  EXPECT_NE(buffer_of[0], buffer_of[1]);                  // the pinned input keeps its own
  EXPECT_EQ(sizes[static_cast<size_t>(buffer_of[1])], 200u);
  // On a real model, sharing needs well under the sum of all activations.
  auto plan = plan_of("onnx-resnet", 8);
  size_t all = 0;
  for (const auto& s : plan->slots)
    if (s.role != Slot::kConstant) all += s.bytes;
  size_t largest = 0;
  for (const auto& s : plan->slots)
    if (s.role == Slot::kActivation) largest = std::max(largest, s.bytes);
  const Slot& in = plan->slot(plan->input_slots[0]);
  const Slot& out = plan->slot(plan->output_slots[0]);
  // A residual network keeps at most three activations alive at once.
  EXPECT_LE(plan->activation_bytes(), in.bytes + out.bytes + 3 * largest) << "all activations: " << all;
  EXPECT_LT(plan->activation_bytes(), all);
  for (const auto& s : plan->slots)
    if (s.role != Slot::kConstant) {
      EXPECT_GE(plan->buffer_bytes[static_cast<size_t>(s.buffer)], s.bytes) << s.name;
    }
}

TEST(CudnnPlan, HalfPrecisionHalvesWeightsAndActivations) {
  auto f32 = plan_of("onnx-resnet", 4, Precision::kFloat32);
  auto f16 = plan_of("onnx-resnet", 4, Precision::kFloat16);
  auto bf16 = plan_of("onnx-resnet", 4, Precision::kBFloat16);
  EXPECT_EQ(f16->constant_bytes * 2, f32->constant_bytes);
  EXPECT_EQ(bf16->constant_bytes, f16->constant_bytes);
  EXPECT_LT(f16->activation_bytes(), f32->activation_bytes());
  // The edges stay float32 for the ABI; the storage is half.
  const Slot& in = f16->slot(f16->input_slots[0]);
  EXPECT_EQ(in.host_dtype, DType::kFloat);
  EXPECT_EQ(in.dtype, DType::kFloat16);
}

TEST(CudnnPlan, TransposedConvolutionsOddPoolingAndHostSteps) {
  auto plan = plan_of("onnx-fusions", 1);
  EXPECT_EQ(count(*plan, Step::kConvTranspose), 1);
  int kernel_pools = 0;
  for (const auto& s : plan->steps)
    if (s.kind == Step::kPool && !s.pool.cudnn) ++kernel_pools;
  EXPECT_EQ(kernel_pools, 1);  // MaxPool with ceil_mode: cuDNN floors
  // Resize (twice) and Pad have no GPU kernel: host steps, named in the log.
  EXPECT_EQ(plan->host_steps, 3);
  for (const auto& s : plan->steps)
    if (s.kind == Step::kHost) {
      EXPECT_TRUE(s.node->op_type == "Resize" || s.node->op_type == "Pad") << s.node->op_type;
    }
  EXPECT_THROW(parse_precision("fp8"), OnnxError);
  EXPECT_EQ(parse_precision("float16"), Precision::kFloat16);
}

TEST(CudnnPlan, ExporterOperatorsUseTheGpuKernelsTheyHave) {
  auto plan = plan_of("onnx-exporter-ops", 2);
  // PRelu, Elu, Softplus, GlobalMaxPool and Dropout have GPU kernels (unary,
  // binary, pooling, a copy) and Mish rides on its convolution's epilogue;
  // InstanceNormalization, Selu, both Resizes, Celu and ReduceL2 have only
  // the front end's host kernels.
  std::multiset<std::string> host;
  int mish_epilogues = 0;
  for (const auto& s : plan->steps) {
    if (s.kind == Step::kHost) host.insert(s.node->op_type);
    for (const auto& e : s.epilogue) mish_epilogues += !e.binary && e.unary == UnaryOp::kMish;
  }
  EXPECT_EQ(host, (std::multiset<std::string>{"Celu", "InstanceNormalization", "ReduceL2", "Resize", "Resize", "Selu"}));
  EXPECT_EQ(plan->host_steps, 6);
  EXPECT_EQ(mish_epilogues, 1);
  EXPECT_EQ(count(*plan, Step::kConv), 5);
  EXPECT_GE(count(*plan, Step::kPool), 1);  // GlobalMaxPool
}

TEST(CudnnPlan, HalfPrecisionCnnsRunChannelsLast) {
  auto plan = plan_of("onnx-resnet", 2, Precision::kFloat16);
  ASSERT_TRUE(plan->nhwc);
  // The NCHW input is transposed once, first; every convolution and pool
  // runs NHWC, filters are stored KRSC.
  const Step& first = plan->steps.front();
  EXPECT_EQ(first.kind, Step::kStridedCopy);
  EXPECT_EQ(first.inputs[0], plan->input_slots[0]);
  EXPECT_TRUE(plan->slot(first.outputs[0]).nhwc);
  const StridedView& v = first.views[0];
  EXPECT_EQ(v.out_dims[3], 3);     // channels last
  EXPECT_EQ(v.in_strides[3], 64 * 64);  // stepping a channel in NCHW
  for (const auto& s : plan->steps)
    if (s.kind == Step::kConv) {
      EXPECT_TRUE(s.nhwc);
      EXPECT_TRUE(plan->slot(s.inputs[1]).nhwc);
      EXPECT_NE(s.inputs[0], plan->input_slots[0]);  // reads the transposed copy
    }
  EXPECT_FALSE(plan->slot(plan->output_slots[0]).nhwc);
  EXPECT_TRUE(plan_of("onnx-mobilenetv2", 1, Precision::kBFloat16)->nhwc);
  // Not when float32, not when asked, not when a spatial value is reshaped
  // (its NCHW order matters), and not without convolutions.
  EXPECT_FALSE(plan_of("onnx-resnet", 2, Precision::kFloat32)->nhwc);
  EXPECT_FALSE(plan_of("onnx-resnet", 2, Precision::kFloat16, false)->nhwc);
  EXPECT_FALSE(plan_of("onnx-residual-view", 1, Precision::kFloat16)->nhwc);
  EXPECT_FALSE(plan_of("onnx-fusions", 1, Precision::kFloat16)->nhwc);
  EXPECT_FALSE(plan_of("onnx-bert", 1, Precision::kFloat16)->nhwc);
}

TEST(CudnnPlan, BroadcastViews) {
  StridedView v = broadcast_view({3, 1}, {2, 3, 4});
  EXPECT_EQ(v.rank, 3);
  EXPECT_EQ(v.in_strides[0], 0);  // added leading dim
  EXPECT_EQ(v.in_strides[1], 1);
  EXPECT_EQ(v.in_strides[2], 0);  // size-1 dim repeats
}

}  // namespace
