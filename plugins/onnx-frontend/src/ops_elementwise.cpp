// Elementwise operators: unary math and activations, arithmetic, comparison
// and logic with multidirectional broadcasting, Where, Cast, Clip, Dropout
// (inference: the identity). Math runs in the tensor's type (float in float,
// like onnxruntime; integers wrap at their width).
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "host_kernels.h"

namespace mrt::onnx::detail {
namespace {

// ---- shape inference -------------------------------------------------------------------

Types infer_leaky_relu(const OpView& v) {
  v.attr_float("alpha", 0.01f);
  return same_as_input<kFloatTypes>(v);
}

Types infer_hard_sigmoid(const OpView& v) {
  v.attr_float("alpha", 0.2f);
  v.attr_float("beta", 0.5f);
  return same_as_input<kFloatTypes>(v);
}

// The activations whose parameters are attributes: read (and so type-checked) here.
Types infer_float_activation(const OpView& v) {
  const std::string& op = v.op();
  if (op == "Elu" || op == "Celu" || op == "ThresholdedRelu") v.attr_float("alpha", 1.0f);
  if (op == "Celu" && v.attr_float("alpha", 1.0f) == 0) v.fail("alpha must not be 0");
  if (op == "Selu") v.attr_float("alpha", 1.67326f), v.attr_float("gamma", 1.0507f);
  return same_as_input<kFloatTypes>(v);
}

// PRelu: the slope broadcasts to X (unidirectionally: X's shape is kept).
Types infer_prelu(const OpView& v) {
  v.check_dtype(0, kNumericTypes);
  v.check_same_dtype(0, 1);
  Dims out = broadcast_shapes(v, {&v.dims(0), &v.dims(1)});
  if (out != v.dims(0))
    v.fail("slope " + dims_string(v.dims(1)) + " does not broadcast to X " + dims_string(v.dims(0)));
  return one(v.dtype(0), out);
}

// Dropout at inference: the data passes through; the optional mask is all
// true (bool from opset 10, the data's type before). Training is refused.
Types infer_dropout(const OpView& v) {
  v.check_dtype(0, kFloatTypes);
  if (v.opset >= 12 && v.has(2)) {
    v.check_dtype(2, dt(DType::kBool));
    const HostTensor* t = v.value(2);
    if (!t) v.fail("input 'training_mode' must be a constant (inference only)");
    if (t->numel() != 1) v.fail("input 'training_mode' must be a scalar");
    if (t->data<uint8_t>()[0] != 0) v.fail("training_mode=true is not supported (inference only)");
  }
  Types out = one(v.dtype(0), v.dims(0));
  if (v.num_outputs() > 1) out.push_back({v.opset >= 10 ? DType::kBool : v.dtype(0), v.dims(0)});
  return out;
}

Types infer_gelu(const OpView& v) {
  const std::string a = v.attr_string("approximate", "none");
  if (a != "none" && a != "tanh") v.fail("approximate '" + a + "' is not supported (none, tanh)");
  return same_as_input<kFloatTypes>(v);
}

Types infer_clip(const OpView& v) {
  if (v.opset < 11) {
    v.attr_float("min", 0.0f);
    v.attr_float("max", 0.0f);
    return same_as_input<kFloatTypes>(v);
  }
  v.check_dtype(0, kNumericTypes);
  for (size_t i = 1; i < 3; ++i) {
    if (!v.has(i)) continue;
    v.check_same_dtype(0, i);
    if (element_count(v.dims(i)) != 1)
      v.fail("input " + v.input_name(i) + " must be a scalar, not " + dims_string(v.dims(i)));
  }
  return one(v.dtype(0), v.dims(0));
}

Types infer_cast(const OpView& v) {
  if (!v.has_attr("to")) v.fail("attribute 'to' is required");
  const auto to = static_cast<DType>(v.attr_int("to", 0));
  v.check_dtype(0, kCastTypes);
  if (!in_mask(to, kCastTypes)) {
    v.fail("dtype " + dtype_name(to) + " is not supported as the target ('to'; supported: " + mask_names(kCastTypes) +
           ")");
  }
  return one(to, v.dims(0));
}

// Binary and variadic broadcasting operators: every input of `kAllowed`
// and of one dtype; the output is `out` (or the inputs' dtype).
template <DTypeMask kAllowed>
Types broadcast_op(const OpView& v, DType out) {
  std::vector<const Dims*> shapes;
  for (size_t i = 0; i < v.num_inputs(); ++i) {
    v.check_dtype(i, kAllowed);
    v.check_same_dtype(0, i);
    shapes.push_back(&v.dims(i));
  }
  return one(out == DType::kUndefined ? v.dtype(0) : out, broadcast_shapes(v, shapes));
}

Types infer_arith(const OpView& v) { return broadcast_op<kNumericTypes>(v, DType::kUndefined); }
Types infer_logic(const OpView& v) { return broadcast_op<dt(DType::kBool)>(v, DType::kBool); }
Types infer_less(const OpView& v) { return broadcast_op<kNumericTypes>(v, DType::kBool); }
Types infer_equal(const OpView& v) { return broadcast_op<kNumericTypes | dt(DType::kBool)>(v, DType::kBool); }

// Mod: fmod 0 is the floored remainder (the sign of B, Python's %), fmod 1
// the truncated one (the sign of A, C's fmod). Floats take fmod 0 only from
// opset 28; before, the spec requires fmod 1 for them.
Types infer_mod(const OpView& v) {
  const int64_t fmod = v.attr_int("fmod", 0);
  if (fmod != 0 && fmod != 1) v.fail("attribute 'fmod' must be 0 or 1, not " + str(fmod));
  Types t = broadcast_op<kNumericTypes>(v, DType::kUndefined);
  if (fmod == 0 && v.opset < 28 && in_mask(v.dtype(0), kFloatTypes)) {
    v.fail("attribute 'fmod' must be 1 for " + dtype_name(v.dtype(0)) + " inputs before opset 28");
  }
  return t;
}

Types infer_is_nan(const OpView& v) {
  v.check_dtype(0, kFloatTypes);
  return one(DType::kBool, v.dims(0));
}

Types infer_is_inf(const OpView& v) {
  v.check_dtype(0, kFloatTypes);
  v.attr_int("detect_negative", 1);  // kind checks
  v.attr_int("detect_positive", 1);
  return one(DType::kBool, v.dims(0));
}

Types infer_pow(const OpView& v) {
  v.check_dtype(0, kNumericTypes);
  v.check_dtype(1, kNumericTypes);
  return one(v.dtype(0), broadcast_shapes(v, {&v.dims(0), &v.dims(1)}));
}

Types infer_where(const OpView& v) {
  v.check_dtype(0, dt(DType::kBool));
  v.check_dtype(1, kDataTypes);
  v.check_same_dtype(1, 2);
  return one(v.dtype(1), broadcast_shapes(v, {&v.dims(0), &v.dims(1), &v.dims(2)}));
}

// ---- host kernels ----------------------------------------------------------------------

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

}  // namespace

std::vector<OpDef> elementwise_ops() {
  return {
      {"Abs", {{1, {"X"}, 1}}, same_as_input<kNumericTypes>, eval_abs},
      {"Add", {{1, {"A", "B"}, 2}}, infer_arith, eval_arith},
      {"And", {{1, {"A", "B"}, 2}}, infer_logic, eval_logic},
      {"Cast", {{1, {"input"}, 1}}, infer_cast, eval_cast},
      {"Ceil", {{1, {"X"}, 1}}, same_as_input<kFloatTypes>, eval_ceil},
      {"Celu", {{12, {"X"}, 1}}, infer_float_activation, eval_float_activation},
      {"Clip", {{1, {"input"}, 1}, {11, {"input", "min", "max"}, 1}}, infer_clip, eval_clip},
      {"Cos", {{7, {"input"}, 1}}, same_as_input<kFloatTypes>, eval_cos},
      {"Div", {{1, {"A", "B"}, 2}}, infer_arith, eval_arith},
      {"Dropout",
       {{7, {"data"}, 1, false, 2}, {12, {"data", "ratio", "training_mode"}, 1, false, 2}},
       infer_dropout,
       eval_dropout},
      {"Elu", {{6, {"X"}, 1}}, infer_float_activation, eval_float_activation},
      {"Equal", {{1, {"A", "B"}, 2}}, infer_equal, eval_compare},
      {"Erf", {{9, {"input"}, 1}}, same_as_input<kFloatTypes>, eval_erf},
      {"Exp", {{1, {"input"}, 1}}, same_as_input<kFloatTypes>, eval_exp},
      {"Floor", {{1, {"X"}, 1}}, same_as_input<kFloatTypes>, eval_floor},
      {"Gelu", {{20, {"X"}, 1}}, infer_gelu, eval_gelu},
      {"Greater", {{1, {"A", "B"}, 2}}, infer_less, eval_compare},
      {"GreaterOrEqual", {{12, {"A", "B"}, 2}}, infer_less, eval_compare},
      {"HardSigmoid", {{1, {"X"}, 1}}, infer_hard_sigmoid, eval_hard_sigmoid},
      {"HardSwish", {{14, {"X"}, 1}}, same_as_input<kFloatTypes>, eval_hard_swish},
      {"IsInf", {{10, {"X"}, 1}}, infer_is_inf, eval_is_inf},
      {"IsNaN", {{9, {"X"}, 1}}, infer_is_nan, eval_is_nan},
      {"LeakyRelu", {{1, {"X"}, 1}}, infer_leaky_relu, eval_leaky_relu},
      {"Less", {{1, {"A", "B"}, 2}}, infer_less, eval_compare},
      {"LessOrEqual", {{12, {"A", "B"}, 2}}, infer_less, eval_compare},
      {"Log", {{1, {"input"}, 1}}, same_as_input<kFloatTypes>, eval_log},
      {"Max", {{1, {"data"}, 1, true}}, infer_arith, eval_variadic},
      {"Min", {{1, {"data"}, 1, true}}, infer_arith, eval_variadic},
      {"Mish", {{18, {"X"}, 1}}, same_as_input<kFloatTypes>, eval_mish},
      {"Mod", {{10, {"A", "B"}, 2}}, infer_mod, eval_mod},
      {"Mul", {{1, {"A", "B"}, 2}}, infer_arith, eval_arith},
      {"Neg", {{1, {"X"}, 1}}, same_as_input<kNumericTypes>, eval_neg},
      {"Not", {{1, {"X"}, 1}}, same_as_input<dt(DType::kBool)>, eval_not},
      {"Or", {{1, {"A", "B"}, 2}}, infer_logic, eval_logic},
      {"PRelu", {{7, {"X", "slope"}, 2}}, infer_prelu, eval_prelu},
      {"Pow", {{1, {"X", "Y"}, 2}}, infer_pow, eval_pow},
      {"Reciprocal", {{1, {"X"}, 1}}, same_as_input<kFloatTypes>, eval_reciprocal},
      {"Relu", {{1, {"X"}, 1}}, same_as_input<kNumericTypes>, eval_relu},
      {"Round", {{11, {"X"}, 1}}, same_as_input<kFloatTypes>, eval_round},
      {"Selu", {{6, {"X"}, 1}}, infer_float_activation, eval_float_activation},
      {"Sigmoid", {{1, {"X"}, 1}}, same_as_input<kFloatTypes>, eval_sigmoid},
      {"Sign", {{9, {"input"}, 1}}, same_as_input<kNumericTypes>, eval_sign},
      {"Sin", {{7, {"input"}, 1}}, same_as_input<kFloatTypes>, eval_sin},
      {"Softplus", {{1, {"X"}, 1}}, same_as_input<kFloatTypes>, eval_softplus},
      {"Softsign", {{1, {"input"}, 1}}, same_as_input<kFloatTypes>, eval_softsign},
      {"Sqrt", {{1, {"X"}, 1}}, same_as_input<kFloatTypes>, eval_sqrt},
      {"Sub", {{1, {"A", "B"}, 2}}, infer_arith, eval_arith},
      {"Sum", {{1, {"data"}, 1, true}}, infer_arith, eval_variadic},
      {"Tanh", {{1, {"input"}, 1}}, same_as_input<kFloatTypes>, eval_tanh},
      {"ThresholdedRelu", {{10, {"X"}, 1}}, infer_float_activation, eval_float_activation},
      {"Where", {{9, {"condition", "X", "Y"}, 3}}, infer_where, eval_where},
  };
}

}  // namespace mrt::onnx::detail
