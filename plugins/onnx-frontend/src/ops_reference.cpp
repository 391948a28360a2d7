// Host reference kernels: every supported operator except the convolutions
// and pools. They fold constants at load time and, for backends without a
// primitive, run at execute time (Gather, Where, Expand, Cast, Pad,
// Resize...), so the loops walk strided index spaces without per-element
// allocation or div/mod. Elementwise math runs in the tensor's type (float
// in float, like onnxruntime; integers wrap at their width); float sums
// accumulate in double, integer ones in 64 bits.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <type_traits>

#include "ops_util.h"

namespace mrt::onnx {
namespace detail {
namespace {

using Outputs = std::vector<HostTensor>;

struct Ctx {
  const OpView& v;
  const std::vector<const HostTensor*>& in;
  const std::vector<ValueType>& types;  // inferred output types

  const HostTensor& arg(size_t i) const { return *in[i]; }
  const HostTensor* opt(size_t i) const { return i < in.size() && v.has(i) ? in[i] : nullptr; }
  HostTensor out(size_t i = 0) const { return HostTensor(types[i].dtype, types[i].dims); }
};
using EvalFn = Outputs (*)(const Ctx&);

Outputs single(HostTensor t) {
  Outputs o;
  o.push_back(std::move(t));
  return o;
}

// ---- dtype dispatch ------------------------------------------------------------------

// Storage types of the dtypes that need their own conversion rules.
struct F16 {
  uint16_t bits;
};
struct BF16 {
  uint16_t bits;
};
struct Bool {
  uint8_t v;
};

template <typename F>
void dispatch_float(const OpView& v, DType t, F&& f) {
  switch (t) {
    case DType::kFloat:
      f(float{});
      return;
    case DType::kDouble:
      f(double{});
      return;
    default:
      v.fail("internal: dtype " + dtype_name(t) + " reached a float kernel");
  }
}

template <typename F>
void dispatch_numeric(const OpView& v, DType t, F&& f) {
  switch (t) {
    case DType::kFloat:
      f(float{});
      return;
    case DType::kDouble:
      f(double{});
      return;
    case DType::kInt32:
      f(int32_t{});
      return;
    case DType::kInt64:
      f(int64_t{});
      return;
    case DType::kInt16:
      f(int16_t{});
      return;
    case DType::kInt8:
      f(int8_t{});
      return;
    case DType::kUint64:
      f(uint64_t{});
      return;
    case DType::kUint32:
      f(uint32_t{});
      return;
    case DType::kUint16:
      f(uint16_t{});
      return;
    case DType::kUint8:
      f(uint8_t{});
      return;
    default:
      v.fail("internal: dtype " + dtype_name(t) + " reached a numeric kernel");
  }
}

// Numeric plus bool (stored as uint8_t, compared as 0/1: the same kernel as uint8).
template <typename F>
void dispatch_comparable(const OpView& v, DType t, F&& f) {
  dispatch_numeric(v, t == DType::kBool ? DType::kUint8 : t, std::forward<F>(f));
}

// x < 0 without the always-false comparison the compiler warns about for unsigned T.
template <typename T>
constexpr bool is_negative(T x) {
  if constexpr (std::is_signed_v<T>) {
    return x < T(0);
  } else {
    return false;
  }
}

// Cast's dtypes: the numeric ones plus bool and the 16-bit float ones.
template <typename F>
void dispatch_cast(const OpView& v, DType t, F&& f) {
  switch (t) {
    case DType::kBool:
      f(Bool{});
      return;
    case DType::kFloat16:
      f(F16{});
      return;
    case DType::kBFloat16:
      f(BF16{});
      return;
    default:
      dispatch_numeric(v, t, std::forward<F>(f));
  }
}

// Data movement only needs the element size.
template <typename F>
void dispatch_size(const OpView& v, size_t size, F&& f) {
  switch (size) {
    case 1:
      f(uint8_t{});
      return;
    case 2:
      f(uint16_t{});
      return;
    case 4:
      f(uint32_t{});
      return;
    case 8:
      f(uint64_t{});
      return;
    default:
      v.fail("internal: element size " + std::to_string(size));
  }
}

// Wrapping integer arithmetic (signed overflow is undefined in C++). The
// unsigned type is at least unsigned int: uint16 * uint16 would otherwise be
// promoted to int and could overflow it.
template <typename T>
using Wide = std::make_unsigned_t<decltype(T{} + T{})>;
template <typename T>
T wrap_add(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = Wide<T>;
    return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}
template <typename T>
T wrap_sub(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = Wide<T>;
    return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
  } else {
    return a - b;
  }
}
template <typename T>
T wrap_mul(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = Wide<T>;
    return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}

// Float to integer, truncating toward zero; NaN gives 0 and out-of-range
// values saturate to int64 before wrapping to the narrower type (uint64
// saturates to its own range: [2^63, 2^64) fits only there).
template <typename D, typename F>
D float_to_int(F x) {
  if constexpr (std::is_same_v<D, uint64_t>) {
    if (x >= static_cast<F>(18446744073709551616.0)) return std::numeric_limits<uint64_t>::max();
    if (x >= static_cast<F>(9223372036854775808.0)) return static_cast<uint64_t>(x);
  }
  int64_t i;
  if (std::isnan(x)) {
    i = 0;
  } else if (x >= static_cast<F>(9223372036854775807.0)) {
    i = std::numeric_limits<int64_t>::max();
  } else if (x <= static_cast<F>(-9223372036854775808.0)) {
    i = std::numeric_limits<int64_t>::min();
  } else {
    i = static_cast<int64_t>(x);
  }
  return static_cast<D>(i);
}

// ---- float16 / bfloat16 ---------------------------------------------------------------

// Round to nearest even; overflow gives infinity, NaN stays NaN (F. Giesen's
// float_to_half_fast3_rtne).
uint16_t float_to_half(float value) {
  uint32_t f = std::bit_cast<uint32_t>(value);
  const uint32_t sign = f & 0x80000000u;
  f ^= sign;
  uint32_t o;
  if (f >= 0x47800000u) {  // >= 65536: infinity, or NaN
    o = f > 0x7f800000u ? 0x7e00u : 0x7c00u;
  } else if (f < 0x38800000u) {  // < 2^-14: subnormal or zero; the FPU rounds
    const float x = std::bit_cast<float>(f) + 0.5f;
    o = std::bit_cast<uint32_t>(x) - 0x3f000000u;
  } else {
    const uint32_t mant_odd = (f >> 13) & 1u;
    f += 0xc8000fffu;  // rebias the exponent by (15 - 127), plus the rounding bias
    f += mant_odd;
    o = f >> 13;
  }
  return static_cast<uint16_t>(o | (sign >> 16));
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  float mag;
  if (exp == 0) {
    mag = std::ldexp(static_cast<float>(mant), -24);
  } else if (exp == 31) {
    mag = std::bit_cast<float>(0x7f800000u | (mant << 13));
  } else {
    mag = std::bit_cast<float>(((exp + 112) << 23) | (mant << 13));
  }
  return std::bit_cast<float>(std::bit_cast<uint32_t>(mag) | sign);
}

uint16_t float_to_bf16(float value) {
  const uint32_t u = std::bit_cast<uint32_t>(value);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

float bf16_to_float(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

// A stored value as an arithmetic value (floating or integral).
template <typename S>
auto load(S s) {
  if constexpr (std::is_same_v<S, F16>) {
    return half_to_float(s.bits);
  } else if constexpr (std::is_same_v<S, BF16>) {
    return bf16_to_float(s.bits);
  } else if constexpr (std::is_same_v<S, Bool>) {
    return static_cast<int32_t>(s.v != 0);
  } else {
    return s;
  }
}

template <typename D, typename V>
D store(V x) {
  if constexpr (std::is_same_v<D, Bool>) {
    return Bool{static_cast<uint8_t>(x != 0)};
  } else if constexpr (std::is_same_v<D, F16>) {
    return F16{float_to_half(static_cast<float>(x))};
  } else if constexpr (std::is_same_v<D, BF16>) {
    return BF16{float_to_bf16(static_cast<float>(x))};
  } else if constexpr (std::is_integral_v<D> && std::is_floating_point_v<V>) {
    return float_to_int<D>(x);
  } else {
    return static_cast<D>(x);  // integer narrowing wraps (C++20)
  }
}

// ---- strided iteration ---------------------------------------------------------------

std::vector<int64_t> contiguous_strides(const Dims& d) {
  std::vector<int64_t> s(d.size(), 1);
  for (size_t i = d.size(); i-- > 1;) s[i - 1] = s[i] * d[i];
  return s;
}

// Element strides of `in` read as `out` under numpy broadcasting (0 on broadcast axes).
std::vector<int64_t> broadcast_strides(const Dims& in, const Dims& out) {
  std::vector<int64_t> s(out.size(), 0);
  const std::vector<int64_t> cs = contiguous_strides(in);
  const size_t off = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) s[off + i] = in[i] == 1 ? 0 : cs[i];
  return s;
}

// A row-major index space walked by K operands, each with its own element
// strides. Size-1 axes are dropped and axes every operand walks
// contiguously are merged, so the innermost run is as long as possible.
template <size_t K>
struct Strided {
  Dims dims;
  std::array<std::vector<int64_t>, K> strides;

  Strided(const Dims& d, const std::array<std::vector<int64_t>, K>& s) {
    for (size_t i = 0; i < d.size(); ++i) {
      if (d[i] == 1) continue;
      bool merge = !dims.empty() && d[i] != 0 && dims.back() != 0;
      for (size_t k = 0; merge && k < K; ++k) merge = strides[k].back() == s[k][i] * d[i];
      if (merge) {
        dims.back() *= d[i];
        for (size_t k = 0; k < K; ++k) strides[k].back() = s[k][i];
        continue;
      }
      dims.push_back(d[i]);
      for (size_t k = 0; k < K; ++k) strides[k].push_back(s[k][i]);
    }
  }

  // f(offsets, n, inner_strides) once per innermost run, offsets starting at `base`.
  template <typename F>
  void run(std::array<int64_t, K> base, F&& f) const {
    for (int64_t d : dims) {
      if (d == 0) return;
    }
    const size_t r = dims.size();
    std::array<int64_t, K> inner{};
    if (r == 0) {
      f(base, int64_t{1}, inner);
      return;
    }
    for (size_t k = 0; k < K; ++k) inner[k] = strides[k][r - 1];
    const int64_t n = dims[r - 1];
    std::vector<int64_t> idx(r - 1, 0);
    std::array<int64_t, K> off = base;
    for (;;) {
      f(off, n, inner);
      size_t d = r - 1;
      for (;;) {
        if (d == 0) return;
        --d;
        if (++idx[d] < dims[d]) {
          for (size_t k = 0; k < K; ++k) off[k] += strides[k][d];
          break;
        }
        idx[d] = 0;
        for (size_t k = 0; k < K; ++k) off[k] -= strides[k][d] * (dims[d] - 1);
      }
    }
  }
};

// Copies `in` into `out` (same dtype) reading in at `in_strides` from `base`.
void strided_copy(const OpView& v, const HostTensor& in, HostTensor& out, const std::vector<int64_t>& in_strides,
                  int64_t base = 0) {
  Strided<2> s(out.dims(), {contiguous_strides(out.dims()), in_strides});
  dispatch_size(v, dtype_size(in.dtype()), [&](auto tag) {
    using T = decltype(tag);
    const T* src = in.data<T>();
    T* dst = out.data<T>();
    s.run({0, base}, [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
      T* o = dst + off[0];
      const T* x = src + off[1];
      if (st[1] == 1) {
        std::memcpy(o, x, static_cast<size_t>(n) * sizeof(T));
      } else if (st[1] == 0) {
        std::fill(o, o + n, *x);
      } else {
        for (int64_t i = 0; i < n; ++i) o[i] = x[i * st[1]];
      }
    });
  });
}

HostTensor expand_to(const OpView& v, const HostTensor& in, const Dims& dims) {
  HostTensor out(in.dtype(), dims);
  strided_copy(v, in, out, broadcast_strides(in.dims(), dims));
  return out;
}

// out[i] = f(a[i], b[i]) under broadcasting (out already has the broadcast dims).
template <typename TA, typename TB, typename TO, typename F>
void binary_loop(const HostTensor& a, const HostTensor& b, HostTensor& out, F f) {
  const Dims& od = out.dims();
  Strided<3> s(od, {contiguous_strides(od), broadcast_strides(a.dims(), od), broadcast_strides(b.dims(), od)});
  const TA* pa = a.data<TA>();
  const TB* pb = b.data<TB>();
  TO* po = out.data<TO>();
  s.run({0, 0, 0}, [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& st) {
    TO* o = po + off[0];
    const TA* x = pa + off[1];
    const TB* y = pb + off[2];
    if (st[1] == 1 && st[2] == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
    } else if (st[1] == 1 && st[2] == 0) {
      const TB yv = *y;
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
    } else if (st[1] == 0 && st[2] == 1) {
      const TA xv = *x;
      for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i * st[1]], y[i * st[2]]);
    }
  });
}

// ---- elementwise unary -------------------------------------------------------------------

template <typename T, typename F>
HostTensor map_unary(const Ctx& c, F f) {
  const HostTensor& x = c.arg(0);
  HostTensor out = c.out();
  const T* src = x.data<T>();
  T* dst = out.data<T>();
  for (int64_t i = 0, n = x.numel(); i < n; ++i) dst[i] = f(src[i]);
  return out;
}

// log(1 + e^x) without overflow for large x.
template <typename T>
T softplus(T x) {
  return x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

// The float unary operators: one lambda on float and double.
#define MRT_FLOAT_UNARY(name, expr)                                          \
  Outputs name(const Ctx& c) {                                               \
    HostTensor out;                                                          \
    dispatch_float(c.v, c.arg(0).dtype(), [&](auto tag) {                    \
      using T = decltype(tag);                                               \
      out = map_unary<T>(c, [&](T x) -> T { return static_cast<T>(expr); }); \
    });                                                                      \
    return single(std::move(out));                                           \
  }

MRT_FLOAT_UNARY(eval_sigmoid, x >= 0 ? T(1) / (T(1) + std::exp(-x)) : std::exp(x) / (T(1) + std::exp(x)))
MRT_FLOAT_UNARY(eval_tanh, std::tanh(x))
MRT_FLOAT_UNARY(eval_erf, std::erf(x))
MRT_FLOAT_UNARY(eval_sqrt, std::sqrt(x))
MRT_FLOAT_UNARY(eval_exp, std::exp(x))
MRT_FLOAT_UNARY(eval_log, std::log(x))
MRT_FLOAT_UNARY(eval_reciprocal, T(1) / x)
MRT_FLOAT_UNARY(eval_floor, std::floor(x))
MRT_FLOAT_UNARY(eval_ceil, std::ceil(x))
MRT_FLOAT_UNARY(eval_hard_swish, x* std::max(T(0), std::min(T(1), x / T(6) + T(0.5))))
MRT_FLOAT_UNARY(eval_sin, std::sin(x))
MRT_FLOAT_UNARY(eval_cos, std::cos(x))
MRT_FLOAT_UNARY(eval_softsign, x / (T(1) + std::abs(x)))
MRT_FLOAT_UNARY(eval_softplus, softplus(x))
MRT_FLOAT_UNARY(eval_mish, x* std::tanh(softplus(x)))
// Round half to even: nearbyint under the default rounding mode.
MRT_FLOAT_UNARY(eval_round, std::nearbyint(x))

#undef MRT_FLOAT_UNARY

Outputs eval_leaky_relu(const Ctx& c) {
  const float alpha = c.v.attr_float("alpha", 0.01f);
  HostTensor out;
  dispatch_float(c.v, c.arg(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    out = map_unary<T>(c, [&](T x) { return x < 0 ? x * static_cast<T>(alpha) : x; });
  });
  return single(std::move(out));
}

Outputs eval_hard_sigmoid(const Ctx& c) {
  const float alpha = c.v.attr_float("alpha", 0.2f), beta = c.v.attr_float("beta", 0.5f);
  HostTensor out;
  dispatch_float(c.v, c.arg(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T a = static_cast<T>(alpha), b = static_cast<T>(beta);
    out = map_unary<T>(c, [&](T x) { return std::max(T(0), std::min(T(1), a * x + b)); });
  });
  return single(std::move(out));
}

// Elu, Selu, Celu, ThresholdedRelu: activations with attribute parameters.
Outputs eval_float_activation(const Ctx& c) {
  const std::string& op = c.v.op();
  const double alpha = c.v.attr_float("alpha", op == "Selu" ? 1.67326319217681884765625f : 1.0f);
  const double gamma = c.v.attr_float("gamma", 1.05070102214813232421875f);
  HostTensor out;
  dispatch_float(c.v, c.arg(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto apply = [&](auto f) { out = map_unary<T>(c, [&](T v) { return static_cast<T>(f(static_cast<double>(v))); }); };
    if (op == "Elu")
      apply([&](double x) { return x < 0 ? alpha * std::expm1(x) : x; });
    else if (op == "Selu")
      apply([&](double x) { return gamma * (x <= 0 ? alpha * std::expm1(x) : x); });
    else if (op == "Celu")
      apply([&](double x) { return std::max(0.0, x) + std::min(0.0, alpha * std::expm1(x / alpha)); });
    else
      apply([&](double x) { return x > alpha ? x : 0.0; });  // ThresholdedRelu
  });
  return single(std::move(out));
}

Outputs eval_sign(const Ctx& c) {
  HostTensor out;
  dispatch_numeric(c.v, c.arg(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    out = map_unary<T>(c, [](T x) { return static_cast<T>((T(0) < x) - is_negative(x)); });
  });
  return single(std::move(out));
}

Outputs eval_prelu(const Ctx& c) {
  HostTensor out = c.out();
  dispatch_numeric(c.v, out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    binary_loop<T, T, T>(c.arg(0), c.arg(1), out, [](T x, T slope) { return is_negative(x) ? wrap_mul(x, slope) : x; });
  });
  return single(std::move(out));
}

// Inference Dropout: the data unchanged, the mask all ones (true).
Outputs eval_dropout(const Ctx& c) {
  Outputs outs;
  outs.push_back(c.arg(0));
  if (c.types.size() > 1) {
    HostTensor mask(c.types[1].dtype, c.types[1].dims);
    dispatch_comparable(c.v, mask.dtype(), [&](auto tag) {
      using T = decltype(tag);
      std::fill(mask.data<T>(), mask.data<T>() + mask.numel(), T(1));
    });
    outs.push_back(std::move(mask));
  }
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

Outputs eval_arg_reduce(const Ctx& c) {
  const HostTensor& x = c.arg(0);
  const Dims& d = x.dims();
  const auto axis = static_cast<size_t>(c.v.normalize_axis(c.v.attr_int("axis", 0), ssize(d)));
  const bool last = c.v.opset >= 12 && c.v.attr_int("select_last_index", 0) != 0;
  const bool is_max = c.v.op() == "ArgMax";
  int64_t outer = 1, inner = 1;
  for (size_t i = 0; i < d.size(); ++i) {
    if (i < axis) outer *= d[i];
    if (i > axis) inner *= d[i];
  }
  const int64_t len = d[axis];
  HostTensor out(DType::kInt64, c.types[0].dims);
  int64_t* dst = out.data<int64_t>();
  dispatch_numeric(c.v, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = x.data<T>();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        const T* p = src + o * len * inner + i;
        int64_t best = 0;
        for (int64_t k = 1; k < len; ++k) {
          const T v = p[k * inner], b = p[best * inner];
          const bool better = is_max ? (last ? v >= b : v > b) : (last ? v <= b : v < b);
          if (better) best = k;
        }
        dst[o * inner + i] = best;
      }
    }
  });
  return single(std::move(out));
}

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

