#!/usr/bin/env python3
"""Exports the ONNX backend node test cases for a set of operators to disk.

    scripts/export-onnx-node-tests.py [--out DIR] [--ops Conv,Relu,...]

The `onnx` Python package ships its node conformance tests as Python code
(onnx.backend.test.case.node.*) rather than as files: in onnx 1.23
`load_model_tests(kind='node')` builds each case in memory, with `.model` (a
ModelProto) and `.data_sets` (a list of (inputs, outputs) numpy arrays or
TensorProtos) and no `.model_dir`. This script serializes those cases the way
onnx's own `backend-test-tools generate-data` does, so the C++ conformance
runner can read them with nothing but the onnx protobuf definitions:

    DIR/<case>/model.onnx
    DIR/<case>/test_data_set_0/input_<i>.pb   (TensorProto, name = graph input)
    DIR/<case>/test_data_set_0/output_<i>.pb  (TensorProto, name = graph output)
    DIR/index.tsv                             one line per case, see README.md
    DIR/README.md                             origin, command, layout

A case is kept when every node of its graph is in the op list, in the default
domain, and carries no subgraph attribute (If/Loop/Scan bodies are out of
scope for the CPU backend). "_expanded" cases (the function body of an op
spelled out in primitive ops) are kept under the same rule; their "op" column
names the original op. DIR is recreated from scratch on every run so that a
narrower op list never leaves stale cases behind.
"""
import argparse
import collections
import os
import re
import shlex
import shutil
import sys
import warnings

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "tests", "fixtures", "onnx-node")

# Every operator the ONNX front end accepts (the definition rows in plugins/onnx-frontend/src/ops_*.cpp):
# the oneDNN backend runs each one, as a primitive or on the host kernels, so
# each is claimed. mrt-onnx-node-tests fails when the front end accepts an op
# that no exported case contains, so this list cannot fall behind the table.
DEFAULT_OPS = (
    "Conv ConvTranspose Gemm MatMul BatchNormalization Relu LeakyRelu Clip "
    "Sigmoid Tanh HardSigmoid HardSwish Erf Gelu Softmax LogSoftmax "
    "LayerNormalization MaxPool AveragePool GlobalAveragePool Add Sub Mul Div "
    "Pow Sqrt Exp Neg Reciprocal ReduceMean ReduceSum Concat Flatten Reshape "
    "Transpose Squeeze Unsqueeze Slice Gather Shape Cast Where Expand Equal "
    "ConstantOfShape Constant Identity Pad Resize "
    # host kernels beyond the issue's list (shape chains, masks, exporters' helpers)
    "Abs Ceil Floor Log Min Max Sum ReduceMax ReduceMin Split Tile Range "
    "Less LessOrEqual Greater GreaterOrEqual And Or Not "
    # activations, normalisations and reductions beyond the list
    "Elu Selu Celu Softplus Softsign Mish ThresholdedRelu PRelu Sin Cos Sign "
    "Round Dropout GlobalMaxPool InstanceNormalization ArgMax ArgMin ReduceL1 "
    "ReduceL2 ReduceLogSum ReduceLogSumExp ReduceProd ReduceSumSquare "
    # what the zoo's transformer exports need (issue 24): attention-mask and
    # index arithmetic (Mod, IsNaN/IsInf, GatherElements, ScatterND)
    "Mod IsNaN IsInf GatherElements ScatterND").split()

DEFAULT_DOMAINS = ("", "ai.onnx")
# Above this the fixtures start to weigh on the repository; we warn, never drop.
SIZE_WARN_BYTES = 8 * 1024 * 1024
# Ops that only feed the op under test (attribute-like inputs, plumbing); they
# are ignored when guessing the op under test of a multi-node graph.
PLUMBING_OPS = {"Constant", "Identity", "Shape", "Cast", "ConstantOfShape"}
EXPANDED_RE = re.compile(r"_expanded(_ver\d+)?$")


