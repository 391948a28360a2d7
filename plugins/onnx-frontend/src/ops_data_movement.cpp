// Operators that move or make data without arithmetic: Reshape, Flatten,
// (Un)Squeeze, Identity, Transpose, Expand, Tile, Concat, Split, Slice,
// Gather(Elements), ScatterND, Pad, and the generators Shape, Constant,
// ConstantOfShape, Range. Loops walk strided index spaces without
// per-element allocation or div/mod.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "host_kernels.h"

namespace mrt::onnx::detail {
namespace {

// ---- shape inference -------------------------------------------------------------------

Types infer_concat(const OpView& v) {
  if (!v.has_attr("axis")) v.fail("attribute 'axis' is required");
  const Dims& first = v.dims(0);
  if (first.empty()) v.fail("cannot concatenate scalars");
  const int64_t axis = v.normalize_axis(v.attr_int("axis", 0), ssize(first));
  Dims out = first;
  out[static_cast<size_t>(axis)] = 0;
  for (size_t i = 0; i < v.num_inputs(); ++i) {
    v.check_dtype(i, kDataTypes);
    v.check_same_dtype(0, i);
    const Dims& d = v.dims(i);
    bool ok = d.size() == first.size();
    for (size_t j = 0; ok && j < d.size(); ++j) ok = static_cast<int64_t>(j) == axis || d[j] == first[j];
    if (!ok) {
      v.fail("input " + v.input_name(i) + " " + dims_string(d) + " does not match " + dims_string(first) +
             " outside axis " + str(axis));
    }
    if (d[static_cast<size_t>(axis)] > std::numeric_limits<int64_t>::max() - out[static_cast<size_t>(axis)])
      v.fail("the concatenated axis " + str(axis) + " is too long");
    out[static_cast<size_t>(axis)] += d[static_cast<size_t>(axis)];
  }
  return one(v.dtype(0), out);
}

Types infer_flatten(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  const Dims& x = v.dims(0);
  const int64_t r = ssize(x);
  int64_t axis = v.attr_int("axis", 1);
  if (axis < -r || axis > r) v.fail("axis " + str(axis) + " is out of range for rank " + str(r));
  if (axis < 0) axis += r;
  const Dims outer(x.begin(), x.begin() + axis), inner(x.begin() + axis, x.end());
  return one(v.dtype(0), {element_count(outer), element_count(inner)});
}

Types infer_reshape(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  const Dims& x = v.dims(0);
  Dims shape = v.const_ints(1);
  if (v.constant(1).rank() != 1) v.fail("input 'shape' must be 1-D, not " + dims_string(v.constant(1).dims()));
  const bool allowzero = v.opset >= 14 && v.attr_int("allowzero", 0) != 0;
  int64_t infer_at = -1, known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t& d = shape[i];
    if (d == 0 && !allowzero) {
      if (i >= x.size())
        v.fail("shape " + dims_string(v.const_ints(1)) + " copies dim " + str(static_cast<int64_t>(i)) +
               " that the input " + dims_string(x) + " lacks");
      d = x[i];
    }
    if (d == -1) {
      if (infer_at >= 0) v.fail("shape " + dims_string(v.const_ints(1)) + " has more than one -1");
      infer_at = static_cast<int64_t>(i);
    } else if (d < 0) {
      v.fail("shape " + dims_string(v.const_ints(1)) + " has an invalid dimension " + str(d));
    } else {
      known = d == 0 ? 0 : (known > std::numeric_limits<int64_t>::max() / d ? -1 : known * d);
      if (known < 0) v.fail("shape " + dims_string(v.const_ints(1)) + " is too large");
    }
  }
  const int64_t total = element_count(x);
  if (infer_at >= 0) {
    if (known == 0 || total % known != 0) {
      v.fail("cannot reshape " + dims_string(x) + " to " + dims_string(v.const_ints(1)) +
             ": the -1 cannot be inferred");
    }
    shape[static_cast<size_t>(infer_at)] = total / known;
  } else if (known != total) {
    v.fail("cannot reshape " + dims_string(x) + " (" + str(total) + " elements) to " + dims_string(shape) + " (" +
           str(known) + " elements)");
  }
  return one(v.dtype(0), shape);
}

Types infer_transpose(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  const Dims& x = v.dims(0);
  std::vector<int64_t> perm(x.size());
  std::iota(perm.rbegin(), perm.rend(), int64_t{0});
  perm = v.attr_ints("perm", perm);
  if (perm.size() != x.size()) v.fail("perm " + dims_string(perm) + " does not match the rank of " + dims_string(x));
  std::vector<bool> seen(x.size(), false);
  Dims out;
  for (int64_t p : perm) {
    if (p < 0 || p >= ssize(x) || seen[static_cast<size_t>(p)])
      v.fail("perm " + dims_string(perm) + " is not a permutation");
    seen[static_cast<size_t>(p)] = true;
    out.push_back(x[static_cast<size_t>(p)]);
  }
  return one(v.dtype(0), out);
}

std::vector<int64_t> axes_operand(const OpView& v, bool required) {
  if (v.opset < 13) {
    if (required && !v.has_attr("axes")) v.fail("attribute 'axes' is required");
    return v.attr_ints("axes");
  }
  if (!v.has(1)) return {};
  return v.const_ints(1);
}

Types infer_squeeze(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  const Dims& x = v.dims(0);
  std::vector<int64_t> axes = axes_operand(v, false);
  std::vector<bool> drop(x.size(), false);
  if (axes.empty()) {
    for (size_t i = 0; i < x.size(); ++i) drop[i] = x[i] == 1;
  }
  for (int64_t a : axes) {
    const auto ua = static_cast<size_t>(v.normalize_axis(a, ssize(x)));
    if (x[ua] != 1)
      v.fail("cannot squeeze axis " + str(a) + " of size " + str(x[ua]) + " (input " + dims_string(x) + ")");
    drop[ua] = true;
  }
  Dims out;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!drop[i]) out.push_back(x[i]);
  }
  return one(v.dtype(0), out);
}