Outputs eval_gelu(const Ctx& c) {
  const bool tanh_approx = c.v.attr_string("approximate", "none") == "tanh";
  HostTensor out;
  dispatch_float(c.v, c.arg(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T k_sqrt_2_pi = static_cast<T>(0.7978845608028654), k_rsqrt2 = static_cast<T>(0.7071067811865476);
    if (tanh_approx) {
      out = map_unary<T>(c, [&](T x) {
        return T(0.5) * x * (T(1) + std::tanh(k_sqrt_2_pi * (x + static_cast<T>(0.044715) * x * x * x)));
      });
    } else {
      out = map_unary<T>(c, [&](T x) { return T(0.5) * x * (T(1) + std::erf(x * k_rsqrt2)); });
    }
  });
  return single(std::move(out));
}

Outputs eval_relu(const Ctx& c) {
  HostTensor out;
  dispatch_numeric(c.v, c.arg(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    out = map_unary<T>(c, [](T x) { return is_negative(x) ? T(0) : x; });
  });
  return single(std::move(out));
}

Outputs eval_neg(const Ctx& c) {
  HostTensor out;
  dispatch_numeric(c.v, c.arg(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    out = map_unary<T>(c, [](T x) { return wrap_sub(T(0), x); });
  });
  return single(std::move(out));
}