def load_cases():
    """All node cases of the installed onnx, sorted by name.

    The case modules compute reference outputs at import time and some of them
    overflow on purpose (Cast to float8, log(0) ...); their numpy warnings are
    noise here.
    """
    from onnx.backend.test.loader import load_model_tests
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = load_model_tests(kind="node")
    return sorted(cases, key=lambda c: c.name)


def has_subgraph(node):
    # GRAPH / GRAPHS attributes mean control flow (If, Loop, Scan, ...).
    import onnx
    return any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
               for a in node.attribute)


def reject_reason(model, ops):
    """Why a case is not exported, or None when it is."""
    graph = model.graph
    if not graph.node:
        return "empty graph"
    for node in graph.node:
        if node.domain not in DEFAULT_DOMAINS:
            return "domain %s" % node.domain
        if has_subgraph(node):
            return "subgraph"
        if node.op_type not in ops:
            return "op %s" % node.op_type
    return None


def graph_ops(model):
    # Unique op types in order of first appearance: the index reads like the graph.
    seen = []
    for node in model.graph.node:
        if node.op_type not in seen:
            seen.append(node.op_type)
    return seen


def model_opset(model):
    for imp in model.opset_import:
        if imp.domain in DEFAULT_DOMAINS:
            return imp.version
    return 0


def op_under_test(case, by_name):
    """The operator a case tests.

    Single-node graphs: that node. "_expanded" cases: the op of the case they
    expand (the test name minus the suffix). Other multi-node graphs: the op
    whose name prefixes the test name, else the one non-plumbing op.
    """
    base = EXPANDED_RE.sub("", case.name)
    if base != case.name and base in by_name:
        return op_under_test(by_name[base], by_name)
    nodes = case.model.graph.node
    if len(nodes) == 1:
        return nodes[0].op_type
    # Test names drop underscores inconsistently (test_layer_normalization vs
    # test_convtranspose): compare lower-cased names without underscores.
    flat = case.name[len("test_"):].replace("_", "")
    ops = graph_ops(case.model)
    # Longest match first so "ReduceSum" wins over "Reduce...", "ConvTranspose" over "Conv".
    for op in sorted(ops, key=len, reverse=True):
        if flat.startswith(op.lower()):
            return op
    real = [op for op in ops if op not in PLUMBING_OPS]
    if len(real) == 1:
        return real[0]
    return ops[-1]


def type_str(type_proto):
    """Short dtype of a graph input/output: 'float', 'seq(int64)', ..."""
    which = type_proto.WhichOneof("value")
    if which == "tensor_type":
        return _elem_name(type_proto.tensor_type.elem_type)
    if which == "sparse_tensor_type":
        return "sparse(%s)" % _elem_name(type_proto.sparse_tensor_type.elem_type)
    if which == "sequence_type":
        return "seq(%s)" % type_str(type_proto.sequence_type.elem_type)
    if which == "optional_type":
        return "optional(%s)" % type_str(type_proto.optional_type.elem_type)
    if which == "map_type":
        return "map(%s,%s)" % (_elem_name(type_proto.map_type.key_type),
                               type_str(type_proto.map_type.value_type))
    return "unknown"


def _elem_name(elem_type):
    # TensorProto.DataType names, lower-cased: float, float16, bfloat16, float8e4m3fn ...
    from onnx import TensorProto
    return TensorProto.DataType.Name(elem_type).lower()


def write_value(path, value, value_info):
    """Serialize one input/output like onnx's generate-data does."""
    from onnx import TensorProto, numpy_helper
    t = value_info.type
    if t.HasField("map_type"):
        proto = numpy_helper.from_dict(value, value_info.name)
    elif t.HasField("sequence_type"):
        proto = numpy_helper.from_list(value, value_info.name)
    elif t.HasField("optional_type"):
        proto = numpy_helper.from_optional(value, value_info.name)
    elif isinstance(value, TensorProto):
        # Already a TensorProto (float8/int4 cases build their own encoding);
        # keep it byte for byte but make sure the name matches the graph.
        proto = TensorProto()
        proto.CopyFrom(value)
        if not proto.name:
            proto.name = value_info.name
    else:
        proto = numpy_helper.from_array(value, value_info.name)
    with open(path, "wb") as f:
        f.write(proto.SerializeToString())


