#!/usr/bin/env python3
"""Round trip every shared model through `onnx-gptq convert` and compare with ONNX Runtime.

For each model.onnx under <shared>/onnx-node-tests and each *.onnx under
<shared>/real-models:
  * `onnx-gptq convert` succeeds;
  * ONNX Runtime (CPU, graph optimizations off) loads the output iff it loads the input;
  * on test_data_set_0 the outputs of both are bit-identical (NaN equal to NaN), and a
    run fails on the output iff it fails on the input;
  * onnx.checker.check_model(full_check=True) passes on the output wherever it passes on
    the input.
The real models are checked again with --external-data (the side file must exist and
ORT must resolve it). Prints pass/skip/fail counts and a final 'N passed, M failed' line;
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
    jobs = [(cli, m, d, ext) for m, d, ext in list_models(args.shared) if args.filter in m]
    if not jobs:
        print("no models found")
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
    print(f"{counts['pass'] + counts['skip']} passed, {counts['fail']} failed")
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