Outputs eval_abs(const Ctx& c) {
  HostTensor out;
  dispatch_numeric(c.v, c.arg(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    out = map_unary<T>(c, [](T x) { return is_negative(x) ? wrap_sub(T(0), x) : x; });
  });
  return single(std::move(out));
}

Outputs eval_not(const Ctx& c) {
  return single(map_unary<uint8_t>(c, [](uint8_t x) { return static_cast<uint8_t>(x == 0); }));
}

// IsNaN and IsInf run at execute time on attention probabilities (PyTorch's
// scaled_dot_product_attention export: Where(IsNaN(p), 0, p), [B, heads, S,
// S] per layer): blocks of a fixed length, which GCC vectorises at -O2
// (its very-cheap cost model takes a loop with no remainder), cloned for
// AVX2 (inlined into each clone, or the clones share a baseline copy).
template <typename T, typename F>
inline __attribute__((always_inline)) void float_mask_blocks(const T* __restrict x, uint8_t* __restrict o, int64_t n,
                                                             F f) {
  constexpr int64_t kBlock = 32;
  int64_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    for (int64_t j = 0; j < kBlock; ++j) o[i + j] = f(x[i + j]) ? 1 : 0;
  }
  for (; i < n; ++i) o[i] = f(x[i]) ? 1 : 0;
}

// x != x is true for NaN alone (std::isnan does not vectorise).
__attribute__((target_clones("arch=x86-64-v3", "default"))) void nan_mask(const float* x, uint8_t* o, int64_t n) {
  float_mask_blocks(x, o, n, [](float v) { return v != v; });
}
__attribute__((target_clones("arch=x86-64-v3", "default"))) void nan_mask(const double* x, uint8_t* o, int64_t n) {
  float_mask_blocks(x, o, n, [](double v) { return v != v; });
}

Outputs eval_is_nan(const Ctx& c) {
  HostTensor out = c.out();
  dispatch_float(c.v, c.arg(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    nan_mask(c.arg(0).data<T>(), out.data<uint8_t>(), out.numel());
  });
  return single(std::move(out));
}

Outputs eval_is_inf(const Ctx& c) {
  const bool neg = c.v.attr_int("detect_negative", 1) != 0, pos = c.v.attr_int("detect_positive", 1) != 0;
  HostTensor out = c.out();
  dispatch_float(c.v, c.arg(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    constexpr T inf = std::numeric_limits<T>::infinity();
    float_mask_blocks(c.arg(0).data<T>(), out.data<uint8_t>(), out.numel(),
                      [&](T v) { return (pos && v == inf) || (neg && v == -inf); });
  });
  return single(std::move(out));
}

Outputs eval_clip(const Ctx& c) {
  HostTensor out;
  dispatch_numeric(c.v, c.arg(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    T lo = std::numeric_limits<T>::lowest(), hi = std::numeric_limits<T>::max();
    if (c.v.opset < 11) {
      lo = static_cast<T>(c.v.attr_float("min", std::numeric_limits<float>::lowest()));
      hi = static_cast<T>(c.v.attr_float("max", std::numeric_limits<float>::max()));
    } else {
      if (const HostTensor* m = c.opt(1)) lo = *m->data<T>();
      if (const HostTensor* m = c.opt(2)) hi = *m->data<T>();
    }
    // NaN passes through; min > max gives max (onnxruntime, numpy.clip).
    out = map_unary<T>(c, [&](T x) { return x < lo ? (lo > hi ? hi : lo) : (x > hi ? hi : x); });
  });
  return single(std::move(out));
}

Outputs eval_cast(const Ctx& c) {
  const HostTensor& x = c.arg(0);
  HostTensor out = c.out();
  dispatch_cast(c.v, x.dtype(), [&](auto stag) {
    using S = decltype(stag);
    dispatch_cast(c.v, out.dtype(), [&](auto dtag) {
      using D = decltype(dtag);
      const S* src = x.data<S>();
      D* dst = out.data<D>();
      for (int64_t i = 0, n = x.numel(); i < n; ++i) dst[i] = store<D>(load(src[i]));
    });
  });
  return single(std::move(out));
}

// ---- elementwise binary and variadic ------------------------------------------------------

template <typename T>
T div_values(const OpView& v, T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    if (b == 0) v.fail("integer division by zero");
    if constexpr (std::is_signed_v<T>) {
      if (b == -1) return wrap_sub(T(0), a);  // INT_MIN / -1 wraps
    }
    return static_cast<T>(a / b);  // truncates toward zero, like onnxruntime
  } else {
    return a / b;
  }
}