def export_case(case, case_dir):
    """Write model.onnx and every data set; returns bytes written."""
    os.makedirs(case_dir)
    with open(os.path.join(case_dir, "model.onnx"), "wb") as f:
        f.write(case.model.SerializeToString())
    graph = case.model.graph
    for i, (inputs, outputs) in enumerate(case.data_sets):
        ds = os.path.join(case_dir, "test_data_set_%d" % i)
        os.makedirs(ds)
        for j, value in enumerate(inputs):
            write_value(os.path.join(ds, "input_%d.pb" % j), value, graph.input[j])
        for j, value in enumerate(outputs):
            write_value(os.path.join(ds, "output_%d.pb" % j), value, graph.output[j])
    return dir_size(case_dir)


def dir_size(path):
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def prepare_out(out):
    """Recreate DIR, refusing to wipe a directory this script did not write."""
    if os.path.exists(out):
        entries = os.listdir(out)
        if entries and not os.path.exists(os.path.join(out, "index.tsv")):
            sys.exit("error: %s exists, is not empty and has no index.tsv; "
                     "not deleting it" % out)
        shutil.rmtree(out)
    os.makedirs(out)


INDEX_COLUMNS = ("name", "op", "opset", "graph_ops", "n_inputs", "n_outputs",
                 "input_dtypes", "output_dtypes", "rtol", "atol")


def index_row(case, op, n_in, n_out):
    g = case.model.graph
    join = lambda xs: ",".join(xs) if xs else "-"
    return (case.name, op, str(model_opset(case.model)), join(graph_ops(case.model)),
            str(n_in), str(n_out),
            join([type_str(v.type) for v in g.input[:n_in]]),
            join([type_str(v.type) for v in g.output[:n_out]]),
            repr(case.rtol), repr(case.atol))


def write_readme(out, onnx_version, command, ops, n_cases, size):
    text = """# ONNX backend node tests (generated)

Generated by `scripts/export-onnx-node-tests.py` from the node test cases of
the `onnx` Python package, version **{ver}** (`onnx.backend.test.loader.
load_model_tests(kind='node')`). Do not edit by hand; regenerate with:

    {cmd}

{n} cases, {mb:.2f} MB of case data. A case is included when every node of its graph is one
of the operators below, in the default domain, with no subgraph attribute.
`*_expanded*` cases are the op's function body written out in primitive ops.

Operators: {ops}

## Layout

    <case>/model.onnx                        ModelProto, as built by onnx
    <case>/test_data_set_0/input_<i>.pb      TensorProto for graph input i
    <case>/test_data_set_0/output_<i>.pb     TensorProto for graph output i (expected)
    index.tsv                                one line per case

Every .pb file is a serialized `onnx.TensorProto` (a `SequenceProto` /
`OptionalProto` only for sequence / optional graph values, which the current
op list never produces) whose `name` is the graph input/output name. Inputs
are numbered in graph-input order, outputs in graph-output order. The case
passes when every output matches within `|got - want| <= atol + rtol * |want|`
(onnx's backend runner uses numpy.testing.assert_allclose with rtol/atol from
the index; NaN must match NaN).

## index.tsv

Tab-separated, first line is the header:

| column | meaning |
|---|---|
| name | case directory name |
| op | operator under test (for `_expanded` cases, the original op) |
| opset | model opset of the default domain |
| graph_ops | op types in the graph, comma-separated, order of first use |
| n_inputs, n_outputs | number of .pb inputs / outputs |
| input_dtypes, output_dtypes | element types, comma-separated, TensorProto names lower-cased (`float`, `int64`, `float16`, ...); `-` when none |
| rtol, atol | tolerances of the onnx backend runner for this case |
""".format(ver=onnx_version, cmd=command, n=n_cases, mb=size / 1e6,
           ops=", ".join(ops))
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(text)


