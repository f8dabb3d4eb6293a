#!/usr/bin/env python3
"""Build a seed corpus for fuzz_load (nothing binary is committed to the repository).

Copies the ONNX node-test models and the small real models from the shared test data,
and, when the onnx package is installed, writes synthetic seeds for features the node
tests do not cover (typed data fields, sparse initializers, functions, training info,
non-tensor types, nested subgraphs, external-data references, IR 3 layouts).

usage: make_corpus.py OUT_DIR [--shared DIR] [--max-bytes N]
"""
import argparse
import os
import shutil
import sys


def copy_shared(shared, out, max_bytes):
    n = 0
    node_root = os.path.join(shared, "onnx-node-tests")
    if os.path.isdir(node_root):
        for name in sorted(os.listdir(node_root)):
            src = os.path.join(node_root, name, "model.onnx")
            if os.path.isfile(src) and os.path.getsize(src) <= max_bytes:
                shutil.copyfile(src, os.path.join(out, f"node_{name}.onnx"))
                n += 1
    real_root = os.path.join(shared, "real-models")
    if os.path.isdir(real_root):
        for name in sorted(os.listdir(real_root)):
            folder = os.path.join(real_root, name)
            if not os.path.isdir(folder):
                continue
            for f in os.listdir(folder):
                src = os.path.join(folder, f)
                if f.endswith(".onnx") and os.path.getsize(src) <= max_bytes:
                    shutil.copyfile(src, os.path.join(out, f"real_{name}.onnx"))
                    n += 1
    return n


