// MatMul and Gemm, and the normalisations: BatchNormalization,
// InstanceNormalization, LayerNormalization, Softmax and LogSoftmax. Float
// sums accumulate in double.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "host_kernels.h"

namespace mrt::onnx::detail {
namespace {

// ---- shape inference -------------------------------------------------------------------

Types infer_matmul(const OpView& v) {
  v.check_dtype(0, kMatMulTypes);
  v.check_same_dtype(0, 1);
  Dims a = v.dims(0), b = v.dims(1);
  if (a.empty() || b.empty())
    v.fail("MatMul needs inputs of rank 1 or more, not " + dims_string(a) + " and " + dims_string(b));
  const bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (b_vec) b.push_back(1);
  const int64_t m = a[a.size() - 2], k = a.back(), k2 = b[b.size() - 2], n = b.back();
  if (k != k2) {
    v.fail("inner dimensions do not match: " + dims_string(v.dims(0)) + " x " + dims_string(v.dims(1)));
  }
  Dims ba(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  Dims out = broadcast_shapes(v, {&ba, &bb});
  if (!a_vec) out.push_back(m);
  if (!b_vec) out.push_back(n);
  return one(v.dtype(0), out);
}

Types infer_gemm(const OpView& v) {
  v.check_dtype(0, kMatMulTypes);
  v.check_same_dtype(0, 1);
  const Dims& a = v.dims(0);
  const Dims& b = v.dims(1);
  if (a.size() != 2 || b.size() != 2)
    v.fail("inputs 'A' and 'B' must be 2-D, not " + dims_string(a) + " and " + dims_string(b));
  v.attr_float("alpha", 1.0f);
  v.attr_float("beta", 1.0f);
  const bool ta = v.attr_int("transA", 0) != 0, tb = v.attr_int("transB", 0) != 0;
  const int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1];
  const int64_t k2 = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
  if (k != k2) {
    v.fail("inner dimensions do not match: A " + dims_string(a) + (ta ? " (transposed)" : "") + ", B " +
           dims_string(b) + (tb ? " (transposed)" : ""));
  }
  if (v.has(2)) {
    v.check_same_dtype(0, 2);
    const Dims& c = v.dims(2);
    const Dims mn = {m, n};
    bool ok = c.size() <= 2;
    for (size_t i = 0; ok && i < c.size(); ++i) {
      const int64_t want = mn[2 - c.size() + i];
      ok = c[i] == want || c[i] == 1;
    }
    if (!ok) v.fail("input 'C' " + dims_string(c) + " cannot be broadcast to " + dims_string(mn));
  }
  return one(v.dtype(0), {m, n});
}

Types infer_batch_norm(const OpView& v) {
  v.check_dtype(0, kFloatTypes);
  const Dims& x = v.dims(0);
  if (x.size() < 2) v.fail("input 'X' must have rank 2 or more, not " + dims_string(x));
  if (v.opset < 9 && v.attr_int("spatial", 1) == 0) v.fail("spatial=0 is not supported");
  if (v.opset >= 14 && v.attr_int("training_mode", 0) != 0) v.fail("training_mode=1 is not supported (inference only)");
  for (size_t i = 1; i < v.num_outputs(); ++i) {
    if (v.output_used(i)) v.fail("the training outputs (running mean, variance...) are not supported (inference only)");
  }
  v.attr_float("epsilon", 1e-5f);
  for (size_t i = 1; i < 5; ++i) {
    v.check_dtype(i, kFloatTypes);
    if (v.dims(i) != Dims{x[1]}) {
      v.fail("input " + v.input_name(i) + " must be [" + str(x[1]) + "] (the channels), not " + dims_string(v.dims(i)));
    }
  }
  Types out(v.num_outputs());
  out[0] = {v.dtype(0), x};
  return out;
}

Types infer_layer_norm(const OpView& v) {
  v.check_dtype(0, kFloatTypes);
  const Dims& x = v.dims(0);
  const int64_t axis = v.normalize_axis(v.attr_int("axis", -1), v.rank(0));
  v.attr_float("epsilon", 1e-5f);
  const int64_t stash = v.attr_int("stash_type", 1);
  if (stash != 1 && stash != 11) v.fail("stash_type " + str(stash) + " is not supported (1, 11)");
  const Dims normalized(x.begin() + axis, x.end());
  for (size_t i = 1; i < 3; ++i) {
    if (!v.has(i)) continue;
    v.check_same_dtype(0, i);
    const Dims& s = v.dims(i);
    bool ok = s.size() <= normalized.size();
    for (size_t j = 0; ok && j < s.size(); ++j) {
      const int64_t want = normalized[normalized.size() - s.size() + j];
      ok = s[j] == want || s[j] == 1;
    }
    if (!ok)
      v.fail("input " + v.input_name(i) + " " + dims_string(s) + " cannot be broadcast to the normalized shape " +
             dims_string(normalized));
  }
  Types out(v.num_outputs());
  out[0] = {v.dtype(0), x};
  Dims stat(x.begin(), x.begin() + axis);
  stat.resize(x.size(), 1);
  for (size_t i = 1; i < out.size(); ++i) out[i] = {static_cast<DType>(stash), stat};
  return out;
}

Types infer_instance_norm(const OpView& v) {
  v.check_dtype(0, kFloatTypes);
  v.check_same_dtype(0, 1);
  v.check_same_dtype(0, 2);
  const Dims& x = v.dims(0);
  if (x.size() < 3) v.fail("input 'input' must have rank 3 or more, not " + dims_string(x));
  for (size_t i = 1; i <= 2; ++i)
    if (v.dims(i) != Dims{x[1]})
      v.fail("input " + v.input_name(i) + " must have shape [" + std::to_string(x[1]) + "], not " +
             dims_string(v.dims(i)));
  v.attr_float("epsilon", 1e-5f);
  return one(v.dtype(0), x);
}

Types infer_softmax(const OpView& v) {
  v.check_dtype(0, kFloatTypes);
  v.normalize_axis(v.attr_int("axis", v.opset < 13 ? 1 : -1), v.rank(0));
  return one(v.dtype(0), v.dims(0));
}

// ---- host kernels ----------------------------------------------------------------------

// ---- linear algebra --------------------------------------------------------------------

// c[m][n] = sum_k a[m][k] b[k][n] (row-major, c overwritten).
template <typename T>
void matmul_block(const T* a, const T* b, T* c, int64_t m, int64_t n, int64_t k) {
  for (int64_t i = 0; i < m; ++i) {
    T* crow = c + i * n;
    std::fill(crow, crow + n, T(0));
    for (int64_t p = 0; p < k; ++p) {
      const T aip = a[i * k + p];
      const T* brow = b + p * n;
      for (int64_t j = 0; j < n; ++j) crow[j] = wrap_add(crow[j], wrap_mul(aip, brow[j]));
    }
  }
}

Outputs eval_matmul(const Ctx& c) {
  const HostTensor& a = c.arg(0);
  const HostTensor& b = c.arg(1);
  HostTensor out = c.out();
  Dims ad = a.dims(), bd = b.dims();
  if (ad.size() == 1) ad.insert(ad.begin(), 1);
  if (bd.size() == 1) bd.push_back(1);
  const int64_t m = ad[ad.size() - 2], k = ad.back(), n = bd.back();
  const Dims ba(ad.begin(), ad.end() - 2), bb(bd.begin(), bd.end() - 2);
  const Dims batch = broadcast_shapes(c.v, {&ba, &bb});
  std::vector<int64_t> sa = broadcast_strides(ba, batch), sb = broadcast_strides(bb, batch);
  std::vector<int64_t> so = contiguous_strides(batch);
  for (auto& x : sa) x *= m * k;
  for (auto& x : sb) x *= k * n;
  for (auto& x : so) x *= m * n;
  Strided<3> s(batch, {so, sa, sb});
  dispatch_numeric(c.v, a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    s.run({0, 0, 0}, [&](const std::array<int64_t, 3>& off, int64_t cnt, const std::array<int64_t, 3>& st) {
      for (int64_t i = 0; i < cnt; ++i) {
        matmul_block(a.data<T>() + off[1] + i * st[1], b.data<T>() + off[2] + i * st[2],
                     out.data<T>() + off[0] + i * st[0], m, n, k);
      }
    });
  });
  return single(std::move(out));
}

HostTensor transpose_2d(const OpView& v, const HostTensor& x) {
  HostTensor t(x.dtype(), {x.dims()[1], x.dims()[0]});
  strided_copy(v, x, t, {1, x.dims()[1]});
  return t;
}

Outputs eval_gemm(const Ctx& c) {
  const bool ta = c.v.attr_int("transA", 0) != 0, tb = c.v.attr_int("transB", 0) != 0;
  const float alpha = c.v.attr_float("alpha", 1.0f), beta = c.v.attr_float("beta", 1.0f);
  HostTensor at, bt;
  const HostTensor& a = ta ? (at = transpose_2d(c.v, c.arg(0))) : c.arg(0);
  const HostTensor& b = tb ? (bt = transpose_2d(c.v, c.arg(1))) : c.arg(1);
  HostTensor out = c.out();
  const int64_t m = a.dims()[0], k = a.dims()[1], n = b.dims()[1];
  dispatch_numeric(c.v, out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* o = out.data<T>();
    matmul_block(a.data<T>(), b.data<T>(), o, m, n, k);
    // The float attributes in T: truncated for integers, as Cast would
    // (a plain static_cast of -1.0f to uint32 is undefined).
    auto in_t = [](float f) -> T {
      if constexpr (std::is_integral_v<T>)
        return float_to_int<T>(f);
      else
        return static_cast<T>(f);
    };
    if (alpha != 1.0f) {
      for (int64_t i = 0; i < m * n; ++i) o[i] = wrap_mul(o[i], in_t(alpha));
    }
    if (const HostTensor* cm = c.opt(2); cm && beta != 0.0f) {
      const T bv = in_t(beta);
      binary_loop<T, T, T>(out, *cm, out, [&](T x, T y) { return wrap_add(x, wrap_mul(bv, y)); });
    }
  });
  return single(std::move(out));
}