// a^b for an integer base, wrapping at T's width. A negative exponent is
// 1/a^|b| truncated: only |a| == 1 survives. An unsigned exponent is never
// negative, whatever its top bit.
template <typename T, typename E>
T int_pow(T a, E b) {
  if constexpr (std::is_signed_v<E>) {
    if (b < 0) {
      if (a == 1) return 1;
      if constexpr (std::is_signed_v<T>) {
        if (a == -1) return (b % 2 == 0) ? T(1) : T(-1);
      }
      return 0;  // a == 0 is 1/0, which onnxruntime leaves undefined
    }
  }
  T r = 1, base = a;
  for (auto e = static_cast<std::make_unsigned_t<E>>(b); e > 0; e >>= 1) {
    if (e & 1) r = wrap_mul(r, base);
    base = wrap_mul(base, base);
  }
  return r;
}

template <typename T>
T pow_values(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    return int_pow(a, b);
  } else {
    return std::pow(a, b);
  }
}

Outputs eval_arith(const Ctx& c) {
  const std::string& op = c.v.op();
  HostTensor out = c.out();
  dispatch_numeric(c.v, out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const HostTensor& a = c.arg(0);
    const HostTensor& b = c.arg(1);
    if (op == "Add") {
      binary_loop<T, T, T>(a, b, out, [](T x, T y) { return wrap_add(x, y); });
    } else if (op == "Sub") {
      binary_loop<T, T, T>(a, b, out, [](T x, T y) { return wrap_sub(x, y); });
    } else if (op == "Mul") {
      binary_loop<T, T, T>(a, b, out, [](T x, T y) { return wrap_mul(x, y); });
    } else {
      binary_loop<T, T, T>(a, b, out, [&](T x, T y) { return div_values(c.v, x, y); });
    }
  });
  return single(std::move(out));
}

// Mod: fmod 1 is C's truncated remainder (the sign of a), fmod 0 the
// floored one (the sign of b, Python's %). Integers wrap like Div
// (INT_MIN mod -1 is 0) and refuse a zero divisor; floats give NaN for it.
template <typename T>
T mod_values(const OpView& v, T a, T b, bool fmod) {
  if constexpr (std::is_integral_v<T>) {
    if (b == 0) v.fail("integer modulo by zero");
    if constexpr (std::is_signed_v<T>) {
      if (b == T(-1)) return 0;
    }
    T r = static_cast<T>(a % b);
    if (!fmod && r != 0 && is_negative(r) != is_negative(b)) r = static_cast<T>(r + b);  // |r| < |b|: no overflow
    return r;
  } else {
    T r = std::fmod(a, b);
    if (!fmod) {
      if (r != 0 && std::signbit(r) != std::signbit(b)) {
        r += b;  // b = ±inf with a finite: b, as the spec says
      } else if (r == 0) {
        r = std::copysign(T(0), b);
      }
    }
    return r;
  }
}

Outputs eval_mod(const Ctx& c) {
  const bool fmod = c.v.attr_int("fmod", 0) != 0;
  HostTensor out = c.out();
  dispatch_numeric(c.v, out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    binary_loop<T, T, T>(c.arg(0), c.arg(1), out, [&](T x, T y) { return mod_values(c.v, x, y, fmod); });
  });
  return single(std::move(out));
}

Outputs eval_pow(const Ctx& c) {
  HostTensor out = c.out();
  const HostTensor& a = c.arg(0);
  const HostTensor& b = c.arg(1);
  dispatch_numeric(c.v, a.dtype(), [&](auto ta) {
    using TA = decltype(ta);
    dispatch_numeric(c.v, b.dtype(), [&](auto tb) {
      using TB = decltype(tb);
      if constexpr (std::is_same_v<TA, TB>) {
        binary_loop<TA, TB, TA>(a, b, out, [](TA x, TB y) { return pow_values(x, y); });
      } else if constexpr (std::is_floating_point_v<TA>) {
        binary_loop<TA, TB, TA>(a, b, out, [](TA x, TB y) { return static_cast<TA>(std::pow(x, static_cast<TA>(y))); });
      } else if constexpr (std::is_integral_v<TB>) {  // int32 ^ int64, uint8 ^ uint64 and the like
        binary_loop<TA, TB, TA>(a, b, out, [](TA x, TB y) { return int_pow(x, y); });
      } else {  // integer base, float exponent: in double, truncated
        binary_loop<TA, TB, TA>(a, b, out, [](TA x, TB y) {
          return float_to_int<TA>(std::pow(static_cast<double>(x), static_cast<double>(y)));
        });
      }
    });
  });
  return single(std::move(out));
}

template <typename T>
T min_value(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
  }
  return b < a ? b : a;
}
template <typename T>
T max_value(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
  }
  return a < b ? b : a;
}

Outputs eval_variadic(const Ctx& c) {
  const std::string& op = c.v.op();
  HostTensor acc = expand_to(c.v, c.arg(0), c.types[0].dims);
  for (size_t i = 1; i < c.in.size(); ++i) {
    dispatch_numeric(c.v, acc.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if (op == "Sum") {
        binary_loop<T, T, T>(acc, c.arg(i), acc, [](T x, T y) { return wrap_add(x, y); });
      } else if (op == "Min") {
        binary_loop<T, T, T>(acc, c.arg(i), acc, [](T x, T y) { return min_value(x, y); });
      } else {
        binary_loop<T, T, T>(acc, c.arg(i), acc, [](T x, T y) { return max_value(x, y); });
      }
    });
  }
  return single(std::move(acc));
}

Outputs eval_compare(const Ctx& c) {
  const std::string& op = c.v.op();
  HostTensor out = c.out();
  const HostTensor& a = c.arg(0);
  const HostTensor& b = c.arg(1);
  dispatch_comparable(c.v, a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto run = [&](auto f) { binary_loop<T, T, uint8_t>(a, b, out, [&](T x, T y) { return uint8_t{f(x, y)}; }); };
    if (op == "Equal") {
      if (a.dtype() == DType::kBool) {  // any nonzero byte is true
        run([](T x, T y) { return (x != 0) == (y != 0); });
      } else {
        run([](T x, T y) { return x == y; });
      }
    } else if (op == "Less") {
      run([](T x, T y) { return x < y; });
    } else if (op == "LessOrEqual") {
      run([](T x, T y) { return x <= y; });
    } else if (op == "Greater") {
      run([](T x, T y) { return x > y; });
    } else {
      run([](T x, T y) { return x >= y; });
    }
  });
  return single(std::move(out));
}

Outputs eval_logic(const Ctx& c) {
  HostTensor out = c.out();
  if (c.v.op() == "And") {
    binary_loop<uint8_t, uint8_t, uint8_t>(c.arg(0), c.arg(1), out,
                                           [](uint8_t x, uint8_t y) { return uint8_t{x != 0 && y != 0}; });
  } else {
    binary_loop<uint8_t, uint8_t, uint8_t>(c.arg(0), c.arg(1), out,
                                           [](uint8_t x, uint8_t y) { return uint8_t{x != 0 || y != 0}; });
  }
  return single(std::move(out));
}

Outputs eval_where(const Ctx& c) {
  HostTensor out = c.out();
  const Dims& od = out.dims();
  const HostTensor& cond = c.arg(0);
  const HostTensor& x = c.arg(1);
  const HostTensor& y = c.arg(2);
  Strided<4> s(od, {contiguous_strides(od), broadcast_strides(cond.dims(), od), broadcast_strides(x.dims(), od),
                    broadcast_strides(y.dims(), od)});
  dispatch_size(c.v, dtype_size(out.dtype()), [&](auto tag) {
    using T = decltype(tag);
    const uint8_t* pc = cond.data<uint8_t>();
    const T* px = x.data<T>();
    const T* py = y.data<T>();
    T* po = out.data<T>();
    s.run({0, 0, 0, 0}, [&](const std::array<int64_t, 4>& off, int64_t n, const std::array<int64_t, 4>& st) {
      T* o = po + off[0];
      const uint8_t* cc = pc + off[1];
      const T* xx = px + off[2];
      const T* yy = py + off[3];
      const int64_t sc = st[1], sx = st[2], sy = st[3];
      if (sc == 0) {  // one condition for the run: a strided copy of one side
        const T* src = *cc ? xx : yy;
        const int64_t ss = *cc ? sx : sy;
        for (int64_t i = 0; i < n; ++i) o[i] = src[i * ss];
      } else if (sc == 1 && sx == 1 && sy == 1) {
        for (int64_t i = 0; i < n; ++i) {
          const T a = xx[i], b = yy[i];  // both loaded, so the select vectorises
          o[i] = cc[i] ? a : b;
        }
      } else if (sc == 1 && sx == 1 && sy == 0) {
        const T b = *yy;
        for (int64_t i = 0; i < n; ++i) {
          const T a = xx[i];
          o[i] = cc[i] ? a : b;
        }
      } else if (sc == 1 && sx == 0 && sy == 1) {
        const T a = *xx;
        for (int64_t i = 0; i < n; ++i) {
          const T b = yy[i];
          o[i] = cc[i] ? a : b;
        }
      } else {
        for (int64_t i = 0; i < n; ++i) {
          const T a = xx[i * sx], b = yy[i * sy];
          o[i] = cc[i * sc] ? a : b;
        }
      }
    });
  });
  return single(std::move(out));
}

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

