#!/usr/bin/env python3
"""`onnx-gptq eval`: metrics checked against numpy references, plus error cases.

Usage: test_eval.py PATH/TO/onnx-gptq
Models are built with onnx.helper; reference outputs come from onnxruntime (or a numpy
forward pass when onnxruntime is missing) and every metric is recomputed in float64
numpy. Prints one line per test and 'N passed, M failed'; exits 1 on any failure, 77
(skip) without numpy/onnx.
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import traceback

SKIP = 77

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:  # pragma: no cover
    print(f"skipped: {e}")
    sys.exit(SKIP)

try:
    import onnxruntime as ort
except ImportError:  # pragma: no cover
    ort = None

CLI = None
TMP = None
RTOL = 1e-4
TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def run(*args):
    p = subprocess.run([CLI, "eval", *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def run_json(*args):
    rc, out, err = run(*args, "--json")
    assert rc == 0, f"exit {rc}: {err!r}"
    return json.loads(out)


def expect_error(args, code, needle):
    rc, out, err = run(*args)
    assert rc == code, f"exit {rc}, expected {code}; stderr: {err!r}"
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert lines[0].startswith("onnx-gptq: error: "), lines[0]
    assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    assert out == "", f"unexpected stdout {out!r}"


def close(got, want, what):
    assert got is not None, f"{what}: got null, want {want}"
    assert math.isclose(got, want, rel_tol=RTOL, abs_tol=1e-12), f"{what}: got {got}, want {want}"


# ---- models ----

RNG = np.random.default_rng(1234)
N_CLS, D_IN, D_HID, C = 37, 16, 32, 5
W1 = RNG.standard_normal((D_IN, D_HID)).astype(np.float32) * 0.5
B1 = RNG.standard_normal(D_HID).astype(np.float32) * 0.1
W2 = RNG.standard_normal((D_HID, C)).astype(np.float32) * 0.5
NOISE = 0.05


def perturb(w, seed):
    r = np.random.default_rng(seed)
    return (w + NOISE * r.standard_normal(w.shape)).astype(np.float32)


def classifier(w1, b1, w2, out_name="logits", in_name="x"):
    nodes = [
        helper.make_node("MatMul", [in_name, "W1"], ["mm1"]),
        helper.make_node("Add", ["mm1", "B1"], ["pre"]),
        helper.make_node("Relu", ["pre"], ["hidden"]),
        helper.make_node("MatMul", ["hidden", "W2"], [out_name]),
    ]
    g = helper.make_graph(
        nodes, "cls",
        [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, ["N", D_IN])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["N", C]),
         helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["N", D_HID])],
        [numpy_helper.from_array(w1, "W1"), numpy_helper.from_array(b1, "B1"),
         numpy_helper.from_array(w2, "W2")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


V, D_EMB, B_LM, T_LM = 11, 8, 6, 7
EMB = RNG.standard_normal((V, D_EMB)).astype(np.float32)
WLM = RNG.standard_normal((D_EMB, V)).astype(np.float32) * 0.7


def tiny_lm(emb, w):
    nodes = [
        helper.make_node("Gather", ["E", "ids"], ["h"]),
        helper.make_node("MatMul", ["h", "W"], ["logits"]),
    ]
    g = helper.make_graph(
        nodes, "lm",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["B", "T"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", "T", V])],
        [numpy_helper.from_array(emb, "E"), numpy_helper.from_array(w, "W")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def save(model, name):
    onnx.checker.check_model(model)
    path = os.path.join(TMP, name)
    onnx.save(model, path)
    return path


def forward(path, feeds):
    if ort is not None:
        s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        names = [o.name for o in s.get_outputs()]
        return dict(zip(names, s.run(None, feeds)))
    m = onnx.load(path)  # numpy fallback for the two models of this file
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    if "ids" in feeds:
        return {"logits": init["E"][feeds["ids"]] @ init["W"]}
    x = next(iter(feeds.values()))
    hid = np.maximum(x @ init["W1"] + init["B1"], 0)
    return {m.graph.output[0].name: hid @ init["W2"], "hidden": hid}


def ref_metrics(t, s):
    t = t.astype(np.float64).ravel()
    s = s.astype(np.float64).ravel()
    d = t - s
    return {
        "snr_db": 10 * math.log10(np.sum(t * t) / np.sum(d * d)),
        "cosine": float(np.dot(t, s) / (np.linalg.norm(t) * np.linalg.norm(s))),
        "max_abs_error": float(np.max(np.abs(d))),
    }


def top1(t, s):
    return float(np.mean(np.argmax(t, -1) == np.argmax(s, -1)))


def log_softmax(z):
    z = z.astype(np.float64)
    m = z.max(-1, keepdims=True)
    return z - m - np.log(np.sum(np.exp(z - m), -1, keepdims=True))


def ppl(logits, ids):
    lp = log_softmax(logits[:, :-1, :])
    tgt = ids[:, 1:]
    nll = -np.take_along_axis(lp, tgt[..., None], -1)[..., 0]
    return float(np.exp(nll.mean()))


def check_outputs(res, tref, sref, names):
    got = {o["name"]: o for o in res["outputs"]}
    assert sorted(got) == sorted(names), got.keys()
    for n in names:
        want = ref_metrics(tref[n], sref[n])
        for k, v in want.items():
            close(got[n][k], v, f"{n}.{k}")
        assert got[n]["exact_match"] is False
        assert got[n]["elements"] == tref[n].size, (got[n]["elements"], tref[n].size)
        assert got[n]["nonfinite"] == 0
        close(got[n]["top1_agreement"], top1(tref[n], sref[n]), f"{n}.top1")
        assert got[n]["top1_positions"] == tref[n].size // tref[n].shape[-1]


# ---- fixtures ----

X = RNG.standard_normal((N_CLS, D_IN)).astype(np.float32)
IDS = RNG.integers(0, V, size=(B_LM, T_LM)).astype(np.int64)
PATHS = {}


def setup():
    PATHS["teacher"] = save(classifier(W1, B1, W2), "teacher.onnx")
    PATHS["student"] = save(classifier(perturb(W1, 1), B1, perturb(W2, 2)), "student.onnx")
    PATHS["renamed"] = save(classifier(W1, B1, W2, out_name="scores"), "renamed.onnx")
    PATHS["other_in"] = save(classifier(W1, B1, W2, in_name="input"), "other_in.onnx")
    PATHS["lm_t"] = save(tiny_lm(EMB, WLM), "lm_t.onnx")
    PATHS["lm_s"] = save(tiny_lm(EMB, perturb(WLM, 3)), "lm_s.onnx")
    # Embedding rows beyond the vocabulary of the logits: ids >= V run but cannot be targets.
    big = np.concatenate([EMB, EMB[:3]])
    PATHS["lm_big_t"] = save(tiny_lm(big, WLM), "lm_big_t.onnx")
    PATHS["lm_big_s"] = save(tiny_lm(big, perturb(WLM, 3)), "lm_big_s.onnx")
    PATHS["data"] = os.path.join(TMP, "data.npz")
    np.savez(PATHS["data"], x=X)
    PATHS["lm_data"] = os.path.join(TMP, "lm.npz")
    np.savez(PATHS["lm_data"], ids=IDS)
    t = forward(PATHS["teacher"], {"x": X})
    # Labels: the teacher's argmax with every third one changed, so accuracy < 1.
    lab = np.argmax(t["logits"], -1).astype(np.int64)
    lab[::3] = (lab[::3] + 1) % C
    PATHS["labels"] = os.path.join(TMP, "labels.npy")
    np.save(PATHS["labels"], lab)
    PATHS["labels32"] = os.path.join(TMP, "labels32.npy")
    np.save(PATHS["labels32"], lab.astype(np.int32))
    PATHS["labels_short"] = os.path.join(TMP, "labels_short.npy")
    np.save(PATHS["labels_short"], lab[:-1])
    PATHS["labels_float"] = os.path.join(TMP, "labels_float.npy")
    np.save(PATHS["labels_float"], lab.astype(np.float32))
    lm_lab = RNG.integers(0, V, size=(B_LM, T_LM)).astype(np.int64)
    lm_lab[0, :3] = -100  # ignored
    PATHS["lm_labels"] = os.path.join(TMP, "lm_labels.npy")
    np.save(PATHS["lm_labels"], lm_lab)
    PATHS["bad_ids"] = os.path.join(TMP, "bad_ids.npz")
    np.savez(PATHS["bad_ids"], ids=np.full((2, 3), V, dtype=np.int64))
    return lab, lm_lab


LABELS = None
LM_LABELS = None


# ---- tests ----

@test
def classifier_metrics():
    res = run_json(PATHS["student"], "--teacher", PATHS["teacher"], "--data", PATHS["data"],
                   "--batch-size", "8")
    assert res["samples"] == N_CLS and res["batches"] == 5, (res["samples"], res["batches"])
    assert res["accuracy"] is None and res["perplexity"] is None
    t = forward(PATHS["teacher"], {"x": X})
    s = forward(PATHS["student"], {"x": X})
    check_outputs(res, t, s, ["logits", "hidden"])


@test
def classifier_accuracy():
    for lab_path in (PATHS["labels"], PATHS["labels32"]):
        res = run_json(PATHS["student"], "--teacher", PATHS["teacher"], "--data", PATHS["data"],
                       "--labels", lab_path, "--batch-size", "5")
        t = forward(PATHS["teacher"], {"x": X})["logits"]
        s = forward(PATHS["student"], {"x": X})["logits"]
        acc = res["accuracy"]
        assert acc["output"] == "logits" and acc["labels"] == N_CLS, acc
        close(acc["teacher"], float(np.mean(np.argmax(t, -1) == LABELS)), "teacher acc")
        close(acc["student"], float(np.mean(np.argmax(s, -1) == LABELS)), "student acc")


@test
def samples_cap_uses_first_labels():
    res = run_json(PATHS["student"], "--teacher", PATHS["teacher"], "--data", PATHS["data"],
                   "--labels", PATHS["labels"], "--samples", "10", "--batch-size", "3")
    assert res["samples"] == 10
    t = forward(PATHS["teacher"], {"x": X[:10]})
    s = forward(PATHS["student"], {"x": X[:10]})
    check_outputs(res, t, s, ["logits", "hidden"])
    close(res["accuracy"]["teacher"],
          float(np.mean(np.argmax(t["logits"], -1) == LABELS[:10])), "teacher acc")


@test
def identical_models():
    res = run_json(PATHS["teacher"], "--teacher", PATHS["teacher"], "--data", PATHS["data"])
    for o in res["outputs"]:
        assert o["snr_db"] is None and o["exact_match"] is True, o
        assert o["cosine"] == 1.0 and o["max_abs_error"] == 0.0, o
        assert o["top1_agreement"] == 1.0, o
    rc, out, err = run(PATHS["teacher"], "--teacher", PATHS["teacher"], "--data", PATHS["data"])
    assert rc == 0 and " inf " in out, out


@test
def lm_perplexity():
    res = run_json(PATHS["lm_s"], "--teacher", PATHS["lm_t"], "--data", PATHS["lm_data"], "--lm",
                   "--batch-size", "4", "--labels", PATHS["lm_labels"])
    t = forward(PATHS["lm_t"], {"ids": IDS})["logits"]
    s = forward(PATHS["lm_s"], {"ids": IDS})["logits"]
    p = res["perplexity"]
    assert p["output"] == "logits" and p["tokens"] == B_LM * (T_LM - 1), p
    close(p["teacher"], ppl(t, IDS), "teacher ppl")
    close(p["student"], ppl(s, IDS), "student ppl")
    check_outputs(res, {"logits": t}, {"logits": s}, ["logits"])
    keep = LM_LABELS >= 0
    acc = res["accuracy"]
    assert acc["labels"] == int(keep.sum()), acc
    close(acc["teacher"], float(np.mean((np.argmax(t, -1) == LM_LABELS)[keep])), "lm acc t")
    close(acc["student"], float(np.mean((np.argmax(s, -1) == LM_LABELS)[keep])), "lm acc s")


@test
def text_table():
    rc, out, err = run(PATHS["student"], "--teacher", PATHS["teacher"], "--data", PATHS["data"],
                       "--labels", PATHS["labels"])
    assert rc == 0, err
    assert "snr_db" in out and "cosine" in out and "logits" in out and "accuracy" in out, out
    rc, out, err = run(PATHS["lm_s"], "--teacher", PATHS["lm_t"], "--data", PATHS["lm_data"],
                       "--lm")
    assert rc == 0 and "perplexity" in out, (out, err)


@test
def help_text():
    rc, out, err = run("--help")
    assert rc == 0 and "--teacher" in out and "snr_db" in out and err == ""


@test
def error_output_names():
    expect_error([PATHS["renamed"], "--teacher", PATHS["teacher"], "--data", PATHS["data"]], 2,
                 "output")


@test
def error_input_names():
    expect_error([PATHS["other_in"], "--teacher", PATHS["teacher"], "--data", PATHS["data"]], 2,
                 "input")


@test
def error_labels_length():
    expect_error([PATHS["student"], "--teacher", PATHS["teacher"], "--data", PATHS["data"],
                  "--labels", PATHS["labels_short"]], 2, "labels")


@test
def error_labels_dtype():
    expect_error([PATHS["student"], "--teacher", PATHS["teacher"], "--data", PATHS["data"],
                  "--labels", PATHS["labels_float"]], 2, "int64")


@test
def error_lm_without_int_input():
    expect_error([PATHS["student"], "--teacher", PATHS["teacher"], "--data", PATHS["data"],
                  "--lm"], 2, "int64")


@test
def error_token_out_of_range():
    expect_error([PATHS["lm_big_s"], "--teacher", PATHS["lm_big_t"], "--data", PATHS["bad_ids"],
                  "--lm"], 2, "token id 11 is out of range")


@test
def error_usage():
    expect_error([PATHS["student"], "--data", PATHS["data"]], 1, "--teacher")
    expect_error([PATHS["student"], "--teacher", PATHS["teacher"]], 1, "--data")
    expect_error([PATHS["student"], "--teacher", PATHS["teacher"], "--data", PATHS["data"],
                  "--batch-size", "2x"], 1, "--batch-size")
    expect_error([PATHS["student"], "--teacher", PATHS["teacher"], "--data", PATHS["data"],
                  "--bogus"], 1, "--bogus")
    expect_error([], 1, "QUANT")


@test
def error_missing_model():
    expect_error([os.path.join(TMP, "nope.onnx"), "--teacher", PATHS["teacher"], "--data",
                  PATHS["data"]], 2, "nope.onnx")


def main():
    global CLI, TMP, LABELS, LM_LABELS
    if len(sys.argv) != 2:
        print("usage: test_eval.py PATH/TO/onnx-gptq", file=sys.stderr)
        return 2
    CLI = sys.argv[1]
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        TMP = tmp
        try:
            LABELS, LM_LABELS = setup()
        except Exception:  # noqa: BLE001
            traceback.print_exc(file=sys.stdout)
            print("0 passed, 1 failed")
            return 1
        for fn in TESTS:
            try:
                fn()
                print(f"ok   {fn.__name__}")
                passed += 1
            except Exception:  # noqa: BLE001 — report and continue
                print(f"FAIL {fn.__name__}")
                traceback.print_exc(file=sys.stdout)
                failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
