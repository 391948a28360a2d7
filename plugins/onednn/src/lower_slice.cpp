// Slice (positive steps) and Gather at one constant index as strided views
// of their input, copied out by one oneDNN reorder (and a Pad by zero as a
// plain view): a parallel jit copy in
// place of the host kernels' single-threaded element loops. Swin-T has 82
// Slices (its cyclic shift, patch merging's x[:, 0::2, 1::2]) and 36 such
// Gathers (q, k and v out of one projection), ViT-B/16 36 Gathers,
// ShuffleNetV2 26 channel Slices; each was a host step on up to a few
// million floats.
#include "mrt/onnx/ops.h"
#include "plan_builder.h"

namespace mrt::onednn {

namespace {

// Row-major element strides of `d`: those of its plain layout.
std::vector<int64_t> plain_strides(const Dims& d) {
  const auto& s = plain_md(d).data.format_desc.blocking.strides;
  return std::vector<int64_t>(s, s + d.size());
}

// A float32 view of `dims` with element `strides` from element `offset`
// of a plain buffer.
dnnl::memory::desc strided_md(const Dims& dims, const std::vector<int64_t>& strides, int64_t offset) {
  dnnl::memory::desc md(to_dnnl(dims), dnnl::memory::data_type::f32, dnnl::memory::dims(strides.begin(), strides.end()));
  md.data.offset0 = offset;
  return md;
}

}  // namespace

// resolve(OpContext of n): the front end's reading of n's attributes and
// constant inputs; it throws when one it needs is not a constant.
template <typename Resolve>
auto PlanBuilder::resolve_with_constants(const Node& n, Resolve resolve) {
  std::vector<const onnx::ValueType*> types;
  std::vector<const HostTensor*> values;
  for (const auto& in : n.inputs) {
    types.push_back(in.empty() ? nullptr : &graph().types.at(in));
    values.push_back(in.empty() ? nullptr : constant(in));
  }
  onnx::OpContext ctx{n, graph().opset, types, values};
  return resolve(ctx);
}

// A Pad by zero everywhere (Swin pads its feature maps to a multiple of
// the window, zero at 224x224): a view of its input.
bool PlanBuilder::lower_pad_as_view(const Node& n) {
  try {
    auto p = resolve_with_constants(n, onnx::pad_amounts);
    for (size_t i = 0; i < p.begin.size(); ++i)
      if (p.begin[i] != 0 || p.end[i] != 0) return false;
  } catch (const OnnxError&) {
    return false;
  }
  lower_view(n);
  return true;
}

bool PlanBuilder::lower_slice(const Node& n) {
  onnx::SliceSpec s;
  try {
    s = resolve_with_constants(n, onnx::slice_spec);  // starts, ends, axes and steps must be constants
  } catch (const OnnxError&) {
    return false;
  }
  for (int64_t step : s.steps)
    if (step <= 0) return false;  // a reversed view: the host kernel
  int src = value(n.inputs[0]);
  const Dims xd = p_.slots_[src].dims;
  if (xd.empty() || s.out.size() != xd.size()) return false;
  // A channel slice of a blocked activation (ShuffleNet's split halves)
  // stays blocked when it starts and ends on a block.
  if (!is_plain(src)) {
    bool channels_only = xd.size() > 1;
    for (size_t i = 0; i < xd.size(); ++i)
      channels_only = channels_only && s.steps[i] == 1 && (i == 1 || s.out[i] == xd[i]);
    const auto& md = p_.slots_[src].md;
    if (channels_only && same_layout(md, xd)) {
      const auto& b = md.data.format_desc.blocking;
      if (b.inner_nblks == 1 && b.inner_idxs[0] == 1 && s.starts[1] % b.inner_blks[0] == 0 && s.out[1] % b.inner_blks[0] == 0) {
        dnnl::memory::dims offsets(xd.size(), 0);
        offsets[1] = s.starts[1];
        int view = alias_slot(src, s.out, md.submemory_desc(to_dnnl(s.out), offsets), n.outputs[0] + "/slice");
        reorder_step(view, output_slot(n, 0, *same_layout(md, s.out)), n.name);
        return true;
      }
    }
  }
  src = plain(src);
  const std::vector<int64_t> in_strides = plain_strides(xd);
  std::vector<int64_t> strides(xd.size());
  int64_t offset = 0;
  for (size_t i = 0; i < xd.size(); ++i) {
    strides[i] = in_strides[i] * s.steps[i];
    offset += s.starts[i] * in_strides[i];
  }
  int view = alias_slot(src, s.out, strided_md(s.out, strides, offset), n.outputs[0] + "/slice");
  reorder_step(view, output_slot(n, 0, plain_md(s.out)), n.name);
  return true;
}

bool PlanBuilder::lower_gather_constant(const Node& n) {
  const HostTensor* idx = n.inputs.size() == 2 ? constant(n.inputs[1]) : nullptr;
  if (idx == nullptr || idx->numel() != 1 || idx->dims().size() > 1) return false;
  if (idx->dtype() != onnx::DType::kInt64 && idx->dtype() != onnx::DType::kInt32) return false;
  int src = value(n.inputs[0]);
  const Dims xd = p_.slots_[src].dims;
  const int64_t r = static_cast<int64_t>(xd.size());
  int64_t axis = n.attr_int("axis", 0);
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r) return false;
  int64_t at = idx->dtype() == onnx::DType::kInt64 ? idx->data<int64_t>()[0] : idx->data<int32_t>()[0];
  if (at < 0) at += xd[axis];
  if (at < 0 || at >= xd[axis]) return false;  // the host kernel names the bad index
  const std::vector<int64_t> in_strides = plain_strides(xd);
  // The output's dims: the input's with the axis dropped (a scalar index)
  // or kept at 1 (one index in a 1-D tensor).
  const Dims& od = graph().types.at(n.outputs[0]).dims;
  std::vector<int64_t> strides;
  for (int64_t i = 0; i < r; ++i)
    if (i != axis || idx->dims().size() == 1) strides.push_back(in_strides[i]);
  if (strides.size() != od.size()) return false;
  if (od.empty()) return false;  // a scalar: nothing worth a primitive
  src = plain(src);
  int view = alias_slot(src, od, strided_md(od, strides, at * in_strides[axis]), n.outputs[0] + "/gathered");
  reorder_step(view, output_slot(n, 0, plain_md(od)), n.name);
  return true;
}

}  // namespace mrt::onednn