Types infer_unsqueeze(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  const Dims& x = v.dims(0);
  std::vector<int64_t> axes = axes_operand(v, true);
  const int64_t r = ssize(x) + ssize(axes);
  std::vector<bool> inserted(static_cast<size_t>(r), false);
  for (int64_t a : axes) {
    const auto ua = static_cast<size_t>(v.normalize_axis(a, r));
    if (inserted[ua]) v.fail("axes " + dims_string(axes) + " list axis " + str(static_cast<int64_t>(ua)) + " twice");
    inserted[ua] = true;
  }
  Dims out;
  size_t j = 0;
  for (size_t i = 0; i < static_cast<size_t>(r); ++i) out.push_back(inserted[i] ? 1 : x[j++]);
  return one(v.dtype(0), out);
}

Types infer_slice(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  return one(v.dtype(0), resolve_slice(v).out);
}

Types infer_gather(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  v.check_dtype(1, kIndexTypes);
  const Dims& x = v.dims(0);
  if (x.empty()) v.fail("cannot gather from a scalar");
  const auto axis = static_cast<size_t>(v.normalize_axis(v.attr_int("axis", 0), ssize(x)));
  Dims out(x.begin(), x.begin() + static_cast<int64_t>(axis));
  out.insert(out.end(), v.dims(1).begin(), v.dims(1).end());
  out.insert(out.end(), x.begin() + static_cast<int64_t>(axis) + 1, x.end());
  return one(v.dtype(0), out);
}

// GatherElements: out[i][j][k] = data[i][indices[i][j][k]][k] (axis 1); the
// output has the indices' dims, which may be shorter than the data's on the
// other axes (never longer: every index names an element of data).
Types infer_gather_elements(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  v.check_dtype(1, kIndexTypes);
  const Dims& x = v.dims(0);
  const Dims& idx = v.dims(1);
  if (x.empty()) v.fail("cannot gather from a scalar");
  if (idx.size() != x.size()) {
    v.fail("input 'indices' " + dims_string(idx) + " must have the rank of 'data' " + dims_string(x));
  }
  const auto axis = static_cast<size_t>(v.normalize_axis(v.attr_int("axis", 0), ssize(x)));
  for (size_t i = 0; i < x.size(); ++i) {
    if (i != axis && idx[i] > x[i]) {
      v.fail("input 'indices' " + dims_string(idx) + " is longer than 'data' " + dims_string(x) + " on axis " +
             str(static_cast<int64_t>(i)));
    }
  }
  if (x[axis] == 0 && element_count(idx) != 0)
    v.fail("cannot gather from an empty axis " + str(static_cast<int64_t>(axis)));
  return one(v.dtype(0), idx);
}

// ScatterND: a copy of data with the slices that indices' last axis names
// replaced by (or, opset 16+, reduced with) updates. updates' dims must be
// indices.dims[:-1] + data.dims[k:], k = indices.dims[-1].
Types infer_scatter_nd(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  v.check_dtype(1, dt(DType::kInt64));
  v.check_same_dtype(0, 2);
  const Dims& x = v.dims(0);
  const Dims& idx = v.dims(1);
  if (idx.empty()) v.fail("input 'indices' must have rank 1 or more");
  const int64_t k = idx.back();
  if (k > ssize(x)) {
    v.fail("input 'indices' " + dims_string(idx) + " indexes " + str(k) + " axes of 'data' " + dims_string(x) +
           ", which has " + str(ssize(x)));
  }
  Dims want(idx.begin(), idx.end() - 1);
  want.insert(want.end(), x.begin() + k, x.end());
  if (v.dims(2) != want) {
    v.fail("input 'updates' " + dims_string(v.dims(2)) + " must be " + dims_string(want) + " (indices " +
           dims_string(idx) + ", data " + dims_string(x) + ")");
  }
  const std::string reduction = v.opset >= 16 ? v.attr_string("reduction", "none") : "none";
  const bool known = reduction == "none" || reduction == "add" || reduction == "mul" ||
                     (v.opset >= 18 && (reduction == "max" || reduction == "min"));
  if (!known) v.fail("attribute 'reduction' '" + reduction + "' is not supported at this opset");
  if (reduction != "none") v.check_dtype(0, kNumericTypes);
  return one(v.dtype(0), x);
}

