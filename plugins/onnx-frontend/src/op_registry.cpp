// The operator registry: every family's definition rows (ops_<family>.cpp)
// gathered into one table sorted by name, and the front end's public
// per-operator questions (ops.h) answered from it: which operators and
// signatures exist at an opset, shape inference, host evaluation.
#include <algorithm>
#include <limits>
#include <stdexcept>

#include "op_def.h"

namespace mrt::onnx {
namespace detail {

const std::vector<OpDef>& all_ops() {
  static const std::vector<OpDef> ops = [] {
    std::vector<OpDef> all;
    for (auto family : {elementwise_ops, linear_norm_ops, conv_pool_ops, reduce_ops, data_movement_ops, resize_ops}) {
      for (OpDef& d : family()) all.push_back(std::move(d));
    }
    std::sort(all.begin(), all.end(), [](const OpDef& a, const OpDef& b) { return std::string(a.name) < b.name; });
    // A name defined twice, or a row without signatures or shape inference,
    // is a bug in the rows; fail at first use, loudly.
    for (size_t i = 0; i < all.size(); ++i) {
      if (i > 0 && std::string(all[i - 1].name) == all[i].name)
        throw std::logic_error(std::string("operator ") + all[i].name + " has two definition rows");
      if (all[i].signatures.empty() || !all[i].infer)
        throw std::logic_error(std::string("operator ") + all[i].name + " has no signature or no shape inference");
    }
    return all;
  }();
  return ops;
}

const OpDef* find_op(const std::string& name) {
  const auto& ops = all_ops();
  auto it =
      std::lower_bound(ops.begin(), ops.end(), name, [](const OpDef& d, const std::string& n) { return d.name < n; });
  return it != ops.end() && it->name == name ? &*it : nullptr;
}

const Signature* find_signature(const std::string& op, int64_t opset, bool* exists, int64_t* since) {
  const OpDef* d = find_op(op);
  *exists = d != nullptr;
  *since = d ? d->signatures.front().from : std::numeric_limits<int64_t>::max();
  const Signature* best = nullptr;
  if (d) {
    for (const Signature& s : d->signatures) {
      if (s.from <= opset) best = &s;
    }
  }
  return best;
}

std::vector<ValueType> infer_view(const OpView& v) {
  const OpDef* d = find_op(v.op());
  if (!d) v.fail("no shape inference for this operator");
  return d->infer(v);
}

}  // namespace detail

const std::vector<std::string>& supported_ops() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& d : detail::all_ops()) v.emplace_back(d.name);
    return v;  // all_ops() is sorted by name
  }();
  return names;
}

bool is_supported_op(const std::string& op_type) { return detail::find_op(op_type) != nullptr; }

std::vector<ValueType> infer_types(const OpContext& ctx) {
  return detail::with_node_context(ctx.node, ctx.opset, [&] {
    detail::OpView v(ctx);
    return detail::infer_view(v);
  });
}

SliceSpec slice_spec(const OpContext& ctx) { return detail::resolve_slice(detail::OpView(ctx)); }
WindowSpec conv_window(const OpContext& ctx) { return detail::resolve_conv(detail::OpView(ctx)); }
WindowSpec pool_window(const OpContext& ctx) { return detail::resolve_pool(detail::OpView(ctx)); }
WindowSpec conv_transpose_window(const OpContext& ctx) { return detail::resolve_conv_transpose(detail::OpView(ctx)); }

PadAmounts pad_amounts(const OpContext& ctx) {
  detail::PadSpec p = detail::resolve_pad(detail::OpView(ctx));
  return PadAmounts{std::move(p.begin), std::move(p.end)};
}

bool has_reference(const std::string& op_type) {
  const detail::OpDef* d = detail::find_op(op_type);
  return d && d->eval;
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
    const detail::OpDef* d = detail::find_op(node.op_type);
    if (!d || !d->eval) v.fail("has no host reference kernel");
    std::vector<HostTensor> outs = d->eval(detail::Ctx{v, inputs, out_types});
    outs.resize(node.outputs.size());
    for (size_t i = 0; i < outs.size(); ++i) {
      if (!v.output_used(i)) outs[i] = HostTensor();
    }
    return outs;
  });
}

}  // namespace mrt::onnx
