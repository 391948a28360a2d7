// Building blocks of the host reference kernels: dtype dispatch, float16 and
// bfloat16 conversion, wrapping integer arithmetic, strided and broadcast
// iteration. Private to the operator files.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "op_def.h"

namespace mrt::onnx::detail {

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
inline uint16_t float_to_half(float value) {
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

inline float half_to_float(uint16_t h) {
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

inline uint16_t float_to_bf16(float value) {
  const uint32_t u = std::bit_cast<uint32_t>(value);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

inline float bf16_to_float(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

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

inline std::vector<int64_t> contiguous_strides(const Dims& d) {
  std::vector<int64_t> s(d.size(), 1);
  for (size_t i = d.size(); i-- > 1;) s[i - 1] = s[i] * d[i];
  return s;
}

// Element strides of `in` read as `out` under numpy broadcasting (0 on broadcast axes).
inline std::vector<int64_t> broadcast_strides(const Dims& in, const Dims& out) {
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
inline void strided_copy(const OpView& v, const HostTensor& in, HostTensor& out, const std::vector<int64_t>& in_strides,
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

inline HostTensor expand_to(const OpView& v, const HostTensor& in, const Dims& dims) {
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

// Min and Max propagate NaN, like onnxruntime (std::min would not).
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

// Gathers `in` into `out` along per-axis source index maps (element index
// on that axis, or -1 for `fill`): Pad and nearest Resize.
inline void gather_by_maps(const OpView& v, const HostTensor& in, HostTensor& out,
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

}  // namespace mrt::onnx::detail