// ---- normalisation -------------------------------------------------------------------

Outputs eval_batch_norm(const Ctx& c) {
  const HostTensor& x = c.arg(0);
  const float eps = c.v.attr_float("epsilon", 1e-5f);
  const int64_t n = x.dims()[0], ch = x.dims()[1];
  const int64_t inner = ch == 0 || n == 0 ? 0 : x.numel() / (n * ch);
  const std::vector<double> scale = c.arg(1).to_double(), bias = c.arg(2).to_double();
  const std::vector<double> mean = c.arg(3).to_double(), var = c.arg(4).to_double();
  Outputs outs(c.v.num_outputs());
  outs[0] = c.out();
  dispatch_float(c.v, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = x.data<T>();
    T* dst = outs[0].data<T>();
    for (int64_t b = 0; b < n; ++b) {
      for (int64_t ci = 0; ci < ch; ++ci) {
        const auto u = static_cast<size_t>(ci);
        const T s = static_cast<T>(scale[u]) / std::sqrt(static_cast<T>(var[u]) + static_cast<T>(eps));
        const T sh = static_cast<T>(bias[u]) - static_cast<T>(mean[u]) * s;
        const int64_t base = (b * ch + ci) * inner;
        for (int64_t i = 0; i < inner; ++i) dst[base + i] = src[base + i] * s + sh;
      }
    }
  });
  return outs;
}