def command_line(argv):
    # Record the command relative to the repo root so the README is portable.
    args = []
    for a in argv[1:]:
        if os.path.isabs(a) and a.startswith(REPO_ROOT + os.sep):
            a = os.path.relpath(a, REPO_ROOT)
        args.append(a)
    return " ".join(shlex.quote(a) for a in ["scripts/export-onnx-node-tests.py"] + args)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=DEFAULT_OUT,
                    help="output directory (default: tests/fixtures/onnx-node)")
    ap.add_argument("--ops", default=",".join(DEFAULT_OPS),
                    help="comma-separated operator list (default: the CPU backend's ops)")
    ap.add_argument("--verbose", action="store_true", help="print every exported case")
    args = ap.parse_args()

    import onnx
    ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    op_set = set(ops)
    cases = load_cases()
    by_name = {c.name: c for c in cases}

    prepare_out(args.out)
    rows, sizes = [], {}
    per_op = collections.defaultdict(list)
    for case in cases:
        if case.model is None or reject_reason(case.model, op_set):
            continue
        op = op_under_test(case, by_name)
        sizes[case.name] = export_case(case, os.path.join(args.out, case.name))
        inputs, outputs = case.data_sets[0]
        row = index_row(case, op, len(inputs), len(outputs))
        rows.append(row)
        per_op[op].append(row)
        if args.verbose:
            print("  %-60s %-20s %8d B" % (case.name, op, sizes[case.name]))

    with open(os.path.join(args.out, "index.tsv"), "w") as f:
        f.write("\t".join(INDEX_COLUMNS) + "\n")
        for row in rows:
            f.write("\t".join(row) + "\n")
    total = sum(sizes.values())
    write_readme(args.out, onnx.__version__, command_line(sys.argv), ops, len(rows), total)
    total = dir_size(args.out)
    print_summary(ops, per_op, rows, sizes, total, args.out, onnx.__version__)


def print_summary(ops, per_op, rows, sizes, total, out, onnx_version):
    """Cases per op with opset range and dtypes, then size and the biggest cases."""
    print("onnx %s: exported %d cases to %s" % (onnx_version, len(rows), out))
    print("%-26s %5s %9s  %s" % ("op", "cases", "opsets", "dtypes (inputs+outputs)"))
    # Ops outside the list show up too: their "_expanded" cases use only listed ops.
    all_ops = set(ops) | set(per_op)
    for op in sorted(all_ops, key=lambda o: (-len(per_op.get(o, [])), o)):
        op_rows = per_op.get(op, [])
        if not op_rows:
            print("%-26s %5d %9s  (no case)" % (op, 0, "-"))
            continue
        opsets = sorted({int(r[2]) for r in op_rows})
        dtypes = sorted({d for r in op_rows for d in (r[6] + "," + r[7]).split(",")
                         if d != "-"})
        rng = "%d" % opsets[0] if len(opsets) == 1 else "%d-%d" % (opsets[0], opsets[-1])
        note = "" if op in ops else "  [not in op list: expanded cases only]"
        print("%-26s %5d %9s  %s%s" % (op, len(op_rows), rng, ",".join(dtypes), note))
    # Which cases bring each dtype in: this is what decides what to declare unsupported.
    by_dtype = collections.defaultdict(list)
    for r in rows:
        for d in set((r[6] + "," + r[7]).split(",")) - {"-"}:
            by_dtype[d].append(r[0])
    print("\ndtypes:")
    for d in sorted(by_dtype, key=lambda d: -len(by_dtype[d])):
        names = by_dtype[d]
        shown = ", ".join(names[:6]) + (" ..." if len(names) > 6 else "")
        print("  %-16s %4d cases  (%s)" % (d, len(names), shown))
    print("\ntotal size: %.2f MB (%d bytes)" % (total / 1e6, total))
    biggest = sorted(sizes.items(), key=lambda kv: -kv[1])[:10]
    if total > SIZE_WARN_BYTES:
        print("WARNING: over %.0f MB; biggest cases (nothing was dropped):"
              % (SIZE_WARN_BYTES / 1024 / 1024))
    else:
        print("biggest cases:")
    for name, size in biggest:
        print("  %8.1f KB  %s" % (size / 1024, name))


if __name__ == "__main__":
    main()