def synthetic(out):
    try:
        import numpy as np
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        print("onnx not installed: no synthetic seeds", file=sys.stderr)
        return 0
    seeds = {}
    opset = [helper.make_opsetid("", 17)]
    f = TensorProto.FLOAT

    def vi(name, dtype=f, shape=None):
        return helper.make_tensor_value_info(name, dtype, shape)

    # Every typed data field instead of raw_data.
    typed = [
        helper.make_tensor("F", f, [3], [1.5, -2.0, 3.0]),
        helper.make_tensor("I8", TensorProto.INT8, [2], [-1, 7]),
        helper.make_tensor("H", TensorProto.FLOAT16, [2], np.array([1, -2], np.float16)),
        helper.make_tensor("L", TensorProto.INT64, [2], [-5, 1 << 40]),
        helper.make_tensor("D", TensorProto.DOUBLE, [1], [0.25]),
        helper.make_tensor("U64", TensorProto.UINT64, [1], [7]),
        helper.make_tensor("U32", TensorProto.UINT32, [2], [1, 2]),
        helper.make_tensor("S", TensorProto.STRING, [2], [b"ab", b""]),
        helper.make_tensor("B", TensorProto.BOOL, [2], [True, False]),
        helper.make_tensor("I4", TensorProto.INT4, [3], [1, -2, 3]),
        helper.make_tensor("C", TensorProto.COMPLEX64, [1], [complex(1.0, 2.0)]),
    ]
    g = helper.make_graph([helper.make_node("Add", ["x", "F"], ["y"], name="add")], "typed",
                          [vi("x", shape=[3])], [vi("y", shape=[3])], typed)
    seeds["typed_fields"] = helper.make_model(g, opset_imports=opset)

    # Sparse initializer, doc strings, metadata, value_info, a Constant with a tensor.
    sp = helper.make_sparse_tensor(numpy_helper.from_array(np.array([5.0], np.float32), "SP"),
                                   numpy_helper.from_array(np.array([1], np.int64), "SP_idx"),
                                   [3])
    g = helper.make_graph(
        [helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(
            np.arange(3, dtype=np.float32), "cval"), name="const", doc_string="a constant"),
         helper.make_node("Add", ["x", "c"], ["s"], name="add"),
         helper.make_node("Mul", ["s", "SP"], ["y"], name="mul")],
        "misc", [vi("x", shape=["batch", 3])], [vi("y", shape=["batch", 3])],
        sparse_initializer=[sp], value_info=[vi("s", shape=["batch", 3])], doc_string="graph doc")
    m = helper.make_model(g, opset_imports=opset, producer_name="seed", doc_string="model doc")
    helper.set_model_props(m, {"k": "v", "empty": ""})
    seeds["misc"] = m

    # Local function, training info.
    fn = helper.make_function("custom", "Twice", ["a"], ["b"],
                              [helper.make_node("Add", ["a", "a"], ["b"])], opset)
    g = helper.make_graph([helper.make_node("Twice", ["x"], ["y"], domain="custom")], "fn",
                          [vi("x", shape=[2])], [vi("y", shape=[2])])
    m = helper.make_model(g, opset_imports=opset + [helper.make_opsetid("custom", 1)],
                          functions=[fn])
    ti = onnx.TrainingInfoProto()
    ti.algorithm.CopyFrom(helper.make_graph([], "alg", [], []))
    m.training_info.append(ti)
    seeds["function_training"] = m

    # If with outer-scope reads, nested If, and a Loop.
    then_g = helper.make_graph([helper.make_node("Neg", ["x"], ["t"])], "then", [], [vi("t")])
    inner = helper.make_graph([helper.make_node("Relu", ["x"], ["i"])], "inner", [], [vi("i")])
    else_g = helper.make_graph([helper.make_node("If", ["cond"], ["e"], then_branch=inner,
                                                 else_branch=inner)], "else", [], [vi("e")])
    body = helper.make_graph([helper.make_node("Identity", ["cin"], ["cout"]),
                              helper.make_node("Add", ["v", "x"], ["vout"])], "body",
                             [vi("i", TensorProto.INT64, []), vi("cin", TensorProto.BOOL, []),
                              vi("v")], [vi("cout", TensorProto.BOOL, []), vi("vout")])
    g = helper.make_graph(
        [helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g),
         helper.make_node("Loop", ["n", "cond", "x"], ["z"], body=body)], "cf",
        [vi("cond", TensorProto.BOOL, []), vi("x", shape=[2]), vi("n", TensorProto.INT64, [])],
        [vi("y"), vi("z")])
    seeds["control_flow"] = helper.make_model(g, opset_imports=opset)

    # Non-tensor types.
    seq = helper.make_tensor_sequence_value_info("s", f, None)
    opt = helper.make_value_info("o", helper.make_optional_type_proto(
        helper.make_tensor_type_proto(f, [2])))
    mp = helper.make_value_info("mp", helper.make_map_type_proto(
        TensorProto.INT64, helper.make_tensor_type_proto(f, [])))
    g = helper.make_graph([helper.make_node("Identity", ["s"], ["s2"]),
                           helper.make_node("Identity", ["o"], ["o2"])], "types",
                          [seq, opt, mp], [helper.make_tensor_sequence_value_info("s2", f, None),
                                           helper.make_value_info("o2", opt.type)])
    seeds["types"] = helper.make_model(g, opset_imports=opset)

    # External data reference (refused in memory, but the parser paths get covered).
    t = numpy_helper.from_array(np.ones(4, np.float32), "W")
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "w.bin"), ("offset", "0"), ("length", "16")):
        t.external_data.add(key=k, value=v)
    g = helper.make_graph([helper.make_node("Add", ["x", "W"], ["y"])], "ext",
                          [vi("x", shape=[4])], [vi("y", shape=[4])], [t])
    seeds["external"] = helper.make_model(g, opset_imports=opset)

    # IR 3: initializers listed as graph inputs, unsorted nodes, an omitted optional output.
    w = numpy_helper.from_array(np.ones((2, 2), np.float32), "W")
    g = helper.make_graph(
        [helper.make_node("Relu", ["h"], ["y"], name="second"),
         helper.make_node("Gemm", ["x", "W", "W"], ["h"], name="first", alpha=2.0, transB=1),
         helper.make_node("Dropout", ["x"], ["d", ""], name="drop")],
        "ir3", [vi("x", shape=[2, 2]), vi("W", shape=[2, 2])], [vi("y"), vi("d")], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 7)])
    m.ir_version = 3
    seeds["ir3_unsorted"] = m

    for name, model in seeds.items():
        if model.ir_version > 8:
            model.ir_version = 8  # what ONNX Runtime reads; the opsets above need no more
        with open(os.path.join(out, f"synthetic_{name}.onnx"), "wb") as fh:
            fh.write(model.SerializeToString())
    return len(seeds)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="seed corpus for fuzz_load")
    ap.add_argument("out")
    ap.add_argument("--shared", default=os.path.join(here, "..", "..", "shared"))
    ap.add_argument("--max-bytes", type=int, default=64 * 1024,
                    help="skip larger models (big seeds slow the fuzzer down)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    n = copy_shared(args.shared, args.out, args.max_bytes) if os.path.isdir(args.shared) else 0
    s = synthetic(args.out)
    print(f"{n} models copied, {s} synthetic seeds written to {args.out}")


if __name__ == "__main__":
    main()