// Softmax (log=false) or LogSoftmax over `n` elements at stride `inner`.
Outputs eval_softmax(const Ctx& c) {
  const HostTensor& x = c.arg(0);
  const Dims& d = x.dims();
  const int64_t r = ssize(d);
  const int64_t axis = c.v.normalize_axis(c.v.attr_int("axis", c.v.opset < 13 ? 1 : -1), r);
  const bool log = c.v.op() == "LogSoftmax";
  int64_t outer = 1, n = 1, inner = 1;
  for (int64_t i = 0; i < r; ++i) {
    const int64_t di = d[static_cast<size_t>(i)];
    if (i < axis) {
      outer *= di;
    } else if (c.v.opset < 13 || i == axis) {
      n *= di;  // before opset 13 the input is coerced to 2-D at `axis`
    } else {
      inner *= di;
    }
  }
  HostTensor out = c.out();
  dispatch_float(c.v, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t j = 0; j < inner; ++j) {
        const T* src = x.data<T>() + o * n * inner + j;
        T* dst = out.data<T>() + o * n * inner + j;
        T mx = -std::numeric_limits<T>::infinity();
        for (int64_t i = 0; i < n; ++i) mx = std::max(mx, src[i * inner]);
        double sum = 0;
        for (int64_t i = 0; i < n; ++i) {
          const T e = std::exp(src[i * inner] - mx);
          if (!log) dst[i * inner] = e;
          sum += static_cast<double>(e);
        }
        if (log) {
          const T ls = static_cast<T>(std::log(sum));
          for (int64_t i = 0; i < n; ++i) dst[i * inner] = src[i * inner] - mx - ls;
        } else {
          const T inv = static_cast<T>(1.0 / sum);
          for (int64_t i = 0; i < n; ++i) dst[i * inner] *= inv;
        }
      }
    }
  });
  return single(std::move(out));
}

