// Convolutions and pools: shape inference on the resolved windows
// (op_view.cpp); backends run them, the host only GlobalMaxPool.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "host_kernels.h"

namespace mrt::onnx::detail {
namespace {

// ---- shape inference -------------------------------------------------------------------

Types infer_conv(const OpView& v) {
  for (size_t i = 0; i < v.num_inputs(); ++i) {
    if (v.has(i)) v.check_dtype(i, dt(DType::kFloat));
  }
  WindowSpec w = resolve_conv(v);
  const Dims& x = v.dims(0);
  const int64_t m = v.dims(1)[0];
  if (v.has(2) && v.dims(2) != Dims{m}) v.fail("input 'B' must be [" + str(m) + "], not " + dims_string(v.dims(2)));
  Dims out = {x[0], m};
  out.insert(out.end(), w.out.begin(), w.out.end());
  return one(DType::kFloat, out);
}

Types infer_conv_transpose(const OpView& v) {
  for (size_t i = 0; i < v.num_inputs(); ++i) {
    if (v.has(i)) v.check_dtype(i, dt(DType::kFloat));
  }
  WindowSpec w = resolve_conv_transpose(v);
  const Dims& x = v.dims(0);
  const int64_t m = v.dims(1)[1] * w.group;
  if (v.has(2) && v.dims(2) != Dims{m}) v.fail("input 'B' must be [" + str(m) + "], not " + dims_string(v.dims(2)));
  Dims out = {x[0], m};
  out.insert(out.end(), w.out.begin(), w.out.end());
  return one(DType::kFloat, out);
}

Types infer_pool(const OpView& v) {
  v.check_dtype(0, dt(DType::kFloat));
  if (v.op() == "MaxPool") {
    if (v.output_used(1)) v.fail("the 'Indices' output is not supported");
    v.attr_int("storage_order", 0);
  } else {
    v.attr_int("count_include_pad", 0);
  }
  WindowSpec w = resolve_pool(v);
  const Dims& x = v.dims(0);
  Dims out = {x[0], x[1]};
  out.insert(out.end(), w.out.begin(), w.out.end());
  Types t(v.num_outputs());
  t[0] = {DType::kFloat, out};
  return t;
}

Types infer_global_pool(const OpView& v) {
  v.check_dtype(0, dt(DType::kFloat));
  const Dims& x = v.dims(0);
  if (x.size() < 3) v.fail("input 'X' must have rank 3 or more, not " + dims_string(x));
  Dims out(x.size(), 1);
  out[0] = x[0];
  out[1] = x[1];
  return one(DType::kFloat, out);
}

// ---- host kernels ----------------------------------------------------------------------

Outputs eval_global_max_pool(const Ctx& c) {
  const HostTensor& x = c.arg(0);
  HostTensor out = c.out();
  const int64_t planes = x.dims()[0] * x.dims()[1], spatial = x.numel() / std::max<int64_t>(1, planes);
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  for (int64_t i = 0; i < planes; ++i)  // an empty plane has no maximum: -inf, the identity of max
    dst[i] = spatial == 0 ? -std::numeric_limits<float>::infinity()
                          : *std::max_element(src + i * spatial, src + (i + 1) * spatial);
  return single(std::move(out));
}

}  // namespace

std::vector<OpDef> conv_pool_ops() {
  return {
      {"AveragePool", {{1, {"X"}, 1}}, infer_pool, nullptr},
      {"Conv", {{1, {"X", "W", "B"}, 2}}, infer_conv, nullptr},
      {"ConvTranspose", {{1, {"X", "W", "B"}, 2}}, infer_conv_transpose, nullptr},
      {"GlobalAveragePool", {{1, {"X"}, 1}}, infer_global_pool, nullptr},
      {"GlobalMaxPool", {{1, {"X"}, 1}}, infer_global_pool, eval_global_max_pool},
      {"MaxPool", {{1, {"X"}, 1, false, 2}}, infer_pool, nullptr},
  };
}

}  // namespace mrt::onnx::detail