// ---- reductions ----------------------------------------------------------------------

Outputs eval_reduce(const Ctx& c) {
  const HostTensor& x = c.arg(0);
  const ReduceSpec spec = resolve_reduce(c.v);
  const std::string& op = c.v.op();
  HostTensor out(x.dtype(), spec.kept);
  int64_t count = 1;
  for (size_t a = 0; a < spec.reduced.size(); ++a) {
    if (spec.reduced[a]) count *= x.dims()[a];
  }
  std::vector<int64_t> out_strides = contiguous_strides(spec.kept);
  for (size_t a = 0; a < spec.reduced.size(); ++a) {
    if (spec.reduced[a]) out_strides[a] = 0;
  }
  Strided<2> s(x.dims(), {out_strides, contiguous_strides(x.dims())});
  dispatch_comparable(c.v, x.dtype(), [&](auto tag) {  // bool: ReduceMax/Min only (opset 20)
    using T = decltype(tag);
    // Narrow integers sum in 64 bits: a mean must not see a wrapped sum.
    using Acc = std::conditional_t<std::is_floating_point_v<T>, double,
                                   std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;
    const T* src = x.data<T>();
    T* dst = out.data<T>();
    if (op == "ReduceMax" || op == "ReduceMin") {
      const bool is_max = op == "ReduceMax";
      T init = is_max ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
      if (x.dtype() == DType::kBool) init = is_max ? T(0) : T(1);  // an empty set: false, true
      if constexpr (std::is_floating_point_v<T>) {
        init = is_max ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
      }
      std::fill(dst, dst + out.numel(), init);
      s.run({0, 0}, [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
        for (int64_t i = 0; i < n; ++i) {
          T& o = dst[off[0] + i * st[0]];
          const T v = src[off[1] + i * st[1]];
          o = is_max ? max_value(o, v) : min_value(o, v);
        }
      });
      return;
    }
    // The sums (Sum, Mean, L1, L2, SumSquare, LogSum, LogSumExp) differ in
    // what each element adds and what the total becomes; Prod multiplies.
    const bool prod = op == "ReduceProd";
    enum {
      kValue,
      kAbs,
      kSquare,
      kExp
    } const what = op == "ReduceL1"                              ? kAbs
                   : op == "ReduceL2" || op == "ReduceSumSquare" ? kSquare
                   : op == "ReduceLogSumExp"                     ? kExp
                                                                 : kValue;
    auto term = [&](T v) -> Acc {
      const auto a = static_cast<Acc>(v);
      if (what == kAbs) return is_negative(a) ? wrap_sub(Acc(0), a) : a;
      if (what == kSquare) return wrap_mul(a, a);
      if constexpr (std::is_floating_point_v<T>) {
        if (what == kExp) return std::exp(a);
      }
      return a;
    };
    auto combine = [&](Acc a, Acc b) { return prod ? wrap_mul(a, b) : wrap_add(a, b); };
    std::vector<Acc> acc(static_cast<size_t>(out.numel()), Acc(prod ? 1 : 0));
    s.run({0, 0}, [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
      if (st[0] == 0) {
        Acc sum = prod ? 1 : 0;
        for (int64_t i = 0; i < n; ++i) sum = combine(sum, term(src[off[1] + i * st[1]]));
        acc[static_cast<size_t>(off[0])] = combine(acc[static_cast<size_t>(off[0])], sum);
      } else {
        for (int64_t i = 0; i < n; ++i) {
          Acc& a = acc[static_cast<size_t>(off[0] + i * st[0])];
          a = combine(a, term(src[off[1] + i * st[1]]));
        }
      }
    });
    if constexpr (std::is_floating_point_v<T>) {
      for (Acc& a : acc) {
        if (op == "ReduceL2") a = std::sqrt(a);
        if (op == "ReduceLogSum" || op == "ReduceLogSumExp") a = std::log(a);
      }
    }
    const bool mean = op == "ReduceMean";
    for (size_t i = 0; i < acc.size(); ++i) {
      if (!mean) {
        dst[i] = static_cast<T>(acc[i]);
      } else if constexpr (std::is_floating_point_v<T>) {
        dst[i] = static_cast<T>(acc[i] / static_cast<double>(count));
      } else {
        dst[i] = count == 0 ? T(0) : static_cast<T>(acc[i] / static_cast<Acc>(count));
      }
    }
  });
  out.reshape(c.types[0].dims);
  return single(std::move(out));
}

// ---- data movement -------------------------------------------------------------------

Outputs eval_copy_reshape(const Ctx& c) {
  HostTensor out = c.arg(0);
  out.reshape(c.types[0].dims);
  return single(std::move(out));
}

Outputs eval_transpose(const Ctx& c) {
  const HostTensor& x = c.arg(0);
  std::vector<int64_t> perm(x.dims().size());
  std::iota(perm.rbegin(), perm.rend(), int64_t{0});
  perm = c.v.attr_ints("perm", perm);
  const std::vector<int64_t> cs = contiguous_strides(x.dims());
  std::vector<int64_t> st;
  for (int64_t p : perm) st.push_back(cs[static_cast<size_t>(p)]);
  HostTensor out = c.out();
  strided_copy(c.v, x, out, st);
  return single(std::move(out));
}

Outputs eval_expand(const Ctx& c) { return single(expand_to(c.v, c.arg(0), c.types[0].dims)); }

Outputs eval_tile(const Ctx& c) {
  const HostTensor& x = c.arg(0);
  const std::vector<int64_t> reps = c.arg(1).to_int64();
  const std::vector<int64_t> cs = contiguous_strides(x.dims());
  Dims td;
  std::vector<int64_t> st;
  for (size_t i = 0; i < x.dims().size(); ++i) {  // out axis i = (repeat, element)
    td.push_back(reps[i]);
    td.push_back(x.dims()[i]);
    st.push_back(0);
    st.push_back(cs[i]);
  }
  HostTensor out(x.dtype(), td);
  strided_copy(c.v, x, out, st);
  out.reshape(c.types[0].dims);
  return single(std::move(out));
}

Outputs eval_slice(const Ctx& c) {
  const HostTensor& x = c.arg(0);
  const SliceSpec s = resolve_slice(c.v);
  const std::vector<int64_t> cs = contiguous_strides(x.dims());
  std::vector<int64_t> st(cs.size());
  int64_t base = 0;
  for (size_t a = 0; a < cs.size(); ++a) {
    st[a] = cs[a] * s.steps[a];
    base += cs[a] * s.starts[a];
  }
  HostTensor out = c.out();
  strided_copy(c.v, x, out, st, base);
  return single(std::move(out));
}

Outputs eval_concat(const Ctx& c) {
  HostTensor out = c.out();
  const Dims& od = out.dims();
  const auto axis = static_cast<size_t>(c.v.normalize_axis(c.v.attr_int("axis", 0), ssize(od)));
  const size_t es = dtype_size(out.dtype());
  int64_t outer = 1, inner = 1;
  for (size_t i = 0; i < od.size(); ++i) {
    if (i < axis) outer *= od[i];
    if (i > axis) inner *= od[i];
  }
  auto* dst = static_cast<unsigned char*>(out.raw());
  for (int64_t o = 0; o < outer; ++o) {
    for (const HostTensor* t : c.in) {
      const auto block = static_cast<size_t>(t->dims()[axis] * inner) * es;
      std::memcpy(dst, static_cast<const unsigned char*>(t->raw()) + static_cast<size_t>(o) * block, block);
      dst += block;
    }
  }
  return single(std::move(out));
}

Outputs eval_split(const Ctx& c) {
  const HostTensor& x = c.arg(0);
  const SplitSpec s = resolve_split(c.v);
  const auto axis = static_cast<size_t>(s.axis);
  const Dims& d = x.dims();
  const size_t es = dtype_size(x.dtype());
  int64_t outer = 1, inner = 1;
  for (size_t i = 0; i < d.size(); ++i) {
    if (i < axis) outer *= d[i];
    if (i > axis) inner *= d[i];
  }
  Outputs outs;
  int64_t at = 0;
  for (size_t k = 0; k < s.sizes.size(); ++k) {
    HostTensor t = c.out(k);
    const auto block = static_cast<size_t>(s.sizes[k] * inner) * es;
    const auto row = static_cast<size_t>(d[axis] * inner) * es;
    for (int64_t o = 0; o < outer; ++o) {
      std::memcpy(static_cast<unsigned char*>(t.raw()) + static_cast<size_t>(o) * block,
                  static_cast<const unsigned char*>(x.raw()) + static_cast<size_t>(o) * row +
                      static_cast<size_t>(at * inner) * es,
                  block);
    }
    at += s.sizes[k];
    outs.push_back(std::move(t));
  }
  return outs;
}