Outputs eval_layer_norm(const Ctx& c) {
  const HostTensor& x = c.arg(0);
  const Dims& d = x.dims();
  const auto axis = static_cast<size_t>(c.v.normalize_axis(c.v.attr_int("axis", -1), ssize(d)));
  const float eps = c.v.attr_float("epsilon", 1e-5f);
  const Dims norm_dims(d.begin() + static_cast<int64_t>(axis), d.end());
  const int64_t n = element_count(norm_dims);
  const int64_t outer = n == 0 ? 0 : x.numel() / n;
  const HostTensor scale = expand_to(c.v, c.arg(1), norm_dims);
  const HostTensor* bias_in = c.opt(2);
  const HostTensor bias = bias_in ? expand_to(c.v, *bias_in, norm_dims) : HostTensor(x.dtype(), norm_dims);
  Outputs outs(c.v.num_outputs());
  for (size_t i = 0; i < outs.size(); ++i) {
    if (c.v.output_used(i)) outs[i] = c.out(i);
  }
  dispatch_float(c.v, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* g = scale.data<T>();
    const T* bb = bias.data<T>();
    for (int64_t o = 0; o < outer; ++o) {
      const T* src = x.data<T>() + o * n;
      double mean = 0, var = 0;
      for (int64_t i = 0; i < n; ++i) mean += static_cast<double>(src[i]);
      mean /= static_cast<double>(n);
      for (int64_t i = 0; i < n; ++i)
        var += (static_cast<double>(src[i]) - mean) * (static_cast<double>(src[i]) - mean);
      var /= static_cast<double>(n);
      const double inv = 1.0 / std::sqrt(var + static_cast<double>(eps));
      if (outs[0].raw()) {
        T* dst = outs[0].data<T>() + o * n;
        const T m = static_cast<T>(mean), s = static_cast<T>(inv);
        for (int64_t i = 0; i < n; ++i) dst[i] = (src[i] - m) * s * g[i] + bb[i];
      }
      for (size_t k = 1; k < outs.size(); ++k) {
        if (!outs[k].raw()) continue;
        const double val = k == 1 ? mean : inv;
        if (outs[k].dtype() == DType::kDouble) {
          outs[k].data<double>()[o] = val;
        } else {
          outs[k].data<float>()[o] = static_cast<float>(val);
        }
      }
    }
  });
  return outs;
}

// y = scale * (x - mean) / sqrt(var + epsilon) + B, statistics per image and channel.
Outputs eval_instance_norm(const Ctx& c) {
  const HostTensor& x = c.arg(0);
  const double eps = c.v.attr_float("epsilon", 1e-5f);
  HostTensor out = c.out();
  const int64_t n = x.dims()[0], ch = x.dims()[1], spatial = x.numel() / std::max<int64_t>(1, n * ch);
  dispatch_float(c.v, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = x.data<T>();
    const T* scale = c.arg(1).data<T>();
    const T* bias = c.arg(2).data<T>();
    T* dst = out.data<T>();
    for (int64_t i = 0; i < n * ch; ++i) {
      const T* xs = src + i * spatial;
      double mean = 0, var = 0;
      for (int64_t j = 0; j < spatial; ++j) mean += static_cast<double>(xs[j]);
      mean /= static_cast<double>(std::max<int64_t>(1, spatial));
      for (int64_t j = 0; j < spatial; ++j)
        var += (static_cast<double>(xs[j]) - mean) * (static_cast<double>(xs[j]) - mean);
      var /= static_cast<double>(std::max<int64_t>(1, spatial));
      const double k = static_cast<double>(scale[i % ch]) / std::sqrt(var + eps), b = static_cast<double>(bias[i % ch]);
      for (int64_t j = 0; j < spatial; ++j)
        dst[i * spatial + j] = static_cast<T>((static_cast<double>(xs[j]) - mean) * k + b);
    }
  });
  return single(std::move(out));
}

}  // namespace

std::vector<OpDef> linear_norm_ops() {
  return {
      {"BatchNormalization",
       {{1, {"X", "scale", "B", "input_mean", "input_var"}, 5, false, 5}},
       infer_batch_norm,
       eval_batch_norm},
      {"Gemm", {{1, {"A", "B", "C"}, 2}}, infer_gemm, eval_gemm},
      {"InstanceNormalization", {{6, {"input", "scale", "B"}, 3}}, infer_instance_norm, eval_instance_norm},
      {"LayerNormalization", {{17, {"X", "Scale", "B"}, 2, false, 3}}, infer_layer_norm, eval_layer_norm},
      {"LogSoftmax", {{1, {"input"}, 1}}, infer_softmax, eval_softmax},
      {"MatMul", {{1, {"A", "B"}, 2}}, infer_matmul, eval_matmul},
      {"Softmax", {{1, {"input"}, 1}}, infer_softmax, eval_softmax},
  };
}

}  // namespace mrt::onnx::detail
