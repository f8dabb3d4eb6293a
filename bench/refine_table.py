#!/usr/bin/env python3
"""Refinement and activation quantization: accuracy and quantize time per variant.

usage: python3 bench/refine_table.py [--tool PATH] [--samples 128] [--held-out 64]
                                     [--repeat 1] [--threads 0] [--keep DIR]

For the tests' generated MLP, CNN and transformer block (tests/runtime/ort/gen_models.py,
written to a temporary folder), with the data of tests/passes/test_refine_e2e.py: one
stream from numpy's default_rng(11) (correlated features with outlier channels; smooth
images for the CNN), the first --samples for calibration and the next --held-out for
evaluation. Group size 32 for the MLP and the encoder, per output channel (0) for the CNN.

Variants, each one `onnx-gptq quantize` call (wall time measured around the process, so
it includes loading the model and data; with --repeat R the fastest of R runs, and the
report of that run):
  W4 and W3:  RTN (--method rtn), GPTQ (default), GPTQ + refine (--refine);
  W4A8:       the same three with --act-bits 8 (minmax ranges), and GPTQ + refine with
              --act-calib percentile.
Each quantized model is compared with the float model on the held-out data by
`onnx-gptq eval --json` (our runtime): SNR (dB), cosine, max abs error and top-1 agreement
(null in the JSON for outputs that are not classifier-shaped: printed '-'). The float row
is the float model evaluated against itself. For the refined variants, the `--report`
gives how many layers the refinement improved and how many kept their start (GPTQ) codes,
the summed proxy loss before and after, and the time spent on Hessian scores and on the
refinement itself (from the report's totals).

Deterministic: fixed seeds, and quantize/eval are deterministic. Any failing command stops
the script with its command line and stderr (exit 1).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "runtime", "ort"))
sys.path.insert(0, os.path.join(ROOT, "tests", "passes"))
import gen_models  # noqa: E402
from test_quantize_e2e import correlated, smooth_images  # noqa: E402

SEED = 11
MODELS = [("mlp", "32"), ("cnn", "0"), ("encoder", "32")]
A8 = ["--act-bits", "8"]
# (label, flags, refined?)
VARIANTS = [
    ("W4 RTN", ["--bits", "4", "--method", "rtn"], False),
    ("W4 GPTQ", ["--bits", "4"], False),
    ("W4 GPTQ+refine", ["--bits", "4", "--refine"], True),
    ("W3 RTN", ["--bits", "3", "--method", "rtn"], False),
    ("W3 GPTQ", ["--bits", "3"], False),
    ("W3 GPTQ+refine", ["--bits", "3", "--refine"], True),
    ("W4A8 RTN", ["--bits", "4", "--method", "rtn", *A8], False),
    ("W4A8 GPTQ", ["--bits", "4", *A8], False),
    ("W4A8 GPTQ+refine", ["--bits", "4", "--refine", *A8], True),
    ("W4A8 GPTQ+refine, percentile", ["--bits", "4", "--refine", *A8, "--act-calib",
                                      "percentile"], True),
]


class CommandFailed(Exception):
    pass


def run(cmd):
    """Runs cmd; returns (stdout, wall seconds). Raises CommandFailed with stderr."""
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise CommandFailed(f"command failed (exit {r.returncode}): {' '.join(cmd)}\n"
                            f"{r.stderr.rstrip()}")
    return r.stdout, dt


def make_data(name, n):
    # Same generators, seed and order as tests/passes/test_refine_e2e.py make_data.
    rng = np.random.default_rng(SEED)
    if name == "mlp":
        return {"x": correlated(rng, (n, 64))}
    if name == "cnn":
        return {"image": smooth_images(rng, n, 3, 32, 32)}
    return {"tokens": correlated(rng, (n, 16, 64))}


def evaluate(tool, quant, teacher, data):
    out, _ = run([tool, "eval", quant, "--teacher", teacher, "--data", data, "--json"])
    ev = json.loads(out)
    if len(ev["outputs"]) != 1:
        # The three models have one output each; more would need one row per output.
        raise CommandFailed(f"{quant}: expected one output, eval reports {len(ev['outputs'])}")
    o = ev["outputs"][0]
    snr = math.inf if o["exact_match"] else o["snr_db"]
    return {"snr": snr, "cos": o["cosine"], "maxerr": o["max_abs_error"],
            "top1": o["top1_agreement"], "output": o["name"], "samples": ev["samples"]}


def refine_summary(report):
    layers = [ly for ly in report["layers"] if ly["quantized"] and "refine" in ly]
    kept = sum(1 for ly in layers if ly["refine"]["kept_start"])
    start = sum(ly["loss_start"] for ly in layers)
    final = sum(ly["loss"] for ly in layers)
    return {"layers": len(layers), "improved": len(layers) - kept, "kept": kept,
            "start": start, "final": final,
            "codes": sum(ly["refine"]["codes_changed"] for ly in layers),
            "steps": report["totals"].get("refine_steps_per_layer", 0),
            "seconds": report["totals"].get("seconds_refine", 0.0),
            "hessian_seconds": report["totals"].get("seconds_hessian_scores", 0.0)}


def fmt_snr(v):
    return "inf" if math.isinf(v) else f"{v:.2f}"


def fmt_top1(v):
    return "-" if v is None else f"{100.0 * v:.1f}%"


def bench_model(tool, tmp, spec, group, n_calib, n_held, repeat, threads):
    both = make_data(spec.name, n_calib + n_held)
    calib = os.path.join(tmp, f"{spec.name}_calib.npz")
    held = os.path.join(tmp, f"{spec.name}_heldout.npz")
    np.savez(calib, **{k: v[:n_calib] for k, v in both.items()})
    np.savez(held, **{k: v[n_calib:] for k, v in both.items()})

    rows = [("float", evaluate(tool, spec.path, spec.path, held), None)]
    summaries = []
    for label, flags, refined in VARIANTS:
        tag = label.replace(" ", "_").replace("+", "_").replace(",", "")
        out = os.path.join(tmp, f"{spec.name}_{tag}.onnx")
        rep = os.path.join(tmp, f"{spec.name}_{tag}.json")
        cmd = [tool, "quantize", spec.path, "--calib", calib, "-o", out, "--group-size", group,
               *flags, "--report", rep, "--quiet"]
        if threads:
            cmd += ["--threads", str(threads)]
        best, best_report = math.inf, None
        for _ in range(repeat):
            _, dt = run(cmd)
            if dt < best:
                # The output is deterministic; only the report's timings differ per run.
                with open(rep) as f:
                    best, best_report = dt, json.load(f)
        rows.append((label, evaluate(tool, out, spec.path, held), best))
        if refined:
            summaries.append((label, refine_summary(best_report)))
        print(f"  {spec.name}: {label} done ({best:.2f} s)", file=sys.stderr)

    out_name = rows[0][1]["output"]
    print(f"\n### {spec.name} (group size {group}; output `{out_name}`; "
          f"{n_calib} calibration / {rows[0][1]['samples']} held-out samples)\n")
    print("| variant | SNR dB | cosine | max abs err | top-1 agree | quantize time (s) |")
    print("|---|---|---|---|---|---|")
    for label, m, secs in rows:
        t = "-" if secs is None else f"{secs:.2f}"
        print(f"| {label} | {fmt_snr(m['snr'])} | {m['cos']:.6f} | {m['maxerr']:.4g} | "
              f"{fmt_top1(m['top1'])} | {t} |")
    print("\nRefinement (from `--report`): layers improved or kept at their start (GPTQ) codes;"
          "\nsummed proxy loss of the refined layers before and after:\n")
    print("| variant | improved | kept start | loss start | loss refined | change | "
          "codes changed | steps/layer | Hessian scores s | refine s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, s in summaries:
        change = (s["final"] / s["start"] - 1.0) * 100.0 if s["start"] > 0 else 0.0
        print(f"| {label} | {s['improved']}/{s['layers']} | {s['kept']}/{s['layers']} | "
              f"{s['start']:.4g} | {s['final']:.4g} | {change:+.1f}% | {s['codes']} | "
              f"{s['steps']} | {s['hessian_seconds']:.2f} | {s['seconds']:.2f} |")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tool", default=os.path.join(ROOT, "build", "tools", "onnx-gptq"),
                    help="onnx-gptq binary (default: build/tools/onnx-gptq)")
    ap.add_argument("--samples", type=int, default=128, help="calibration samples")
    ap.add_argument("--held-out", type=int, default=64, help="evaluation samples")
    ap.add_argument("--mlp-factor", type=int, default=8,
                    help="the MLP uses this many times --samples/--held-out (default 8)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="quantize each variant R times, report the fastest (default 1)")
    ap.add_argument("--threads", type=int, default=0,
                    help="quantize --threads N (default 0: the tool's default, all cores)")
    ap.add_argument("--keep", help="write models, data and reports here instead of a "
                                   "temporary folder")
    args = ap.parse_args()
    if args.samples < 1 or args.held_out < 1 or args.repeat < 1 or args.threads < 0:
        ap.error("--samples, --held-out and --repeat must be >= 1, --threads >= 0")
    if not os.access(args.tool, os.X_OK):
        ap.error(f"{args.tool}: not an executable (build first, or pass --tool)")

    def go(tmp):
        specs = {s.name: s for s in gen_models.build_all(os.path.join(tmp, "models"))}
        for name, group in MODELS:
            # The MLP sees one row per sample: 8x the samples (as the e2e test) so each
            # layer has rows >> K; the CNN/encoder get 1024/16 rows per sample.
            k = args.mlp_factor if name == "mlp" else 1
            bench_model(args.tool, tmp, specs[name], group, k * args.samples,
                        k * args.held_out, args.repeat, args.threads)

    try:
        if args.keep:
            os.makedirs(args.keep, exist_ok=True)
            go(args.keep)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                go(tmp)
    except CommandFailed as e:
        print(f"refine_table.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