Types infer_shape(const OpView& v) {
  const int64_t r = v.rank(0);
  int64_t start = 0, end = r;
  if (v.opset >= 15) {
    start = v.attr_int("start", 0);
    end = v.attr_int("end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = std::clamp<int64_t>(start, 0, r);
    end = std::clamp<int64_t>(end, 0, r);
  }
  return one(DType::kInt64, {std::max<int64_t>(0, end - start)});
}

Types infer_constant(const OpView& v) {
  static const char* kNames[] = {"value",      "value_float",  "value_floats",  "value_int",
                                 "value_ints", "value_string", "value_strings", "sparse_value"};
  int count = 0;
  for (const char* n : kNames) count += v.has_attr(n) ? 1 : 0;
  if (count != 1) v.fail("exactly one value attribute must be given, found " + str(count));
  if (v.has_attr("sparse_value")) v.fail("attribute 'sparse_value' (a sparse constant) is not supported");
  if (v.has_attr("value_string") || v.has_attr("value_strings")) v.fail("string constants are not supported");
  if (v.has_attr("value_float")) {
    v.attr_float("value_float", 0);
    return one(DType::kFloat, {});
  }
  if (v.has_attr("value_int")) {
    v.attr_int("value_int", 0);
    return one(DType::kInt64, {});
  }
  if (v.has_attr("value_floats")) {
    return one(DType::kFloat, {static_cast<int64_t>(v.attr_floats("value_floats").size())});
  }
  if (v.has_attr("value_ints")) return one(DType::kInt64, {ssize(v.attr_ints("value_ints"))});
  const Attribute* a = v.attr("value");
  if (a->kind != Attribute::kTensor) v.fail("attribute 'value' must be a tensor");
  if (!in_mask(a->t.dtype(), kCastTypes)) {
    v.fail("dtype " + dtype_name(a->t.dtype()) +
           " is not supported (attribute 'value'; supported: " + mask_names(kCastTypes) + ")");
  }
  return one(a->t.dtype(), a->t.dims());
}

Types infer_constant_of_shape(const OpView& v) {
  v.check_dtype(0, dt(DType::kInt64));
  Dims shape = v.const_ints(0);
  if (v.constant(0).rank() != 1) v.fail("input 'input' must be 1-D, not " + dims_string(v.constant(0).dims()));
  for (int64_t d : shape) {
    if (d < 0) v.fail("shape " + dims_string(shape) + " has a negative dimension");
  }
  element_count(shape);
  DType t = DType::kFloat;
  if (const Attribute* a = v.attr("value")) {
    if (a->kind != Attribute::kTensor) v.fail("attribute 'value' must be a tensor");
    if (a->t.numel() != 1) v.fail("attribute 'value' must hold one element, not " + dims_string(a->t.dims()));
    t = a->t.dtype();
    if (!in_mask(t, kDataTypes)) {
      v.fail("dtype " + dtype_name(t) + " is not supported (attribute 'value'; supported: " + mask_names(kDataTypes) +
             ")");
    }
  }
  return one(t, shape);
}

Types infer_pad(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  return one(v.dtype(0), resolve_pad(v).out);
}

Types infer_split(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  SplitSpec s = resolve_split(v);
  Types out;
  for (int64_t size : s.sizes) {
    Dims d = v.dims(0);
    d[static_cast<size_t>(s.axis)] = size;
    out.push_back({v.dtype(0), d});
  }
  return out;
}

Types infer_tile(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  const Dims& x = v.dims(0);
  std::vector<int64_t> reps = v.const_ints(1);
  if (reps.size() != x.size()) v.fail("'repeats' has " + str(ssize(reps)) + " values for rank " + str(ssize(x)));
  Dims out;
  for (size_t i = 0; i < x.size(); ++i) {
    if (reps[i] < 0) v.fail("'repeats' must not be negative: " + dims_string(reps));
    out.push_back(x[i] * reps[i]);
  }
  element_count(out);
  return one(v.dtype(0), out);
}

Types infer_range(const OpView& v) {
  for (size_t i = 0; i < 3; ++i) {
    v.check_dtype(i, kNumericTypes);
    v.check_same_dtype(0, i);
    if (element_count(v.dims(i)) != 1)
      v.fail("input " + v.input_name(i) + " must be a scalar, not " + dims_string(v.dims(i)));
  }
  int64_t n = 0;
  if (in_mask(v.dtype(0), kFloatTypes)) {
    const double start = v.constant(0).to_double()[0], limit = v.constant(1).to_double()[0];
    const double delta = v.constant(2).to_double()[0];
    if (delta == 0) v.fail("'delta' must not be 0");
    // onnxruntime: the difference in the input type, the division in double.
    const double diff = v.dtype(0) == DType::kFloat
                            ? static_cast<double>(static_cast<float>(limit) - static_cast<float>(start))
                            : limit - start;
    const double count = std::ceil(diff / delta);
    if (!(count < 9.0e15)) v.fail("the range is too long or not finite");
    n = count > 0 ? static_cast<int64_t>(count) : 0;
  } else {
    const int64_t start = v.constant(0).to_int64()[0], limit = v.constant(1).to_int64()[0];
    const int64_t delta = v.constant(2).to_int64()[0];
    if (delta == 0) v.fail("'delta' must not be 0");
    int64_t diff = 0;
    if (__builtin_sub_overflow(limit, start, &diff)) v.fail("the range is too long");
    if (delta > 0) {
      n = diff <= 0 ? 0 : (diff - 1) / delta + 1;
    } else if (delta == std::numeric_limits<int64_t>::min()) {
      n = diff < 0 ? 1 : 0;
    } else {
      n = diff >= 0 ? 0 : (-(diff + 1)) / -delta + 1;
    }
  }
  return one(v.dtype(0), {n});
}

Types infer_expand(const OpView& v) {
  v.check_dtype(0, kDataTypes);
  Dims shape = v.const_ints(1);
  if (v.constant(1).rank() != 1) v.fail("input 'shape' must be 1-D, not " + dims_string(v.constant(1).dims()));
  for (int64_t d : shape) {
    if (d < 0) v.fail("input 'shape' " + dims_string(shape) + " has a negative dimension");
  }
  return one(v.dtype(0), broadcast_shapes(v, {&v.dims(0), &shape}));
}

// ---- host kernels ----------------------------------------------------------------------

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

}  // namespace