// An index into `axis` (of size n) as the ONNX indexing ops take it: in
// [-n, n), negative counting from the end; anything else fails the node.
int64_t index_on_axis(const Ctx& c, int64_t i, size_t axis, int64_t n) {
  if (i < -n || i >= n)
    c.v.fail("index " + std::to_string(i) + " is out of range for axis " + std::to_string(axis) + " of size " +
             std::to_string(n));
  return i < 0 ? i + n : i;
}

Outputs eval_gather(const Ctx& c) {
  const HostTensor& x = c.arg(0);
  const HostTensor& idx = c.arg(1);
  const Dims& d = x.dims();
  const auto axis = static_cast<size_t>(c.v.normalize_axis(c.v.attr_int("axis", 0), ssize(d)));
  const int64_t n = d[axis];
  int64_t outer = 1, inner = 1;
  for (size_t i = 0; i < d.size(); ++i) {
    if (i < axis) outer *= d[i];
    if (i > axis) inner *= d[i];
  }
  std::vector<int64_t> ids = idx.to_int64();
  for (int64_t& i : ids) i = index_on_axis(c, i, axis, n);
  HostTensor out = c.out();
  const size_t row = static_cast<size_t>(inner) * dtype_size(x.dtype());
  const auto* src = static_cast<const unsigned char*>(x.raw());
  auto* dst = static_cast<unsigned char*>(out.raw());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i : ids) {
      std::memcpy(dst, src + static_cast<size_t>(o * n + i) * row, row);
      dst += row;
    }
  }
  return single(std::move(out));
}

// GatherElements: the output walks the indices' index space; data is read
// at the same coordinates except on `axis`, where the index says.
Outputs eval_gather_elements(const Ctx& c) {
  const HostTensor& x = c.arg(0);
  const Dims& d = x.dims();
  const auto axis = static_cast<size_t>(c.v.normalize_axis(c.v.attr_int("axis", 0), ssize(d)));
  const int64_t n = d[axis];
  std::vector<int64_t> ids = c.arg(1).to_int64();
  for (int64_t& i : ids) i = index_on_axis(c, i, axis, n);
  HostTensor out = c.out();
  const Dims& od = out.dims();
  std::vector<int64_t> xs = contiguous_strides(d);
  const int64_t axis_stride = xs[axis];
  xs[axis] = 0;  // the index supplies that coordinate
  Strided<2> s(od, {contiguous_strides(od), xs});
  dispatch_size(c.v, dtype_size(x.dtype()), [&](auto tag) {
    using T = decltype(tag);
    const T* src = x.data<T>();
    T* dst = out.data<T>();
    s.run({0, 0}, [&](const std::array<int64_t, 2>& off, int64_t len, const std::array<int64_t, 2>& st) {
      for (int64_t i = 0; i < len; ++i) {
        const int64_t o = off[0] + i * st[0];
        dst[o] = src[off[1] + i * st[1] + ids[static_cast<size_t>(o)] * axis_stride];
      }
    });
  });
  return single(std::move(out));
}

// ScatterND: data copied, then each index tuple's slice of data replaced
// by (or reduced with) its slice of updates, in order (duplicate tuples:
// the last one wins, as in onnxruntime, where the spec leaves it open).
Outputs eval_scatter_nd(const Ctx& c) {
  const HostTensor& x = c.arg(0);
  const HostTensor& idx = c.arg(1);
  const HostTensor& upd = c.arg(2);
  const Dims& d = x.dims();
  const auto k = static_cast<size_t>(idx.dims().back());
  const std::vector<int64_t> xs = contiguous_strides(d);
  int64_t slice = 1;
  for (size_t a = k; a < d.size(); ++a) slice *= d[a];
  const int64_t tuples = element_count(Dims(idx.dims().begin(), idx.dims().end() - 1));
  const std::vector<int64_t> ids = idx.to_int64();
  std::vector<int64_t> offsets(static_cast<size_t>(tuples), 0);
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t off = 0;
    for (size_t a = 0; a < k; ++a) {
      off += index_on_axis(c, ids[static_cast<size_t>(t) * k + a], a, d[a]) * xs[a];
    }
    offsets[static_cast<size_t>(t)] = off;
  }
  HostTensor out = x;  // copy on write: the data() below copies
  const std::string reduction = c.v.opset >= 16 ? c.v.attr_string("reduction", "none") : "none";
  if (reduction == "none") {
    const size_t row = static_cast<size_t>(slice) * dtype_size(x.dtype());
    auto* dst = static_cast<unsigned char*>(out.raw());
    const auto* src = static_cast<const unsigned char*>(upd.raw());
    for (int64_t t = 0; t < tuples; ++t) {
      if (row)
        std::memcpy(dst + static_cast<size_t>(offsets[static_cast<size_t>(t)]) * dtype_size(x.dtype()),
                    src + static_cast<size_t>(t) * row, row);
    }
    return single(std::move(out));
  }
  dispatch_numeric(c.v, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* dst = out.data<T>();
    const T* src = upd.data<T>();
    auto apply = [&](auto f) {
      for (int64_t t = 0; t < tuples; ++t) {
        T* o = dst + offsets[static_cast<size_t>(t)];
        const T* u = src + t * slice;
        for (int64_t i = 0; i < slice; ++i) o[i] = f(o[i], u[i]);
      }
    };
    if (reduction == "add") {
      apply([](T a, T b) { return wrap_add(a, b); });
    } else if (reduction == "mul") {
      apply([](T a, T b) { return wrap_mul(a, b); });
    } else if (reduction == "max") {
      apply([](T a, T b) { return max_value(a, b); });
    } else {
      apply([](T a, T b) { return min_value(a, b); });
    }
  });
  return single(std::move(out));
}

Outputs eval_shape(const Ctx& c) {
  const Dims& d = c.arg(0).dims();
  const int64_t r = ssize(d);
  int64_t start = c.v.opset >= 15 ? c.v.attr_int("start", 0) : 0;
  if (start < 0) start += r;
  start = std::clamp<int64_t>(start, 0, r);
  HostTensor out = c.out();
  for (int64_t i = 0; i < out.numel(); ++i) out.data<int64_t>()[i] = d[static_cast<size_t>(start + i)];
  return single(std::move(out));
}

Outputs eval_constant(const Ctx& c) {
  const OpView& v = c.v;
  if (v.has_attr("value")) return single(v.attr("value")->t);
  if (v.has_attr("value_float")) return single(HostTensor::scalar_float(v.attr_float("value_float", 0)));
  if (v.has_attr("value_int")) return single(HostTensor::from_int64({v.attr_int("value_int", 0)}, {}));
  if (v.has_attr("value_ints")) {
    std::vector<int64_t> x = v.attr_ints("value_ints");
    return single(HostTensor::from_int64(x, {ssize(x)}));
  }
  std::vector<float> f = v.attr_floats("value_floats");
  HostTensor t(DType::kFloat, {static_cast<int64_t>(f.size())});
  if (!f.empty()) std::memcpy(t.raw(), f.data(), f.size() * sizeof(float));
  return single(std::move(t));
}

Outputs eval_constant_of_shape(const Ctx& c) {
  HostTensor out = c.out();
  if (const Attribute* a = c.v.attr("value")) {
    dispatch_size(c.v, dtype_size(out.dtype()), [&](auto tag) {
      using T = decltype(tag);
      T val;
      std::memcpy(&val, a->t.raw(), sizeof(T));
      std::fill(out.data<T>(), out.data<T>() + out.numel(), val);
    });
  }
  return single(std::move(out));
}

Outputs eval_range(const Ctx& c) {
  HostTensor out = c.out();
  dispatch_numeric(c.v, out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T value = *c.arg(0).data<T>();
    const T delta = *c.arg(2).data<T>();
    T* dst = out.data<T>();
    for (int64_t i = 0; i < out.numel(); ++i) {  // accumulated, as the spec's loop does
      dst[i] = value;
      value = wrap_add(value, delta);
    }
  });
  return single(std::move(out));
}

