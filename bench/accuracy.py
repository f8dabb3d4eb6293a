#!/usr/bin/env python3
"""Accuracy of quantized models: float vs RTN vs GPTQ at 4 and 3 bits.

usage: python3 bench/accuracy.py [--build build] [--shared ../shared] [--quick | --real-only]
                                 [--variants rtn,gptq,refine,a8-gptq,a8-refine] [--bits 4,3]

Models:
  - the tests' generated MLP, CNN and transformer block (tests/runtime/ort/gen_models.py),
    calibrated on 128 samples and evaluated on 64 held-out samples of the same distribution
    (correlated features with outlier channels; smooth images for the CNN);
  - the four real models in ../shared/real-models. Each ships one reference input only, so
    calibration uses 32 augmented copies of it (random crop-shift, flip, brightness and
    noise) and evaluation uses the untouched reference input plus 16 other augmentations.
Every quantized model runs in ONNX Runtime (optimizations off: exact float semantics of the
QDQ graph). Metrics against the float model's outputs: SNR in dB (10·log10 of signal power
over error power, higher is better) and, for classifier-like outputs, top-1 agreement.
Prints a markdown table; the numbers in bench/README.md come from this script.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "runtime", "ort"))
import gen_models  # noqa: E402


def session(path):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def run_all(path, feeds_list):
    s = session(path)
    return [s.run(None, f) for f in feeds_list]


def snr_db(ref, got):
    ref = np.concatenate([np.ravel(r) for r in ref]).astype(np.float64)
    got = np.concatenate([np.ravel(g) for g in got]).astype(np.float64)
    err = np.sum((ref - got) ** 2)
    return float("inf") if err == 0 else 10 * np.log10(np.sum(ref ** 2) / err)


def top1(ref, got):
    """Agreement of argmax over the last axis, for outputs that look like class scores."""
    r, g = np.asarray(ref), np.asarray(got)
    if r.ndim not in (2, 3) or r.shape[-1] < 2 or r.shape[-1] > 1000:
        return None  # images and the like: no class axis
    return float(np.mean(np.argmax(r, -1) == np.argmax(g, -1)))


def correlated(rng, shape):
    k = shape[-1]
    mix = rng.standard_normal((k, k)).astype(np.float32) / np.sqrt(k) + np.eye(k, dtype=np.float32)
    x = rng.standard_normal(shape).astype(np.float32) @ mix
    x[..., :2] *= 6.0
    return x.astype(np.float32)


def augment(rng, x, n):
    """n augmented copies of an NCHW image batch of 1: shifts, flips, brightness, noise."""
    out = []
    for _ in range(n):
        y = x.copy()
        dy, dx = rng.integers(-4, 5, size=2)
        y = np.roll(y, (int(dy), int(dx)), axis=(2, 3))
        if rng.random() < 0.5:
            y = y[..., ::-1]
        y = y * rng.uniform(0.8, 1.2) + rng.normal(0, 0.02 * (np.std(x) + 1e-6), y.shape)
        out.append(y.astype(np.float32))
    return out


def generated_cases(tmp):
    specs = {s.name: s for s in gen_models.build_all(os.path.join(tmp, "gen"))}
    rng = np.random.default_rng(7)
    cases = []
    for name, group in [("mlp", "32"), ("cnn", "0"), ("encoder", "32")]:
        if name == "mlp":
            both = {"x": correlated(rng, (192, 64))}
        elif name == "cnn":
            coarse = rng.standard_normal((192, 3, 8, 8)).astype(np.float32)
            img = np.repeat(np.repeat(coarse, 4, 2), 4, 3)
            both = {"image": (img + 0.1 * rng.standard_normal(img.shape)).astype(np.float32)}
        else:
            both = {"tokens": correlated(rng, (192, 16, 64))}
        calib = {k: v[:128] for k, v in both.items()}
        key = list(both)[0]
        evals = [{key: both[key][i:i + 8]} for i in range(128, 192, 8)]
        cases.append((name, specs[name].path, calib, evals, group))
    return cases


def real_cases(shared):
    cases = []
    root = os.path.join(shared, "real-models")
    if not os.path.isdir(root):
        return cases
    rng = np.random.default_rng(11)
    for d in sorted(os.listdir(root)):
        folder = os.path.join(root, d)
        if not os.path.isdir(folder):
            continue
        models = [f for f in os.listdir(folder) if f.endswith(".onnx")]
        inp = os.path.join(folder, "test_data_set_0", "input_0.pb")
        if not models or not os.path.exists(inp):
            continue
        path = os.path.join(folder, models[0])
        x = numpy_helper.to_array(onnx.load_tensor(inp)).astype(np.float32)
        name = session(path).get_inputs()[0].name
        calib = {name: np.concatenate(augment(rng, x, 32), axis=0)}
        evals = [{name: x}] + [{name: a} for a in augment(rng, x, 16)]
        cases.append((d, path, calib, evals, "0"))
    return cases


VARIANTS = {
    "rtn": ["--method", "rtn"],
    "gptq": [],
    "refine": ["--refine"],
    "a8-gptq": ["--act-bits", "8"],
    "a8-refine": ["--act-bits", "8", "--refine"],
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--shared", default=os.path.join(HERE, "..", "..", "shared"))
    ap.add_argument("--quick", action="store_true", help="generated models only")
    ap.add_argument("--real-only", action="store_true", help="real models only")
    ap.add_argument("--variants", default="rtn,gptq",
                    help="comma list of: " + ", ".join(VARIANTS))
    ap.add_argument("--bits", default="4,3")
    args = ap.parse_args()
    tool = os.path.join(args.build, "tools", "onnx-gptq")
    print("| model | bits | method | SNR vs float (dB) | top-1 agreement | quantize time (s) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        cases = ([] if args.real_only else generated_cases(tmp)) + \
            ([] if args.quick else real_cases(args.shared))
        for name, path, calib, evals, group in cases:
            calib_path = os.path.join(tmp, name + "_calib.npz")
            np.savez(calib_path, **calib)
            ref = run_all(path, evals)
            print(f"| {name} | 32 | float | inf | 1.000 | - |")
            for bits in [int(b) for b in args.bits.split(",")]:
                for method in args.variants.split(","):
                    out = os.path.join(tmp, f"{name}_{bits}_{method}.onnx")
                    t0 = time.time()
                    r = subprocess.run([tool, "quantize", path, "--calib", calib_path, "-o", out,
                                        "--bits", str(bits), *VARIANTS[method],
                                        "--group-size", group, "--quiet"],
                                       capture_output=True, text=True)
                    dt = time.time() - t0
                    if r.returncode != 0:
                        print(f"| {name} | {bits} | {method} | failed: {r.stderr.strip()} | | |")
                        continue
                    got = run_all(out, evals)
                    snr = snr_db([o for outs in ref for o in outs], [o for outs in got for o in outs])
                    agree = [top1(a[0], b[0]) for a, b in zip(ref, got)]
                    agree = [a for a in agree if a is not None]
                    t1 = f"{np.mean(agree):.3f}" if agree else "-"
                    print(f"| {name} | {bits} | {method} | {snr:.2f} | {t1} | {dt:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