std::vector<OpDef> data_movement_ops() {
  return {
      {"Concat", {{1, {"inputs"}, 1, true}}, infer_concat, eval_concat},
      {"Constant", {{1, {}, 0}}, infer_constant, eval_constant},
      {"ConstantOfShape", {{9, {"input"}, 1}}, infer_constant_of_shape, eval_constant_of_shape},
      {"Expand", {{8, {"input", "shape"}, 2}}, infer_expand, eval_expand},
      {"Flatten", {{1, {"input"}, 1}}, infer_flatten, eval_copy_reshape},
      {"Gather", {{1, {"data", "indices"}, 2}}, infer_gather, eval_gather},
      {"GatherElements", {{11, {"data", "indices"}, 2}}, infer_gather_elements, eval_gather_elements},
      {"Identity", {{1, {"input"}, 1}}, same_as_input<kDataTypes>, eval_copy_reshape},
      {"Pad",
       {{1, {"data"}, 1},
        {11, {"data", "pads", "constant_value"}, 2},
        {18, {"data", "pads", "constant_value", "axes"}, 2}},
       infer_pad,
       eval_pad},
      {"Range", {{11, {"start", "limit", "delta"}, 3}}, infer_range, eval_range},
      {"Reshape", {{5, {"data", "shape"}, 2}}, infer_reshape, eval_copy_reshape},
      {"ScatterND", {{11, {"data", "indices", "updates"}, 3}}, infer_scatter_nd, eval_scatter_nd},
      {"Shape", {{1, {"data"}, 1}}, infer_shape, eval_shape},
      {"Slice", {{1, {"data"}, 1}, {10, {"data", "starts", "ends", "axes", "steps"}, 3}}, infer_slice, eval_slice},
      {"Split",
       {{1, {"input"}, 1, false, kManyOutputs}, {13, {"input", "split"}, 1, false, kManyOutputs}},
       infer_split,
       eval_split},
      {"Squeeze", {{1, {"data"}, 1}, {13, {"data", "axes"}, 1}}, infer_squeeze, eval_copy_reshape},
      {"Tile", {{6, {"input", "repeats"}, 2}}, infer_tile, eval_tile},
      {"Transpose", {{1, {"data"}, 1}}, infer_transpose, eval_transpose},
      {"Unsqueeze", {{1, {"data"}, 1}, {13, {"data", "axes"}, 2}}, infer_unsqueeze, eval_copy_reshape},
  };
}

}  // namespace mrt::onnx::detail
