#!/usr/bin/env python3
"""test_runtime_vs_ort.py — runs models through `onnx-gptq run` and ONNX Runtime (CPU, same
inputs) and compares every output.

usage: test_runtime_vs_ort.py ONNX_GPTQ SHARED_DIR [--threads N] [--keep DIR] [--only NAME]

Models: the generated ones of gen_models.py (each at two or more batch/sequence sizes, inputs
fed as one .npz keyed by input name and run as one batch with --batch-size) and every model
under SHARED_DIR/real-models (inputs fed as its test_data_set_0 folder of input_<i>.pb
files). ORT runs with default graph optimizations and one thread. A case passes when every
output has ORT's shape and |ours - ort| <= atol + rtol * |ort| everywhere (rtol 1e-3, atol
1e-4, as the real-models README suggests); "max rel" is max |ours - ort| / max(|ort|, atol).
A sanitizer report on stderr fails the case too. Prints one line per case and
"N passed, M failed"; exits 1 on any failure (or when nothing ran).
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_models  # noqa: E402

RTOL = 1e-3
ATOL = 1e-4
RUN_TIMEOUT = 120  # seconds per `onnx-gptq run`


def ort_run(model_path, feeds):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return names, sess.run(None, feeds)


def ours_run(exe, model_path, input_arg, batch, out_path, threads):
    cmd = [exe, "run", model_path, "--input", input_arg, "--output", out_path,
           "--threads", str(threads)]
    if batch:  # run the whole batch at once (`run` takes one sample per run by default)
        cmd += ["--batch-size", str(batch)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {RUN_TIMEOUT}s"
    if p.returncode != 0:
        msg = (p.stderr.strip() or p.stdout.strip()).splitlines()
        return None, f"exit {p.returncode}: {msg[-1] if msg else ''}"
    # UBSan reports without failing the process; a sanitizer build must fail the case.
    san = [ln for ln in p.stderr.splitlines() if "runtime error:" in ln or "Sanitizer" in ln]
    if san:
        return None, "sanitizer: " + san[0].strip()
    if not os.path.exists(out_path):
        return None, "no output file written"
    with np.load(out_path) as z:
        return {k: z[k] for k in z.files}, None


def compare(names, want, got):
    """Returns (ok, summary) comparing ORT outputs `want` with our npz dict `got`."""
    keys = list(got.keys())
    worst_abs = worst_rel = 0.0
    problems = []
    for i, (name, w) in enumerate(zip(names, want)):
        if name in got:
            g = got[name]
        elif len(keys) == len(names):  # unnamed entries (arr_0, ...): go by order
            g = got[keys[i]]
        else:
            problems.append(f"output '{name}' missing (npz has {keys})")
            continue
        if tuple(g.shape) != tuple(w.shape):
            problems.append(f"'{name}' shape {tuple(g.shape)}, ORT {tuple(w.shape)}")
            continue
        if w.dtype.kind in "iub":
            bad = int(np.count_nonzero(g.astype(np.int64) != w.astype(np.int64)))
            if bad:
                problems.append(f"'{name}': {bad} integer elements differ")
            continue
        g64, w64 = g.astype(np.float64), w.astype(np.float64)
        if not np.all(np.isfinite(g64) == np.isfinite(w64)):
            problems.append(f"'{name}': non-finite values differ")
            continue
        fin = np.isfinite(w64)
        diff = np.abs(g64[fin] - w64[fin])
        if diff.size == 0:
            continue
        mag = np.abs(w64[fin])
        worst_abs = max(worst_abs, float(diff.max()))
        worst_rel = max(worst_rel, float((diff / np.maximum(mag, ATOL)).max()))
        bad = diff > ATOL + RTOL * mag
        if bad.any():
            j = int(np.argmax(diff - (ATOL + RTOL * mag)))
            problems.append(f"'{name}': {int(bad.sum())}/{diff.size} elements out of "
                            f"tolerance (e.g. ours {g64[fin][j]:.6g} vs ORT {w64[fin][j]:.6g})")
    summary = f"max abs {worst_abs:.2e}, max rel {worst_rel:.2e}"
    if problems:
        return False, summary + "; " + "; ".join(problems)
    return True, summary


def generated_cases(tmp):
    specs = gen_models.build_all(os.path.join(tmp, "models"))
    for spec in specs:
        for k, shapes in enumerate(spec.shapes):
            rng = np.random.default_rng(1000 + k)
            feeds = {n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
            label = ", ".join("x".join(str(d) for d in s) for s in shapes.values())
            npz = os.path.join(tmp, f"{spec.name}_{k}_in.npz")
            np.savez(npz, **feeds)
            batch = next(iter(shapes.values()))[0]
            yield f"{spec.name} [{label}]", spec.path, feeds, npz, batch


def real_model_cases(shared_dir):
    root = os.path.join(shared_dir, "real-models")
    for d in sorted(glob.glob(os.path.join(root, "*"))):
        data = os.path.join(d, "test_data_set_0")
        models = sorted(glob.glob(os.path.join(d, "*.onnx")))
        if not os.path.isdir(data) or len(models) != 1:
            continue
        m = onnx.load(models[0], load_external_data=False)
        inits = {t.name for t in m.graph.initializer}
        in_names = [i.name for i in m.graph.input if i.name not in inits]
        feeds = {}
        for i, name in enumerate(in_names):
            t = onnx.TensorProto()
            with open(os.path.join(data, f"input_{i}.pb"), "rb") as f:
                t.ParseFromString(f.read())
            feeds[name] = numpy_helper.to_array(t)
        shape = ", ".join("x".join(str(d) for d in a.shape) for a in feeds.values())
        yield f"real/{os.path.basename(d)} [{shape}]", models[0], feeds, data, None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("onnx_gptq")
    ap.add_argument("shared_dir")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--keep", help="write models and data here instead of a temp dir")
    ap.add_argument("--only", help="run only cases whose label contains this")
    args = ap.parse_args()

    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="ogq_ort_") as tmpdir:
        tmp = args.keep or tmpdir
        os.makedirs(tmp, exist_ok=True)
        cases = list(generated_cases(tmp))
        if os.path.isdir(os.path.join(args.shared_dir, "real-models")):
            cases += list(real_model_cases(args.shared_dir))
        else:
            print(f"note: no real-models under {args.shared_dir}; generated models only")
        for n, (label, model, feeds, input_arg, batch) in enumerate(cases):
            if args.only and args.only not in label:
                continue
            names, want = ort_run(model, feeds)
            out = os.path.join(tmp, f"out_{n}.npz")
            got, err = ours_run(args.onnx_gptq, model, input_arg, batch, out, args.threads)
            if err:
                ok, summary = False, err
            else:
                ok, summary = compare(names, want, got)
            print(f"{'PASS' if ok else 'FAIL'}  {label}: {summary}", flush=True)
            passed += ok
            failed += not ok
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
