// Reduce* (axes as an attribute or, from opset 13/18, an input) and
// ArgMax/ArgMin.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "host_kernels.h"

namespace mrt::onnx::detail {
namespace {

// ---- shape inference -------------------------------------------------------------------

Types infer_reduce(const OpView& v) {
  const std::string& op = v.op();
  const bool min_max = op == "ReduceMax" || op == "ReduceMin";
  v.check_dtype(0, op == "ReduceL2" || op == "ReduceLogSum" || op == "ReduceLogSumExp" ? kFloatTypes
                   : min_max && v.opset >= 20 ? kNumericTypes | dt(DType::kBool)
                                              : kNumericTypes);
  return one(v.dtype(0), resolve_reduce(v).out);
}

Types infer_arg_reduce(const OpView& v) {
  v.check_dtype(0, kNumericTypes);
  Dims out = v.dims(0);
  if (out.empty()) v.fail("input 'data' must have rank 1 or more");
  const auto axis = static_cast<size_t>(v.normalize_axis(v.attr_int("axis", 0), ssize(out)));
  if (v.dims(0)[axis] == 0) v.fail("cannot take the arg max/min of an empty axis");
  if (v.attr_int("keepdims", 1) != 0)
    out[axis] = 1;
  else
    out.erase(out.begin() + static_cast<std::ptrdiff_t>(axis));
  if (v.opset >= 12) v.attr_int("select_last_index", 0);
  return one(DType::kInt64, out);
}

// ---- host kernels ----------------------------------------------------------------------

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

}  // namespace

std::vector<OpDef> reduce_ops() {
  return {
      {"ArgMax", {{1, {"data"}, 1}}, infer_arg_reduce, eval_arg_reduce},
      {"ArgMin", {{1, {"data"}, 1}}, infer_arg_reduce, eval_arg_reduce},
      {"ReduceL1", {{1, {"data"}, 1}, {18, {"data", "axes"}, 1}}, infer_reduce, eval_reduce},
      {"ReduceL2", {{1, {"data"}, 1}, {18, {"data", "axes"}, 1}}, infer_reduce, eval_reduce},
      {"ReduceLogSum", {{1, {"data"}, 1}, {18, {"data", "axes"}, 1}}, infer_reduce, eval_reduce},
      {"ReduceLogSumExp", {{1, {"data"}, 1}, {18, {"data", "axes"}, 1}}, infer_reduce, eval_reduce},
      {"ReduceMax", {{1, {"data"}, 1}, {18, {"data", "axes"}, 1}}, infer_reduce, eval_reduce},
      {"ReduceMean", {{1, {"data"}, 1}, {18, {"data", "axes"}, 1}}, infer_reduce, eval_reduce},
      {"ReduceMin", {{1, {"data"}, 1}, {18, {"data", "axes"}, 1}}, infer_reduce, eval_reduce},
      {"ReduceProd", {{1, {"data"}, 1}, {18, {"data", "axes"}, 1}}, infer_reduce, eval_reduce},
      {"ReduceSum", {{1, {"data"}, 1}, {13, {"data", "axes"}, 1}}, infer_reduce, eval_reduce},
      {"ReduceSumSquare", {{1, {"data"}, 1}, {18, {"data", "axes"}, 1}}, infer_reduce, eval_reduce},
  };
}

}  // namespace mrt::onnx::detail
