#!/usr/bin/env python3
"""Round trip every shared model through `onnx-gptq convert` and compare with ONNX Runtime.

For each model.onnx under <shared>/onnx-node-tests and each *.onnx under
<shared>/real-models:
  * `onnx-gptq convert` succeeds;
  * the saved ModelProto equals the input up to the tensor data encoding (typed fields
    become raw_data), empty strings written or omitted, and node order when the input
    was not topologically sorted;
  * ONNX Runtime (CPU, graph optimizations off) loads the output iff it loads the input;
  * on test_data_set_0 the outputs of both are bit-identical (NaN equal to NaN), and a
    run fails on the output iff it fails on the input;
  * onnx.checker.check_model(full_check=True) passes on the output wherever it passes on
    the input.
The real models are checked again with --external-data (the side file must exist and
ORT must resolve it), and synthetic models from fuzz/make_corpus.py cover features the
shared data lacks. Prints pass/skip/fail counts (a skip: ORT refuses or cannot run the
input itself, e.g. element types its Python API cannot feed) and a final
'N passed, M failed' line;
exits 1 on any failure, 77 (skip) when onnx/onnxruntime or the shared folder is missing.
"""
import argparse
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time

SKIP = 77

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper
except ImportError as e:  # pragma: no cover - environment without the Python stack
    print(f"skipped: {e}")
    sys.exit(SKIP)


def first_line(exc):
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def list_models(shared):
    """(model path, test_data_set_0 folder or None, external?) for every shared model."""
    out = []
    node_root = os.path.join(shared, "onnx-node-tests")
    if os.path.isdir(node_root):
        for name in sorted(os.listdir(node_root)):
            model = os.path.join(node_root, name, "model.onnx")
            if os.path.isfile(model):
                out.append((model, os.path.join(node_root, name, "test_data_set_0"), False))
    real_root = os.path.join(shared, "real-models")
    if os.path.isdir(real_root):
        for name in sorted(os.listdir(real_root)):
            folder = os.path.join(real_root, name)
            if not os.path.isdir(folder):
                continue
            for f in sorted(os.listdir(folder)):
                if f.endswith(".onnx"):
                    data = os.path.join(folder, "test_data_set_0")
                    out.append((os.path.join(folder, f), data, False))
                    out.append((os.path.join(folder, f), data, True))
    return out


def read_value(path, type_proto):
    """Reads one test_data_set .pb file according to the graph input's type."""
    kind = type_proto.WhichOneof("value")
    with open(path, "rb") as f:
        data = f.read()
    if kind == "sequence_type":
        seq = onnx.SequenceProto()
        seq.ParseFromString(data)
        return numpy_helper.to_list(seq)
    if kind == "optional_type":
        opt = onnx.OptionalProto()
        opt.ParseFromString(data)
        return numpy_helper.to_optional(opt)
    t = onnx.TensorProto()
    t.ParseFromString(data)
    return numpy_helper.to_array(t)


def load_feeds(model_path, data_dir):
    """Feeds for the model's real inputs, or None when the data set is absent."""
    if not data_dir or not os.path.isdir(data_dir):
        return None
    m = onnx.load(model_path, load_external_data=False)
    inits = {t.name for t in m.graph.initializer}
    feeds = {}
    for i, inp in enumerate(x for x in m.graph.input if x.name not in inits):
        p = os.path.join(data_dir, f"input_{i}.pb")
        if not os.path.isfile(p):
            return None
        feeds[inp.name] = read_value(p, inp.type)
    return feeds


_ORT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64,
              "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int8)": np.int8,
              "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_,
              "tensor(float16)": np.float16}


def made_up_feeds(sess):
    """Deterministic small inputs for models without test data, or None when an input
    is not a plain tensor of a common type. Symbolic dims become 2, scalars are 2."""
    feeds = {}
    for i in sess.get_inputs():
        dtype = _ORT_TYPES.get(i.type)
        if dtype is None:
            return None
        shape = [d if isinstance(d, int) else 2 for d in (i.shape or [])]
        n = int(np.prod(shape)) if shape else 1
        values = (np.arange(n) % 5 - 1) if shape else np.array(2)
        feeds[i.name] = values.astype(dtype).reshape(shape)
    return feeds


def session(path):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]), None
    except Exception as e:  # noqa: BLE001 - any ORT refusal counts
        return None, first_line(e)