// Gathers `in` into `out` along per-axis source index maps (element index
// on that axis, or -1 for `fill`): Pad and nearest Resize.
void gather_by_maps(const OpView& v, const HostTensor& in, HostTensor& out,
                    const std::vector<std::vector<int64_t>>& maps, const HostTensor& fill) {
  if (out.numel() == 0) return;
  const Dims& od = out.dims();
  const size_t r = od.size();
  const std::vector<int64_t> cs = contiguous_strides(in.dims());
  dispatch_size(v, dtype_size(in.dtype()), [&](auto tag) {
    using T = decltype(tag);
    const T* src = in.data<T>();
    T* dst = out.data<T>();
    T fv{};
    if (fill.raw()) std::memcpy(&fv, fill.raw(), sizeof(T));
    if (r == 0) {
      dst[0] = src[0];
      return;
    }
    // Offsets along the innermost axis, -1 for fill.
    std::vector<int64_t> last(maps[r - 1]);
    for (int64_t& m : last) m = m < 0 ? -1 : m * cs[r - 1];
    const int64_t n = od[r - 1];
    // The longest run of consecutive source elements (the unpadded middle
    // of a Pad row) is copied with memcpy.
    int64_t run_at = 0, run_len = 0;
    for (int64_t i = 0, j; i < n; i = j) {
      for (j = i + 1; j < n && last[static_cast<size_t>(i)] >= 0 &&
                      last[static_cast<size_t>(j)] == last[static_cast<size_t>(j - 1)] + 1;)
        ++j;
      if (last[static_cast<size_t>(i)] >= 0 && j - i > run_len) {
        run_at = i;
        run_len = j - i;
      }
    }
    if (run_len < 8) run_len = 0;
    std::vector<int64_t> idx(r - 1, 0);
    for (;;) {
      int64_t base = 0;
      bool filled = false;
      for (size_t a = 0; a + 1 < r; ++a) {
        const int64_t m = maps[a][static_cast<size_t>(idx[a])];
        if (m < 0) filled = true;
        base += m * cs[a];
      }
      if (filled) {
        std::fill(dst, dst + n, fv);
      } else {
        auto gather = [&](int64_t from, int64_t to) {
          for (int64_t i = from; i < to; ++i) {
            const int64_t m = last[static_cast<size_t>(i)];
            dst[i] = m < 0 ? fv : src[base + m];
          }
        };
        gather(0, run_at);
        if (run_len > 0) {
          std::memcpy(dst + run_at, src + base + last[static_cast<size_t>(run_at)],
                      static_cast<size_t>(run_len) * sizeof(T));
        }
        gather(run_at + run_len, n);
      }
      dst += n;
      size_t a = r - 1;
      for (;;) {
        if (a == 0) return;
        --a;
        if (++idx[a] < od[a]) break;
        idx[a] = 0;
      }
    }
  });
}

Outputs eval_pad(const Ctx& c) {
  const HostTensor& x = c.arg(0);
  const PadSpec p = resolve_pad(c.v);
  std::vector<std::vector<int64_t>> maps(p.out.size());
  for (size_t a = 0; a < p.out.size(); ++a) {
    const int64_t len = x.dims()[a];
    for (int64_t o = 0; o < p.out[a]; ++o) {
      int64_t s = o - p.begin[a];
      if (s < 0 || s >= len) {
        switch (p.mode) {
          case PadSpec::kConstant:
            s = -1;
            break;
          case PadSpec::kEdge:
            s = std::clamp<int64_t>(s, 0, len - 1);
            break;
          case PadSpec::kWrap:
            s = ((s % len) + len) % len;
            break;
          case PadSpec::kReflect: {
            if (len == 1) {
              s = 0;
              break;
            }
            const int64_t period = 2 * (len - 1);
            s = ((s % period) + period) % period;
            if (s >= len) s = period - s;
            break;
          }
        }
      }
      maps[a].push_back(s);
    }
  }
  HostTensor out = c.out();
  gather_by_maps(c.v, x, out, maps, p.value);
  return single(std::move(out));
}

int64_t nearest_index(ResizeSpec::Nearest mode, float x, float scale) {
  switch (mode) {
    case ResizeSpec::kRoundPreferFloor:
      return static_cast<int64_t>(x == std::floor(x) + 0.5f ? std::floor(x) : std::round(x));
    case ResizeSpec::kRoundPreferCeil:
      return static_cast<int64_t>(std::round(x));
    case ResizeSpec::kFloor:
      return static_cast<int64_t>(std::floor(x));
    case ResizeSpec::kCeil:
      return static_cast<int64_t>(std::ceil(x));
    case ResizeSpec::kLegacy:
      return static_cast<int64_t>(scale < 1 ? std::ceil(x) : x);
  }
  return 0;
}

// The interpolation kernels of the ONNX reference (onnx/reference/ops/
// op_resize.py) at distance d from the sampling point, in input pixels times
// the filter scale.
double linear_kernel(double d) { return std::max(0.0, 1.0 - std::abs(d)); }
double cubic_kernel(double d, double a) {
  d = std::abs(d);
  if (d <= 1) return ((a + 2) * d - (a + 3)) * d * d + 1;
  if (d < 2) return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
  return 0;
}

// Where one output point of one axis reads from: `k` input indices (clamped
// to the axis, which is the reference's edge padding) and their weights.
struct AxisTaps {
  int64_t k = 0;
  std::vector<int64_t> index;  // olen * k
  std::vector<double> weight;  // olen * k
  std::vector<bool> outside;   // tf_crop_and_resize: the point lies outside the input
  bool identity = false;       // every output point is its own input point
};

AxisTaps interpolation_taps(const ResizeSpec& s, size_t a, int64_t len, int64_t olen) {
  AxisTaps t;
  const bool crop = s.coord == ResizeSpec::kTfCropAndResize;
  const bool cubic = s.mode == ResizeSpec::kCubic;
  // Antialiasing stretches the filter by 1/scale when downscaling, so every
  // input pixel under an output pixel contributes.
  const double fs = s.antialias ? std::min(1.0, static_cast<double>(s.scales[a])) : 1.0;
  const auto first = static_cast<int64_t>(std::floor((cubic ? -2.0 : -1.0) / fs) + 1);  // first tap, relative
  t.k = 2 - 2 * first;
  t.index.resize(static_cast<size_t>(olen * t.k));
  t.weight.resize(t.index.size());
  t.outside.assign(static_cast<size_t>(olen), false);
  t.identity = olen == len;
  for (int64_t o = 0; o < olen; ++o) {
    const auto u = static_cast<size_t>(o);
    const float x = resize_source_coord(s, a, len, static_cast<float>(o));
    if (crop && (x < 0 || x > static_cast<float>(len - 1))) t.outside[u] = true;
    int64_t* idx = &t.index[u * static_cast<size_t>(t.k)];
    double* w = &t.weight[u * static_cast<size_t>(t.k)];
    if (!cubic && !s.antialias) {
      // Plain linear: the two pixels around the clamped point (what the
      // reference's edge padding amounts to, exclude_outside or not).
      const float src = std::clamp(x, 0.0f, static_cast<float>(len - 1));
      idx[0] = std::min<int64_t>(static_cast<int64_t>(src), len - 1);
      idx[1] = std::min<int64_t>(idx[0] + 1, len - 1);
      w[1] = src - static_cast<float>(idx[0]);
      w[0] = 1 - w[1];
      t.identity = t.identity && idx[0] == o && w[1] == 0 && !t.outside[u];
      continue;
    }
    t.identity = false;
    // The reference takes the pixel left of x as the base, with the fraction
    // in (0, 1]: an integer x counts as 1 past the pixel before it.
    double ratio = static_cast<double>(x) - std::floor(static_cast<double>(x));
    if (ratio == 0) ratio = 1;
    const auto base = static_cast<int64_t>(std::llround(static_cast<double>(x) - ratio));
    double sum = 0;
    for (int64_t i = 0; i < t.k; ++i) {
      const double d = fs * (static_cast<double>(first + i) - ratio);
      double c = cubic ? cubic_kernel(d, s.cubic_a) : linear_kernel(d);
      const int64_t at = base + first + i;
      if (s.exclude_outside && (at < 0 || at >= len)) c = 0;
      idx[i] = std::clamp<int64_t>(at, 0, len - 1);
      w[i] = c;
      sum += c;
    }
    if ((s.antialias || s.exclude_outside) && sum != 0)
      for (int64_t i = 0; i < t.k; ++i) w[i] /= sum;
  }
  return t;
}

