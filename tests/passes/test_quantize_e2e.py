#!/usr/bin/env python3
"""End-to-end checks of `onnx-gptq quantize` with onnx + onnxruntime.

For the generated MLP, CNN and transformer-block models (tests/runtime/ort/gen_models.py)
at 4 and 3 bits, in QDQ and MatMulNBits formats:
  - the output model passes onnx.checker (full_check) and runs in ONNX Runtime;
  - ONNX Runtime's outputs equal our runtime's (`onnx-gptq run`) on the same quantized model
    within tolerance (the rewrite means the same thing to both);
  - on held-out data, the GPTQ model's output error against the float model is below the
    RTN model's (the point of the product);
  - the same inputs and flags give a byte-identical model (determinism).
Bad input: non-numeric options, bits out of range, empty calibration data, data that does
not match the inputs: a clear one-line error, the documented exit code, no output file.

usage: test_quantize_e2e.py ONNX_GPTQ_BINARY
Prints one line per check and 'N passed, M failed'; exits 1 on any failure.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "runtime", "ort"))
import gen_models  # noqa: E402

RTOL, ATOL = 1e-3, 1e-4  # ours vs ORT on the same quantized model (float32 reorderings)

results = {"passed": 0, "failed": 0}


def check(cond, what):
    results["passed" if cond else "failed"] += 1
    print(("PASS " if cond else "FAIL ") + what)
    return cond


def correlated(rng, shape, outliers=2):
    """Samples with correlated features along the last axis and a few outlier channels."""
    k = shape[-1]
    mix = rng.standard_normal((k, k)).astype(np.float32) / np.sqrt(k) + np.eye(k, dtype=np.float32)
    x = rng.standard_normal(shape).astype(np.float32) @ mix
    x[..., :outliers] *= 6.0
    return x.astype(np.float32)


def smooth_images(rng, n, c, h, w):
    """Spatially smooth random images (upsampled coarse noise), like natural images."""
    coarse = rng.standard_normal((n, c, h // 4, w // 4)).astype(np.float32)
    return np.repeat(np.repeat(coarse, 4, axis=2), 4, axis=3) + 0.1 * rng.standard_normal(
        (n, c, h, w)).astype(np.float32)


def make_data(name, rng, n):
    if name == "mlp":
        return {"x": correlated(rng, (n, 64))}
    if name == "cnn":
        return {"image": smooth_images(rng, n, 3, 32, 32)}
    return {"tokens": correlated(rng, (n, 16, 64))}


def run_ort(path, feeds):
    # Optimizations off: ORT's default level fuses DequantizeLinear+MatMul into MatMulNBits
    # computing with int8 activations, which is not the model's float semantics.
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


def run_ours(tool, path, feeds, tmp):
    inp = os.path.join(tmp, "in.npz")
    out = os.path.join(tmp, "out.npz")
    np.savez(inp, **feeds)
    r = subprocess.run([tool, "run", path, "--input", inp, "--output", out, "--batch-size", "64"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip()
    z = np.load(out)
    return [z[k] for k in z.files], ""


def quantize(tool, model, calib, out, *flags):
    return subprocess.run([tool, "quantize", model, "--calib", calib, "-o", out, "--quiet",
                           *flags], capture_output=True, text=True)


def dequantize_linear(x, scale, zp, axis, block):
    """DequantizeLinear per the ONNX spec (opset 21), in numpy, independent of our code."""
    x = x.astype(np.float64)
    zp = np.zeros_like(scale) if zp is None else zp.astype(np.float64)
    if block:
        scale = np.repeat(scale, block, axis=axis).take(np.arange(x.shape[axis]), axis=axis)
        zp = np.repeat(zp, block, axis=axis).take(np.arange(x.shape[axis]), axis=axis)
    elif scale.ndim == 1 and x.ndim > 1:
        shape = [1] * x.ndim
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return (x - zp) * scale


def check_rtn_weights(float_path, quant_path, tag):
    """Every RTN-quantized weight, unpacked by onnx and dequantized per the spec, lies within
    half a quantization step of the float weight: checks int4 packing, scale/zero-point
    layout, axis and block_size together."""
    from onnx import numpy_helper
    fm, qm = onnx.load(float_path), onnx.load(quant_path)
    floats = {i.name: numpy_helper.to_array(i) for i in fm.graph.initializer}
    inits = {i.name: numpy_helper.to_array(i) for i in qm.graph.initializer}
    checked = 0
    for n in qm.graph.node:
        if n.op_type != "DequantizeLinear" or n.input[0] not in inits:
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        x, scale = inits[n.input[0]], inits[n.input[1]]
        zp = inits[n.input[2]] if len(n.input) > 2 and n.input[2] else None
        deq = dequantize_linear(x, scale.astype(np.float64), zp, attrs.get("axis", 1),
                                attrs.get("block_size", 0))
        original = n.input[0][: -len("_quantized")]
        w = floats[original]
        step = dequantize_linear(np.ones_like(x), scale.astype(np.float64), np.zeros_like(zp)
                                 if zp is not None else None, attrs.get("axis", 1),
                                 attrs.get("block_size", 0))
        checked += 1
        if not np.all(np.abs(deq - w) <= 0.5 * np.abs(step) * (1 + 1e-5) + 1e-7):
            return check(False, f"{tag}: RTN weight {original} within half a step")
    return check(checked > 0, f"{tag}: {checked} RTN weights unpack (onnx) within half a step")


def mse(a, b):
    return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))


def model_cases(tool, tmp):
    specs = gen_models.build_all(os.path.join(tmp, "models"))
    by_name = {s.name: s for s in specs}
    configs = {
        "mlp": ["--group-size", "32"],
        "cnn": ["--group-size", "0"],
        "encoder": ["--group-size", "32"],
    }
    for name, extra in configs.items():
        spec = by_name[name]
        rng = np.random.default_rng(7)
        # One draw split in two: calibration and held-out rows share one distribution.
        both = make_data(name, rng, 192)
        calib = {k: v[:128] for k, v in both.items()}
        held = {k: v[128:] for k, v in both.items()}
        calib_path = os.path.join(tmp, f"{name}_calib.npz")
        np.savez(calib_path, **calib)
        ref = run_ort(spec.path, held)
        for fmt in ["qdq", "matmulnbits"]:
            if fmt == "matmulnbits" and name == "cnn":
                continue
            for bits in ([4, 3] if fmt == "qdq" else [4]):
                errs = {}
                for method in ["gptq", "rtn"]:
                    out = os.path.join(tmp, f"{name}_{fmt}_{bits}_{method}.onnx")
                    flags = ["--bits", str(bits), "--method", method, "--format", fmt, *extra]
                    tag = f"{name} {fmt} w{bits} {method}"
                    r = quantize(tool, spec.path, calib_path, out, *flags)
                    if not check(r.returncode == 0, f"{tag}: quantize ({r.stderr.strip()})"):
                        continue
                    m = onnx.load(out)
                    try:
                        onnx.checker.check_model(m, full_check=True)
                        ok = True
                    except Exception as e:  # noqa: BLE001
                        ok = False
                        print("   ", e)
                    check(ok, f"{tag}: onnx.checker full_check")
                    ops = {n.op_type for n in m.graph.node}
                    want = "MatMulNBits" if fmt == "matmulnbits" else "DequantizeLinear"
                    check(want in ops, f"{tag}: graph has {want}")
                    try:
                        got = run_ort(out, held)
                    except Exception as e:  # noqa: BLE001
                        check(False, f"{tag}: ONNX Runtime runs it ({e})")
                        continue
                    check(True, f"{tag}: ONNX Runtime runs it")
                    ours, why = run_ours(tool, out, held, tmp)
                    if ours is None:
                        check(False, f"{tag}: our runtime runs it ({why})")
                    else:
                        same = all(np.allclose(a, b, rtol=RTOL, atol=ATOL * max(1.0, np.abs(b).max()))
                                   for a, b in zip(ours, got))
                        check(same, f"{tag}: our runtime matches ONNX Runtime")
                    errs[method] = sum(mse(a, b) for a, b in zip(got, ref))
                    if method == "rtn" and fmt == "qdq":
                        check_rtn_weights(spec.path, out, tag)
                if len(errs) == 2:
                    print(f"    {name} {fmt} w{bits}: output MSE vs float  gptq {errs['gptq']:.4g}"
                          f"  rtn {errs['rtn']:.4g}")
                    check(errs["gptq"] < errs["rtn"],
                          f"{name} {fmt} w{bits}: GPTQ error below RTN on held-out data")
        # Act-order with static groups in QDQ; act-order with g_idx in MatMulNBits.
        if name != "cnn":
            for fmt in ["qdq", "matmulnbits"]:
                out = os.path.join(tmp, f"{name}_{fmt}_actorder.onnx")
                r = quantize(tool, spec.path, calib_path, out, "--act-order", "--format", fmt,
                             *extra)
                if check(r.returncode == 0, f"{name} {fmt} act-order: quantize ({r.stderr.strip()})"):
                    got = run_ort(out, held)
                    ours, why = run_ours(tool, out, held, tmp)
                    check(ours is not None and all(
                        np.allclose(a, b, rtol=RTOL, atol=ATOL * max(1.0, np.abs(b).max()))
                        for a, b in zip(ours, got)), f"{name} {fmt} act-order: ours == ORT {why}")
        # Determinism: the same flags twice give the same bytes.
        a, b = os.path.join(tmp, "det_a.onnx"), os.path.join(tmp, "det_b.onnx")
        ra = quantize(tool, spec.path, calib_path, a, *extra)
        rb = quantize(tool, spec.path, calib_path, b, *extra)
        check(ra.returncode == 0 and rb.returncode == 0 and
              open(a, "rb").read() == open(b, "rb").read(), f"{name}: byte-identical output")


def bad_input_cases(tool, tmp):
    spec = gen_models.build_all(os.path.join(tmp, "bad_models"))[0]  # mlp
    rng = np.random.default_rng(1)
    good = os.path.join(tmp, "good.npz")
    np.savez(good, x=correlated(rng, (16, 64)))
    out = os.path.join(tmp, "never.onnx")

    def expect(code, flags, calib, what):
        if os.path.exists(out):
            os.remove(out)
        r = quantize(tool, spec.path, calib, out, *flags)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        ok = r.returncode == code and not os.path.exists(out) and len(lines) >= 1 and \
            lines[0].startswith("onnx-gptq: error:")
        leftovers = [f for f in os.listdir(tmp) if ".tmp-" in f]
        check(ok and not leftovers, f"bad input: {what} -> exit {r.returncode} "
              f"({lines[0] if lines else 'no message'})")

    expect(1, ["--bits", "four"], good, "non-numeric --bits")
    expect(1, ["--bits", "9"], good, "bits out of range")
    expect(1, ["--group-size", "-3"], good, "negative group size")
    expect(1, ["--damp", "x"], good, "non-numeric --damp")
    expect(1, ["--format", "matmulnbits", "--bits", "3"], good, "matmulnbits with 3 bits")
    expect(1, ["--format", "matmulnbits", "--group-size", "24"], good,
           "matmulnbits group size not a power of two")
    empty = os.path.join(tmp, "empty.npz")
    np.savez(empty, x=np.zeros((0, 64), np.float32))
    expect(2, [], empty, "empty calibration data")
    wrong_name = os.path.join(tmp, "wrong_name.npz")
    np.savez(wrong_name, y=correlated(rng, (4, 64)))
    expect(2, [], wrong_name, "calibration data missing the input")
    wrong_shape = os.path.join(tmp, "wrong_shape.npz")
    np.savez(wrong_shape, x=correlated(rng, (4, 63)))
    expect(2, [], wrong_shape, "calibration data of the wrong shape")
    wrong_dtype = os.path.join(tmp, "wrong_dtype.npz")
    np.savez(wrong_dtype, x=correlated(rng, (4, 64)).astype(np.float64))
    expect(2, [], wrong_dtype, "calibration data of the wrong dtype")
    # Group size that does not divide K: the last block is partial, and it still runs.
    odd = os.path.join(tmp, "odd_group.onnx")
    r = quantize(tool, spec.path, good, odd, "--group-size", "48")
    check(r.returncode == 0 and run_ort(odd, {"x": correlated(rng, (3, 64))}) is not None,
          "group size not dividing K: partial last block runs in ORT")


def main():
    if len(sys.argv) != 2:
        print("usage: test_quantize_e2e.py ONNX_GPTQ", file=sys.stderr)
        return 2
    tool = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        model_cases(tool, tmp)
        bad_input_cases(tool, tmp)
    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
