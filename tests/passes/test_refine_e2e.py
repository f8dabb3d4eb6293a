#!/usr/bin/env python3
"""End-to-end checks of refinement (`--refine`) and activation quantization (`--act-bits`).

On the generated MLP, CNN and transformer-block models (tests/runtime/ort/gen_models.py):
  - W4 with --refine: every refined layer's loss is <= its GPTQ start (from --report), at
    least one layer improved, and the output SNR against the float model on held-out data
    (ONNX Runtime) is >= that of GPTQ alone;
  - W4A8 and W8A8 QDQ models pass onnx.checker, run in ONNX Runtime (optimizations off and
    on), and ONNX Runtime matches our runtime on them; with W8A8 per-channel weights and
    quantized outputs (--act-outputs) ORT's optimizer fuses the QDQ groups into integer
    kernels (QLinearConv, QLinearMatMul, ...);
  - metadata_props["onnx_gptq.quantization"] parses, and lists every activation pair
    with the scale and zero point the graph really uses, the GAQ schedule and the
    refinement configuration;
  - every --act-calib method gives a valid model; refinement is deterministic;
  - bad refinement settings (flag and JSON file) fail with a one-line error naming the
    setting, exit 1, no output.

usage: test_refine_e2e.py ONNX_GPTQ_BINARY
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "runtime", "ort"))
sys.path.insert(0, HERE)
import gen_models  # noqa: E402
from test_quantize_e2e import correlated, quantize, run_ours, smooth_images  # noqa: E402

results = {"passed": 0, "failed": 0}
METADATA_KEY = "onnx_gptq.quantization"
INTEGER_OPS = {"QLinearConv", "QLinearMatMul", "MatMulIntegerToFloat", "QGemm", "ConvInteger",
               "MatMulInteger", "DynamicQuantizeMatMul", "QAttention"}


def check(cond, what):
    results["passed" if cond else "failed"] += 1
    print(("PASS " if cond else "FAIL ") + what)
    return cond


def make_data(name, rng, n):
    if name == "mlp":
        return {"x": correlated(rng, (n, 64))}
    if name == "cnn":
        return {"image": smooth_images(rng, n, 3, 32, 32)}
    return {"tokens": correlated(rng, (n, 16, 64))}


def run_ort(path, feeds, optimize=False, optimized_path=None):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                   else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    if optimized_path:
        so.optimized_model_filepath = optimized_path
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


def snr_db(ref, got):
    ref = np.concatenate([np.asarray(r, np.float64).ravel() for r in ref])
    got = np.concatenate([np.asarray(g, np.float64).ravel() for g in got])
    noise = np.sum((ref - got) ** 2)
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(ref ** 2) / noise))


def check_metadata(out, tag, refine):
    m = onnx.load(out)
    props = {p.key: p.value for p in m.metadata_props}
    if not check(METADATA_KEY in props, f"{tag}: metadata key present"):
        return
    try:
        meta = json.loads(props[METADATA_KEY])
    except ValueError as e:
        check(False, f"{tag}: metadata parses ({e})")
        return
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    qnodes = {n.input[0]: n for n in m.graph.node if n.op_type == "QuantizeLinear"}
    aq = meta.get("activation_quantization")
    ok = aq is not None and len(aq["tensors"]) == len(qnodes) and len(qnodes) > 0
    for t in (aq or {}).get("tensors", []):
        q = qnodes.get(t["tensor"])
        if q is None:
            ok = False
            break
        scale = float(inits[q.input[1]])
        zp = int(inits[q.input[2]])
        ok &= abs(scale - t["scale"]) <= 1e-6 * abs(scale) and zp == t["zero_point"]
        ok &= t["calibration_method"] == aq["calibration_method"] and t["range"][0] <= 0 <= \
            t["range"][1]
        gaq = t["gradual_activation_quantization"]
        if refine:
            ok &= gaq is not None and {"initial_q_fraction", "target_q_fraction", "start_step",
                                       "end_step", "final_q"} <= set(gaq)
            ok &= abs(gaq["final_q"] - gaq["target_q_fraction"]) < 1e-9
    check(ok, f"{tag}: metadata lists {len(qnodes)} activation pairs with the graph's "
              f"scale/zero point and GAQ schedule")
    if refine:
        rc = (meta.get("refinement") or {}).get("config") or {}
        check({"n_epochs", "optimizer", "optimizer_rest", "train_bias", "regularization_factor",
               "rounding_type", "hessian_weights_config",
               "gradual_activation_quantization_config"} <= set(rc),
              f"{tag}: metadata carries the refinement configuration (MCT names)")


def model_cases(tool, tmp):
    specs = {s.name: s for s in gen_models.build_all(os.path.join(tmp, "models"))}
    group = {"mlp": ["--group-size", "32"], "cnn": ["--group-size", "0"],
             "encoder": ["--group-size", "32"]}
    for name, extra in group.items():
        spec = specs[name]
        rng = np.random.default_rng(11)
        # Rows per layer: the MLP sees one row per sample, so it gets 1024 samples (8x its
        # widest K); with 128 rows refinement fits the calibration set, not the task.
        n_cal, n_held = (1024, 256) if name == "mlp" else (128, 64)
        both = make_data(name, rng, n_cal + n_held)
        calib = {k: v[:n_cal] for k, v in both.items()}
        held = {k: v[n_cal:] for k, v in both.items()}
        calib_path = os.path.join(tmp, f"{name}_calib.npz")
        np.savez(calib_path, **calib)
        ref = run_ort(spec.path, held)

        # W4: GPTQ alone vs GPTQ + refinement.
        snr = {}
        for variant, flags in [("gptq", []), ("refine", ["--refine"])]:
            out = os.path.join(tmp, f"{name}_{variant}.onnx")
            rep = os.path.join(tmp, f"{name}_{variant}.json")
            r = quantize(tool, spec.path, calib_path, out, "--bits", "4", *extra, *flags,
                         "--report", rep)
            if not check(r.returncode == 0, f"{name} w4 {variant}: quantize ({r.stderr.strip()})"):
                continue
            snr[variant] = snr_db(ref, run_ort(out, held))
            if variant == "refine":
                layers = [ly for ly in json.load(open(rep))["layers"] if ly["quantized"]]
                never_worse = all(ly["loss"] <= ly["loss_start"] * (1 + 1e-9) for ly in layers)
                improved = sum(1 for ly in layers if not ly["refine"]["kept_start"])
                check(never_worse and len(layers) > 0,
                      f"{name} w4 refine: loss <= GPTQ start on all {len(layers)} layers")
                check(improved > 0, f"{name} w4 refine: {improved}/{len(layers)} layers improved")
        if len(snr) == 2:
            print(f"    {name} w4 held-out SNR: gptq {snr['gptq']:.2f} dB, "
                  f"gptq+refine {snr['refine']:.2f} dB")
            check(snr["refine"] >= snr["gptq"], f"{name} w4: SNR with refinement >= GPTQ alone")

        # W4A8 (refined, GAQ) and W8A8 (per-channel 8-bit weights, for ORT's integer kernels).
        for tag, flags in [("w4a8", ["--bits", "4", *extra, "--act-bits", "8", "--refine",
                                     "--act-calib", "percentile"]),
                           ("w8a8", ["--bits", "8", "--group-size", "0", "--sym", "--act-bits",
                                     "8", "--act-outputs"])]:
            out = os.path.join(tmp, f"{name}_{tag}.onnx")
            r = quantize(tool, spec.path, calib_path, out, *flags)
            t = f"{name} {tag}"
            if not check(r.returncode == 0, f"{t}: quantize ({r.stderr.strip()})"):
                continue
            try:
                onnx.checker.check_model(onnx.load(out), full_check=True)
                ok = True
            except Exception as e:  # noqa: BLE001
                print("   ", e)
                ok = False
            check(ok, f"{t}: onnx.checker full_check")
            got = run_ort(out, held)
            opt_path = os.path.join(tmp, f"{name}_{tag}_ort_opt.onnx")
            got_opt = run_ort(out, held, optimize=True, optimized_path=opt_path)
            ours, why = run_ours(tool, out, held, tmp)
            if check(ours is not None, f"{t}: our runtime runs it {why}"):
                # Activation rounding may flip on float reorderings: compare as signals.
                check(snr_db(got, ours) > 35.0,
                      f"{t}: our runtime matches ORT (SNR {snr_db(got, ours):.1f} dB)")
            check(snr_db(got, got_opt) > 25.0,
                  f"{t}: ORT optimized == ORT reference (SNR {snr_db(got, got_opt):.1f} dB)")
            print(f"    {t}: held-out SNR vs float {snr_db(ref, got):.2f} dB")
            check(snr_db(ref, got) > 10.0, f"{t}: output still tracks the float model")
            if tag == "w8a8":
                ops = {n.op_type for n in onnx.load(opt_path).graph.node}
                check(bool(ops & INTEGER_OPS),
                      f"{t}: ORT fuses QDQ into integer kernels ({sorted(ops & INTEGER_OPS)})")
                if name == "mlp":  # Gemm with bias: needs the int32 bias and weight zero point
                    check("QGemm" in ops, f"{t}: the biased Gemm becomes QGemm")
                if name == "cnn":
                    check("QLinearConv" in ops, f"{t}: Conv becomes QLinearConv")
            check_metadata(out, t, refine="--refine" in flags)

        # Each range calibration method.
        if name == "cnn":
            scales = {}
            for method in ["minmax", "percentile", "mse", "entropy"]:
                out = os.path.join(tmp, f"{name}_calib_{method}.onnx")
                r = quantize(tool, spec.path, calib_path, out, "--bits", "8", "--group-size",
                             "0", "--act-bits", "8", "--act-calib", method)
                if check(r.returncode == 0, f"{name} --act-calib {method}: quantize "
                                            f"({r.stderr.strip()})"):
                    meta = json.loads({p.key: p.value for p in onnx.load(out).metadata_props}
                                      [METADATA_KEY])
                    scales[method] = [t["scale"] for t in meta["activation_quantization"]["tensors"]]
                    check(snr_db(ref, run_ort(out, held)) > 15.0,
                          f"{name} --act-calib {method}: runs in ORT and tracks the float model")
            if "minmax" in scales:
                check(all(all(s <= m * (1 + 1e-6) for s, m in zip(scales[k], scales["minmax"]))
                          for k in scales),
                      "clipping methods never widen the min/max range")

        # Determinism with refinement and activation quantization.
        a, b = os.path.join(tmp, "det_a.onnx"), os.path.join(tmp, "det_b.onnx")
        fl = ["--bits", "4", *extra, "--refine", "--act-bits", "8"]
        ra, rb = quantize(tool, spec.path, calib_path, a, *fl), quantize(tool, spec.path,
                                                                          calib_path, b, *fl)
        check(ra.returncode == 0 and rb.returncode == 0 and
              open(a, "rb").read() == open(b, "rb").read(), f"{name}: refine output byte-identical")


def config_cases(tool, tmp):
    spec = gen_models.build_all(os.path.join(tmp, "cfg_models"))[0]  # mlp
    rng = np.random.default_rng(3)
    calib = os.path.join(tmp, "cfg_calib.npz")
    np.savez(calib, x=correlated(rng, (32, 64)))
    out = os.path.join(tmp, "cfg.onnx")
    good = os.path.join(tmp, "good.json")
    with open(good, "w") as f:
        json.dump({"n_epochs": 2, "optimizer": {"lr": 0.01}, "rounding_type": "STE",
                   "hessian_weights_config": {"log_norm": False, "num_probes": 2},
                   "gradual_activation_quantization_config": {"q_fraction_scheduler_policy": {
                       "initial_q_fraction": 0.2, "target_q_fraction": 1.0, "start_step": 1,
                       "end_step": None}}}, f)
    r = quantize(tool, spec.path, calib, out, "--refine-config", good, "--refine-set",
                 "train_bias=false", "--act-bits", "8", "--group-size", "32")
    if check(r.returncode == 0, f"config file + --refine-set ({r.stderr.strip()})"):
        meta = json.loads({p.key: p.value for p in onnx.load(out).metadata_props}[METADATA_KEY])
        cfg = meta["refinement"]["config"]
        check(cfg["n_epochs"] == 2 and cfg["rounding_type"] == "STE" and
              cfg["train_bias"] is False and abs(cfg["optimizer"]["lr"] - 0.01) < 1e-12,
              "effective configuration recorded in metadata")
        g = meta["activation_quantization"]["tensors"][0]["gradual_activation_quantization"]
        check(abs(g["initial_q_fraction"] - 0.2) < 1e-12 and g["start_step"] == 1,
              "GAQ schedule from the config file recorded per activation pair")

    def expect_bad(flags, what, needle):
        if os.path.exists(out):
            os.remove(out)
        r = quantize(tool, spec.path, calib, out, *flags)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        check(r.returncode == 1 and not os.path.exists(out) and len(lines) == 1 and
              needle in lines[0], f"bad refine config: {what} -> exit {r.returncode} "
              f"({lines[0] if lines else 'no message'})")

    expect_bad(["--refine-set", "optimizer.lr=-1"], "negative learning rate", "optimizer.lr")
    expect_bad(["--refine-set", "no_such_setting=1"], "unknown setting", "no_such_setting")
    expect_bad(["--refine-set", "rounding_type=nearest"], "bad rounding type", "rounding_type")
    expect_bad(["--refine-epochs", "zero"], "non-numeric epochs", "n_epochs")
    bad = os.path.join(tmp, "bad.json")
    with open(bad, "w") as f:
        f.write('{"n_epochs": 3,\n "regularization_factor": "big"}\n')
    expect_bad(["--refine-config", bad], "string for a number in the file",
               "regularization_factor")
    with open(bad, "w") as f:
        f.write('{"n_epochs": 3,,}\n')
    expect_bad(["--refine-config", bad], "JSON syntax error", "bad.json")
    expect_bad(["--refine-config", os.path.join(tmp, "missing.json")], "missing file",
               "missing.json")
    with open(bad, "w") as f:
        json.dump({"gradual_activation_quantization_config": {"q_fraction_scheduler_policy": {
            "initial_q_fraction": 0.9, "target_q_fraction": 0.5}}}, f)
    expect_bad(["--refine-config", bad], "initial >= target fraction", "q_fraction")
    expect_bad(["--act-bits", "4"], "--act-bits 4", "--act-bits")
    expect_bad(["--act-bits", "8", "--act-calib", "kl"], "unknown calibration method",
               "--act-calib")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    tool = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        model_cases(tool, tmp)
        config_cases(tool, tmp)
    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