Outputs eval_resize(const Ctx& c) {
  const HostTensor& x = c.arg(0);
  const ResizeSpec s = resolve_resize(c.v);
  const Dims& in = x.dims();
  const size_t r = in.size();
  const bool crop = s.coord == ResizeSpec::kTfCropAndResize;
  HostTensor out = c.out();
  if (out.numel() == 0) return single(std::move(out));

  if (s.mode == ResizeSpec::kNearest) {
    std::vector<std::vector<int64_t>> maps(r);
    for (size_t a = 0; a < r; ++a) {
      const float hi = static_cast<float>(in[a] - 1);
      for (int64_t o = 0; o < s.out[a]; ++o) {
        const float src = resize_source_coord(s, a, in[a], static_cast<float>(o));
        if (crop && (src < 0 || src > hi)) {
          maps[a].push_back(-1);
          continue;
        }
        maps[a].push_back(std::clamp<int64_t>(nearest_index(s.nearest, src, s.scales[a]), 0, in[a] - 1));
      }
    }
    gather_by_maps(c.v, x, out, maps, scalar_of(x.dtype(), s.extrapolation));
    return single(std::move(out));
  }

  // Linear and cubic interpolation are separable: resize one axis at a time,
  // each output point a weighted sum of its axis taps.
  HostTensor cur = x;
  std::vector<std::vector<bool>> outside(r);
  dispatch_float(c.v, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    for (size_t a = 0; a < r; ++a) {
      const int64_t len = in[a], olen = s.out[a];
      const AxisTaps taps = interpolation_taps(s, a, len, olen);
      outside[a] = taps.outside;
      if (taps.identity) continue;
      std::vector<T> w(taps.weight.begin(), taps.weight.end());
      Dims nd = cur.dims();
      nd[a] = olen;
      HostTensor next(cur.dtype(), nd);
      int64_t outer = 1, inner = 1;
      for (size_t i = 0; i < r; ++i) {
        if (i < a) outer *= nd[i];
        if (i > a) inner *= nd[i];
      }
      const T* src = cur.data<T>();
      T* dst = next.data<T>();
      const auto k = static_cast<size_t>(taps.k);
      for (int64_t ob = 0; ob < outer; ++ob) {
        for (int64_t o = 0; o < olen; ++o) {
          const size_t at = static_cast<size_t>(o) * k;
          T* d = dst + (ob * olen + o) * inner;
          if (inner == 1) {  // the innermost axis: one element per point
            T acc = T(0);
            for (size_t i = 0; i < k; ++i) acc += w[at + i] * src[ob * len + taps.index[at + i]];
            *d = acc;
            continue;
          }
          std::fill(d, d + inner, T(0));
          for (size_t i = 0; i < k; ++i) {
            const T wi = w[at + i];
            const T* si = src + (ob * len + taps.index[at + i]) * inner;
            for (int64_t j = 0; j < inner; ++j) d[j] += wi * si[j];
          }
        }
      }
      cur = std::move(next);
    }
    if (crop) {  // tf_crop_and_resize: points outside the input take extrapolation_value
      const T e = static_cast<T>(s.extrapolation);
      const Dims& od = cur.dims();
      for (size_t a = 0; a < r; ++a) {
        int64_t outer = 1, inner = 1;
        for (size_t i = 0; i < r; ++i) {
          if (i < a) outer *= od[i];
          if (i > a) inner *= od[i];
        }
        for (int64_t ob = 0; ob < outer; ++ob) {
          for (int64_t o = 0; o < od[a]; ++o) {
            if (!outside[a][static_cast<size_t>(o)]) continue;
            T* d = cur.data<T>() + (ob * od[a] + o) * inner;
            std::fill(d, d + inner, e);
          }
        }
      }
    }
  });
  return single(std::move(cur));
}

const std::map<std::string, EvalFn>& eval_table() {
  static const std::map<std::string, EvalFn> t = {
      {"Abs", eval_abs},
      {"Add", eval_arith},
      {"And", eval_logic},
      {"ArgMax", eval_arg_reduce},
      {"ArgMin", eval_arg_reduce},
      {"BatchNormalization", eval_batch_norm},
      {"Cast", eval_cast},
      {"Ceil", eval_ceil},
      {"Celu", eval_float_activation},
      {"Clip", eval_clip},
      {"Concat", eval_concat},
      {"Constant", eval_constant},
      {"ConstantOfShape", eval_constant_of_shape},
      {"Cos", eval_cos},
      {"Div", eval_arith},
      {"Dropout", eval_dropout},
      {"Elu", eval_float_activation},
      {"Equal", eval_compare},
      {"Erf", eval_erf},
      {"Exp", eval_exp},
      {"Expand", eval_expand},
      {"Flatten", eval_copy_reshape},
      {"Floor", eval_floor},
      {"Gather", eval_gather},
      {"GatherElements", eval_gather_elements},
      {"Gelu", eval_gelu},
      {"Gemm", eval_gemm},
      {"GlobalMaxPool", eval_global_max_pool},
      {"Greater", eval_compare},
      {"GreaterOrEqual", eval_compare},
      {"HardSigmoid", eval_hard_sigmoid},
      {"HardSwish", eval_hard_swish},
      {"Identity", eval_copy_reshape},
      {"InstanceNormalization", eval_instance_norm},
      {"IsInf", eval_is_inf},
      {"IsNaN", eval_is_nan},
      {"LayerNormalization", eval_layer_norm},
      {"LeakyRelu", eval_leaky_relu},
      {"Less", eval_compare},
      {"LessOrEqual", eval_compare},
      {"Log", eval_log},
      {"LogSoftmax", eval_softmax},
      {"MatMul", eval_matmul},
      {"Max", eval_variadic},
      {"Min", eval_variadic},
      {"Mish", eval_mish},
      {"Mod", eval_mod},
      {"Mul", eval_arith},
      {"Neg", eval_neg},
      {"Not", eval_not},
      {"Or", eval_logic},
      {"PRelu", eval_prelu},
      {"Pad", eval_pad},
      {"Pow", eval_pow},
      {"Range", eval_range},
      {"Reciprocal", eval_reciprocal},
      {"ReduceL1", eval_reduce},
      {"ReduceL2", eval_reduce},
      {"ReduceLogSum", eval_reduce},
      {"ReduceLogSumExp", eval_reduce},
      {"ReduceMax", eval_reduce},
      {"ReduceMean", eval_reduce},
      {"ReduceMin", eval_reduce},
      {"ReduceProd", eval_reduce},
      {"ReduceSum", eval_reduce},
      {"ReduceSumSquare", eval_reduce},
      {"Relu", eval_relu},
      {"Reshape", eval_copy_reshape},
      {"Resize", eval_resize},
      {"Round", eval_round},
      {"ScatterND", eval_scatter_nd},
      {"Selu", eval_float_activation},
      {"Shape", eval_shape},
      {"Sigmoid", eval_sigmoid},
      {"Sign", eval_sign},
      {"Sin", eval_sin},
      {"Slice", eval_slice},
      {"Softmax", eval_softmax},
      {"Softplus", eval_softplus},
      {"Softsign", eval_softsign},
      {"Split", eval_split},
      {"Sqrt", eval_sqrt},
      {"Squeeze", eval_copy_reshape},
      {"Sub", eval_arith},
      {"Sum", eval_variadic},
      {"Tanh", eval_tanh},
      {"ThresholdedRelu", eval_float_activation},
      {"Tile", eval_tile},
      {"Transpose", eval_transpose},
      {"Unsqueeze", eval_copy_reshape},
      {"Where", eval_where},
  };
  return t;
}

}  // namespace
}  // namespace detail

bool has_reference(const std::string& op_type) {
  return is_supported_op(op_type) && detail::eval_table().count(op_type) != 0;
}

std::vector<HostTensor> evaluate(const Node& node, int64_t opset, const std::vector<const HostTensor*>& inputs) {
  return detail::with_node_context(node, opset, [&] {
    std::vector<ValueType> types(inputs.size());
    std::vector<const ValueType*> type_ptrs(inputs.size(), nullptr);
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (i < node.inputs.size() && !node.inputs[i].empty() && !inputs[i]) {
        throw OnnxError(node.describe(opset) + ": input #" + std::to_string(i) + " ('" + node.inputs[i] +
                        "') has no value");
      }
      if (inputs[i]) {
        types[i] = {inputs[i]->dtype(), inputs[i]->dims()};
        type_ptrs[i] = &types[i];
      }
    }
    OpContext ctx{node, opset, type_ptrs, inputs};
    detail::OpView v(ctx);
    std::vector<ValueType> out_types = detail::infer_view(v);
    const auto& t = detail::eval_table();
    auto it = t.find(node.op_type);
    if (it == t.end()) v.fail("has no host reference kernel");
    std::vector<HostTensor> outs = it->second(detail::Ctx{v, inputs, out_types});
    outs.resize(node.outputs.size());
    for (size_t i = 0; i < outs.size(); ++i) {
      if (!v.output_used(i)) outs[i] = HostTensor();
    }
    return outs;
  });
}

}  // namespace mrt::onnx