def run(sess, feeds):
    try:
        return sess.run(None, feeds), None
    except Exception as e:  # noqa: BLE001
        return None, first_line(e)


def identical(a, b):
    """Bit-identical values (NaN equal to NaN), recursing into sequences."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (list, tuple)):
        return (isinstance(b, (list, tuple)) and len(a) == len(b)
                and all(identical(x, y) for x, y in zip(a, b)))
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    if a.dtype.kind == "O":
        return a.tolist() == b.tolist()
    return bool(np.array_equal(a, b)) or a.tobytes() == b.tobytes()


def checker_ok(path):
    try:
        onnx.checker.check_model(path, full_check=True)
        return True, None
    except Exception as e:  # noqa: BLE001
        return False, first_line(e)


def _norm_tensor(t):
    """Same data in one encoding: raw_data (or string_data), whatever field it came in."""
    if t.data_location == onnx.TensorProto.EXTERNAL:
        return
    t.ClearField("data_location")  # onnx.load sets DEFAULT after reading external data
    if t.data_type == onnx.TensorProto.STRING:
        data = list(t.string_data)
    else:
        data = numpy_helper.to_array(t).tobytes()
    for f in ("float_data", "int32_data", "string_data", "int64_data", "double_data",
              "uint64_data", "raw_data"):
        t.ClearField(f)
    if t.data_type == onnx.TensorProto.STRING:
        t.string_data.extend(data)
    elif data:
        t.raw_data = data


def _clear_empty(msg, fields):
    for f in fields:
        if msg.HasField(f) and getattr(msg, f) == "":
            msg.ClearField(f)


def _normalize(m):
    """What a faithful save may change: the tensor data encoding, empty strings written
    or omitted. (Subgraphs are written back byte for byte.)"""
    _clear_empty(m, ["producer_name", "producer_version", "domain", "doc_string"])
    g = m.graph
    _clear_empty(g, ["name", "doc_string"])
    for t in g.initializer:
        _norm_tensor(t)
        _clear_empty(t, ["name", "doc_string"])
    for n in g.node:
        _clear_empty(n, ["name", "domain", "doc_string"])
        for a in n.attribute:
            if a.HasField("t"):
                _norm_tensor(a.t)
                _clear_empty(a.t, ["name", "doc_string"])
    return m


def proto_difference(a_path, b_path):
    """None when the saved model equals the input up to data encoding, empty-string
    presence and (for inputs not topologically sorted) node order; else a description."""
    a = _normalize(onnx.load(a_path))
    b = _normalize(onnx.load(b_path))
    if a == b:
        return None
    key = lambda n: n.SerializeToString()  # noqa: E731
    na, nb = sorted(a.graph.node, key=key), sorted(b.graph.node, key=key)
    if [key(n) for n in na] == [key(n) for n in nb]:
        del a.graph.node[:]
        del b.graph.node[:]
        if a == b:
            return None
    for field in ("ir_version", "opset_import", "metadata_props", "functions",
                  "training_info", "doc_string", "producer_name", "model_version"):
        if getattr(a, field) != getattr(b, field):
            return f"model field '{field}' differs"
    for field in ("node", "initializer", "sparse_initializer", "input", "output",
                  "value_info", "quantization_annotation", "name", "doc_string"):
        if getattr(a.graph, field) != getattr(b.graph, field):
            return f"graph field '{field}' differs"
    return "protos differ"


def check_one(job):
    """Returns (label, status, message) with status in pass/skip/fail."""
    cli, model, data_dir, external = job
    label = os.path.relpath(model, os.path.dirname(os.path.dirname(os.path.dirname(model))))
    if external:
        label += " (--external-data)"
    tmp = tempfile.mkdtemp(prefix="ogq-ort-")
    try:
        out = os.path.join(tmp, "out.onnx")
        cmd = [cli, "convert", model, out] + (["--external-data"] if external else [])
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            return label, "fail", f"convert exited {p.returncode}: {p.stderr.strip()}"
        if external and not os.path.isfile(out + ".data"):
            return label, "fail", "--external-data wrote no out.onnx.data"
        left = sorted(os.listdir(tmp))
        if left != (["out.onnx", "out.onnx.data"] if external else ["out.onnx"]):
            return label, "fail", f"unexpected files in the output folder: {left}"

        try:
            diff = proto_difference(model, out)
        except Exception as e:  # noqa: BLE001
            diff = f"cannot compare the protos: {first_line(e)}"
        if diff:
            return label, "fail", f"saved model is not the input: {diff}"

        ok_in, why_in = checker_ok(model)
        ok_out, why_out = checker_ok(out)
        if ok_in and not ok_out:
            return label, "fail", f"onnx.checker passes on the input but not the output: {why_out}"

        s1, e1 = session(model)
        s2, e2 = session(out)
        if (s1 is None) != (s2 is None):
            return label, "fail", f"ORT load differs: input {e1 or 'ok'} / output {e2 or 'ok'}"
        if s1 is None:
            return label, "skip", f"ORT refuses the input too: {e1}"
        try:
            feeds = load_feeds(model, data_dir)
        except Exception as e:  # noqa: BLE001
            return label, "skip", f"cannot read test data: {first_line(e)}"
        if feeds is None and data_dir is None:
            feeds = made_up_feeds(s1)
        if feeds is None:
            return label, "skip", "no test data"
        o1, r1 = run(s1, feeds)
        o2, r2 = run(s2, feeds)
        if (o1 is None) != (o2 is None):
            return label, "fail", f"ORT run differs: input {r1 or 'ok'} / output {r2 or 'ok'}"
        if o1 is None:
            return label, "skip", f"ORT run fails on the input too: {r1}"
        names = [o.name for o in s1.get_outputs()]
        if names != [o.name for o in s2.get_outputs()]:
            return label, "fail", "output names differ"
        for name, a, b in zip(names, o1, o2):
            if not identical(a, b):
                return label, "fail", f"output '{name}' differs"
        return label, "pass", ""
    except subprocess.TimeoutExpired:
        return label, "fail", "convert timed out"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def synthetic_models(folder):
    """Models for features the shared data lacks (typed data fields, sparse initializers,
    functions, training info, non-tensor types, control flow, IR 3), from the fuzzer's
    seed generator. The one referencing a missing external-data file is left out."""
    here = os.path.dirname(os.path.abspath(__file__))
    gen = os.path.join(here, "..", "..", "fuzz", "make_corpus.py")
    if not os.path.isfile(gen):
        return []
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_corpus", gen)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.synthetic(folder)
    return [(os.path.join(folder, f), None, False) for f in sorted(os.listdir(folder))
            if f.endswith(".onnx") and "external" not in f]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cli", required=True, help="path to the onnx-gptq executable")
    ap.add_argument("--shared", default=os.path.join(here, "..", "..", "..", "shared"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--filter", default="", help="only models whose path contains this")
    ap.add_argument("-v", "--verbose", action="store_true", help="print skips too")
    args = ap.parse_args()

    if not os.path.isdir(args.shared):
        print(f"skipped: {args.shared} not found")
        return SKIP
    cli = os.path.abspath(args.cli)
    synth_dir = tempfile.mkdtemp(prefix="ogq-synth-")
    models = list_models(args.shared) + synthetic_models(synth_dir)
    jobs = [(cli, m, d, ext) for m, d, ext in models if args.filter in m]
    if not jobs:
        print("no models found")
        shutil.rmtree(synth_dir, ignore_errors=True)
        return 1

    start = time.time()
    counts = {"pass": 0, "skip": 0, "fail": 0}
    skip_reasons = {}
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(max(1, args.workers)) as pool:
        for label, status, msg in pool.imap_unordered(check_one, jobs, chunksize=8):
            counts[status] += 1
            if status == "fail":
                print(f"FAIL {label}: {msg}", flush=True)
            elif status == "skip":
                key = msg.split(":")[0]
                skip_reasons[key] = skip_reasons.get(key, 0) + 1
                if args.verbose:
                    print(f"skip {label}: {msg}")
    print(f"round trips through ORT: {len(jobs)} checked in {time.time() - start:.0f}s: "
          f"{counts['pass']} pass, {counts['skip']} skip, {counts['fail']} fail")
    for reason, n in sorted(skip_reasons.items()):
        print(f"  skip ({n}): {reason}")
    print(f"{counts['pass']} passed, {counts['fail']} failed")
    shutil.rmtree(synth_dir, ignore_errors=True)
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
