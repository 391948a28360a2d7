// Graph passes between the loader and a backend:
//  - specialize: fix the runtime input dims (the dynamic batch), infer every
//    value's type, fold constants (Shape becomes a constant once dims are
//    known, so the Shape/Gather/Concat/Unsqueeze/Slice chains exporters emit
//    fold away), compute repeated subexpressions once and drop nodes
//    nothing needs;
//  - plan_fusions: rewrite the decomposed Gelu and LayerNorm patterns into
//    single nodes, fold BatchNormalization into the Conv before it, and
//    attach activations, scalar scales and residual/bias adds to the Conv,
//    ConvTranspose, Gemm or MatMul they follow, as post-ops a backend may
//    fuse.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "mrt/onnx/ir.h"

namespace mrt::onnx {

// `input_dims` gives concrete dims for every graph input. Throws OnnxError
// when an input's rank or a static dim disagrees with the declared type, or
// when a node's shapes do not work out.
Graph specialize(const Graph& g, const std::map<std::string, Dims>& input_dims);

// Drops nodes none of whose outputs reach a graph output.
void remove_dead_nodes(Graph& g);

// Computes each distinct (operator, attributes, inputs) once: exporters
// repeat work per layer (transformers' BERT exports expand the attention
// mask into a [batch, 1, seq, seq] Where in every layer, each from its own
// copy of the same scalars). Small constants (256 bytes or less) with equal
// bytes are merged first; a node that names a graph output is kept. Every
// supported operator is deterministic, so merged nodes compute the same
// values. specialize() runs it last.
void eliminate_common_subexpressions(Graph& g);

// A Concat along channels whose only reader is a group-1 1x1 Conv with
// constant weights, or a pooling, is not materialised: the Conv becomes one
// Conv per concatenated part (each with its slice of the weights) summed by
// Adds, which plan_fusions turns into residual post-ops; a pooling becomes
// one pooling per part, concatenated (and that smaller Concat is split in
// turn when its reader allows). Exact up to float summation order. For
// backends where a concat is a copy through memory: SqueezeNet's Fire
// modules then never copy their two branches into one tensor.
void split_concat_consumers(Graph& g);

// An operation applied to a node's output before it is stored.
struct PostOp {
  enum Kind {
    kEltwise,  // op_type: Relu LeakyRelu Clip Sigmoid Tanh HardSigmoid HardSwish Gelu GeluTanh Elu Mish (alpha, beta as
               // in ONNX)
    kLinear,   // y = alpha * y + beta (a Mul/Div/Add/Sub by a scalar constant)
    kAdd,      // y = y + operand (a residual, or a broadcast bias)
  };
  Kind kind = kEltwise;
  std::string op_type;
  float alpha = 0, beta = 0;
  std::string operand;
  std::string source_node;  // the node folded in, for logs
};

struct FusedGraph {
  Graph graph;
  std::vector<std::vector<PostOp>> post_ops;  // one list per graph.nodes entry
  int fused_nodes = 0;                        // nodes absorbed, for logs
};

// Rewrites and fusions on a specialized graph (types all known).
FusedGraph plan_fusions(Graph g);

// plan_fusions' Conv → BatchNormalization folding alone, on a graph as
// loaded (unspecialized), scaling each convolution's weights where they
// are instead of into a copy. Only for a freshly loaded graph that alone
// holds its constants' bytes (the loader's one weight buffer): nothing may
// have copied the graph yet. Weights another node also reads are scaled
// into a copy, as plan_fusions does. Why: a plan then has no folding to do,
// and the load writes no second copy of the weights (ResNet-18: 45 MB of
// fresh pages, ~11 ms of its 60 ms load).
Graph fold_batch_norm_in_place(Graph g);

}  // namespace mrt::onnx
