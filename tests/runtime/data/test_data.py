#!/usr/bin/env python3
"""test_data.py — numpy interop of the .npy/.npz reader/writer and the calibration data
layouts, through `onnx-gptq run`.

Files are written WITH NUMPY (np.save, np.savez, np.savez_compressed) and fed to tiny
models built with onnx.helper (Add of a zero initializer, or a graph whose output is its
input); the .npz that `run --output` writes is read back with numpy and compared
bit-exactly. Also checks the three folder layouts and the error messages / exit codes.

usage: test_data.py PATH/TO/onnx-gptq
Prints 'N passed, M failed' and exits non-zero on failure.
"""
import io
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
import zipfile

try:
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper, TensorProto
except ImportError as e:  # pragma: no cover
    print(f"skipping: {e}")
    sys.exit(77)

EXE = sys.argv[1] if len(sys.argv) > 1 else "onnx-gptq"
TMP = tempfile.mkdtemp(prefix="ogq-data-")
RESULTS = {"passed": 0, "failed": 0}

NP_TO_ONNX = {
    np.dtype("float32"): TensorProto.FLOAT,
    np.dtype("float64"): TensorProto.DOUBLE,
    np.dtype("float16"): TensorProto.FLOAT16,
    np.dtype("int64"): TensorProto.INT64,
    np.dtype("int32"): TensorProto.INT32,
    np.dtype("int8"): TensorProto.INT8,
    np.dtype("uint8"): TensorProto.UINT8,
    np.dtype("bool"): TensorProto.BOOL,
}


def path(*parts):
    return os.path.join(TMP, *parts)


def save_model(graph, name, opset=13):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="test_data.py")
    m.ir_version = 8
    onnx.checker.check_model(m)
    p = path(name)
    onnx.save(m, p)
    return p


def add_model(name, dtype, shape, inputs=("x",), out="y"):
    """y = x (+ y2 ...) + 0, with a zero initializer of the input dtype."""
    et = NP_TO_ONNX[np.dtype(dtype)]
    ins = [helper.make_tensor_value_info(n, et, shape) for n in inputs]
    zero = numpy_helper.from_array(np.zeros((), dtype=dtype), "zero")
    nodes, cur = [], inputs[0]
    for i, n in enumerate(inputs[1:]):
        nodes.append(helper.make_node("Add", [cur, n], [f"s{i}"]))
        cur = f"s{i}"
    nodes.append(helper.make_node("Add", [cur, "zero"], [out]))
    outs = [helper.make_tensor_value_info(out, et, shape)]
    g = helper.make_graph(nodes, "add", ins, outs, initializer=[zero])
    return save_model(g, name)


def pass_model(name, dtype, shape):
    """A graph with no nodes whose output is its input (for dtypes Add does not take)."""
    et = NP_TO_ONNX[np.dtype(dtype)]
    vi = helper.make_tensor_value_info("x", et, shape)
    g = helper.make_graph([], "pass", [vi], [vi])
    return save_model(g, name)


def run(model, data, *extra, output=True):
    out = path("out.npz")
    if os.path.exists(out):
        os.remove(out)
    cmd = [EXE, "run", model, "--input", data] + list(extra)
    if output:
        cmd += ["--output", out]
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p, out


def run_ok(model, data, *extra):
    p, out = run(model, data, *extra)
    if p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}: {p.stderr.strip()}")
    with np.load(out) as z:
        return {k: z[k] for k in z.files}, p


def same(a, b, what=""):
    a = np.asarray(a)
    b = np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
        raise AssertionError(f"{what}: got {a.dtype}{a.shape}, want {b.dtype}{b.shape}"
                             f"{'' if a.shape != b.shape else ' (bytes differ)'}")


def check(name, fn):
    try:
        fn()
        RESULTS["passed"] += 1
        print(f"PASS {name}")
    except Exception as e:  # noqa: BLE001 - report and go on
        RESULTS["failed"] += 1
        print(f"FAIL {name}: {e}")
        if os.environ.get("VERBOSE"):
            traceback.print_exc()


def expect_error(model, data, needles, code=2, *extra):
    p, _ = run(model, data, *extra)
    if p.returncode != code:
        raise AssertionError(f"exit {p.returncode} (want {code}): {p.stderr.strip()}")
    err = p.stderr.strip()
    if "\n" in err or not err.startswith("onnx-gptq: error: "):
        raise AssertionError(f"not a one-line error: {err!r}")
    for n in needles:
        if n not in err:
            raise AssertionError(f"{n!r} not in {err!r}")


RNG = np.random.default_rng(1234)


def sample(dtype, shape):
    dt = np.dtype(dtype)
    if dt == np.float64:  # the runtime computes in float32: use float32-exact values
        return RNG.standard_normal(shape).astype(np.float32).astype(np.float64)
    if dt.kind == "f":
        return RNG.standard_normal(shape).astype(dt)
    if dt == np.bool_:
        return RNG.integers(0, 2, shape).astype(bool)
    info = np.iinfo(dt)
    return RNG.integers(info.min, info.max, shape, dtype=dt, endpoint=True)


# ---------------------------------------------------------------- dtypes and writers

ADD_DTYPES = ["float32", "float64", "float16", "int64", "int32"]
PASS_DTYPES = ["uint8", "bool", "int8", "float32", "int64"]


def t_dtype_writers(dtype, use_add):
    def fn():
        model = (add_model if use_add else pass_model)(f"m_{dtype}_{use_add}.onnx", dtype,
                                                       ["N", 3, 4])
        x = sample(dtype, (7, 3, 4))
        key = "y" if use_add else "x"
        np.save(path("x.npy"), x)
        got, _ = run_ok(model, path("x.npy"), "--batch-size", "3")
        same(got[key], x, "np.save")
        np.savez(path("x.npz"), x=x)
        got, _ = run_ok(model, path("x.npz"))
        same(got[key], x, "np.savez")
        np.savez_compressed(path("xc.npz"), x=x)
        got, _ = run_ok(model, path("xc.npz"), "--batch-size", "7")
        same(got[key], x, "np.savez_compressed")
    return fn


def t_scalar():
    for dtype in ["float32", "int64"]:
        model = add_model(f"scalar_{dtype}.onnx", dtype, [])
        x = np.array(3.5 if dtype == "float32" else -7, dtype=dtype)
        np.save(path("s.npy"), x)
        got, _ = run_ok(model, path("s.npy"))
        same(got["y"], x, "0-D np.save")
        np.savez_compressed(path("s.npz"), x=x)
        got, _ = run_ok(model, path("s.npz"))
        same(got["y"], x, "0-D savez_compressed")
    # a stack of scalars for a scalar input: one per run, stacked back into a vector
    v = np.arange(5, dtype=np.float32)
    np.save(path("s.npy"), v)
    got, p = run_ok(path("scalar_float32.onnx"), path("s.npy"), "--batch-size", "2")
    same(got["y"], v, "stacked scalars")
    if "changed to 1" not in p.stderr:
        raise AssertionError(f"no batch-size note: {p.stderr!r}")


def t_empty():
    model = add_model("empty.onnx", "float32", ["N", 0])
    x = np.zeros((3, 0), dtype=np.float32)
    np.savez(path("e.npz"), x=x)
    got, _ = run_ok(model, path("e.npz"), "--batch-size", "2")
    same(got["y"], x, "empty rows")
    np.savez(path("e0.npz"), x=np.zeros((0, 0), dtype=np.float32))
    expect_error(model, path("e0.npz"), ["input 'x': no samples"])


def t_large():
    model = add_model("large.onnx", "float32", ["N", 1000, 100])
    x = RNG.standard_normal((48, 1000, 100)).astype(np.float32)  # 19 MB
    np.save(path("big.npy"), x)
    got, _ = run_ok(model, path("big.npy"), "--batch-size", "5")
    same(got["y"], x, "large np.save")
    np.savez_compressed(path("big.npz"), x=x)
    got, _ = run_ok(model, path("big.npz"), "--batch-size", "16", "--threads", "2")
    same(got["y"], x, "large savez_compressed")
    got, _ = run_ok(model, path("big.npz"), "--samples", "9", "--batch-size", "4")
    same(got["y"], x[:9], "--samples")


def t_layout_variants():
    model = add_model("var.onnx", "float32", ["N", 3, 4])
    x = sample("float32", (5, 3, 4))
    np.save(path("f.npy"), np.asfortranarray(x))
    got, _ = run_ok(model, path("f.npy"))
    same(got["y"], x, "fortran_order")
    np.save(path("be.npy"), x.astype(">f4"))
    got, _ = run_ok(model, path("be.npy"), "--batch-size", "2")
    same(got["y"], x, "big-endian")
    # a stack of complete inputs for a fixed-shape model: [5, 1, 3, 4] for [1, 3, 4]
    fixed = add_model("fixed.onnx", "float32", [1, 3, 4])
    np.save(path("st.npy"), x[:, None])
    got, _ = run_ok(fixed, path("st.npy"))
    same(got["y"], x, "stack for fixed batch 1")
    # batches for a fixed batch of 1: one sample at a time
    np.save(path("rows.npy"), x)
    got, p = run_ok(fixed, path("rows.npy"), "--batch-size", "4")
    same(got["y"], x, "rows for fixed batch 1")
    if "changed to 1" not in p.stderr:
        raise AssertionError(f"no batch-size note: {p.stderr!r}")


def t_float16_output_dtype():
    model = add_model("h.onnx", "float16", ["N", 8])
    x = np.array([[0.1, 65504, -65504, 6e-8, 1e-4, 1.5, -2.25, 1000]], dtype=np.float16)
    np.save(path("h.npy"), x)
    got, _ = run_ok(model, path("h.npy"))
    same(got["y"], x, "float16 round trip")


class NoSeek:
    """A write-only stream that cannot seek: zipfile then writes data descriptors."""

    def __init__(self, f):
        self.f = f

    def write(self, b):
        return self.f.write(b)

    def tell(self):
        return self.f.tell()

    def seek(self, *a):
        raise OSError("not seekable")

    def flush(self):
        self.f.flush()


def t_zipfile_variants():
    model = add_model("zv.onnx", "float32", ["N", 3])
    x = sample("float32", (4, 3))
    buf = io.BytesIO()
    np.save(buf, x)
    data = buf.getvalue()
    p = path("zv.npz")
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.comment = b"an archive comment"
        with zf.open("x.npy", "w", force_zip64=True) as f:
            f.write(data)
        zf.writestr("notes.txt", "not an array")
    got, _ = run_ok(model, p)
    same(got["y"], x, "zip64 local header, comment, extra member")
    with open(path("dd.npz"), "wb") as raw:
        with zipfile.ZipFile(NoSeek(raw), "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr("x.npy", data)
    got, _ = run_ok(model, path("dd.npz"))
    same(got["y"], x, "data descriptors")
    for method, num in [(zipfile.ZIP_BZIP2, 12), (zipfile.ZIP_LZMA, 14)]:
        with zipfile.ZipFile(path("m.npz"), "w", compression=method) as zf:
            zf.writestr("x.npy", data)
        expect_error(model, path("m.npz"), ["m.npz", "member 'x.npy'",
                                            f"compression method {num}"])


# ---------------------------------------------------------------- folder layouts

def two_input_model():
    return add_model("two.onnx", "float32", ["N", 2], inputs=("a", "b"), out="sum")


def t_npz_keys():
    model = two_input_model()
    a, b = sample("float32", (6, 2)), sample("float32", (6, 2))
    np.savez(path("ab.npz"), b=b, labels=np.arange(3), a=a)
    got, p = run_ok(model, path("ab.npz"), "--batch-size", "4")
    same(got["sum"], a + b, "npz keys")
    if "labels" not in p.stderr or "note" not in p.stderr:
        raise AssertionError(f"no note about the ignored key: {p.stderr!r}")


def t_npy_folder():
    model = two_input_model()
    d = path("npydir")
    os.makedirs(d, exist_ok=True)
    a, b = sample("float32", (4, 2)), sample("float32", (4, 2))
    np.save(os.path.join(d, "a.npy"), a)
    np.save(os.path.join(d, "b.npy"), b)
    got, _ = run_ok(model, d, "--batch-size", "3")
    same(got["sum"], a + b, "npy folder")


def write_set(d, arrays):
    os.makedirs(d, exist_ok=True)
    for i, arr in enumerate(arrays):
        with open(os.path.join(d, f"input_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(arr, f"t{i}").SerializeToString())


def t_test_data_sets():
    model = two_input_model()
    d = path("sets")
    want = []
    for k in [0, 1, 2, 10]:  # numeric order, not 0, 1, 10, 2
        a, b = sample("float32", (1, 2)), sample("float32", (1, 2))
        write_set(os.path.join(d, f"test_data_set_{k}"), [a, b])
        want.append(a + b)
    got, _ = run_ok(model, d, "--batch-size", "3")
    same(got["sum"], np.concatenate(want), "test_data_set_N folders")
    got, _ = run_ok(model, os.path.join(d, "test_data_set_2"))
    same(got["sum"], want[2], "single test_data_set")


def t_real_model_test_data():
    shared = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..",
                          "shared", "real-models", "mnist-conv")
    if not os.path.isdir(shared):
        return
    p, _ = run(os.path.join(shared, "model.onnx"), shared, output=False)
    # The runtime may not support every op of this model yet: only a clean outcome counts.
    if p.returncode not in (0, 2):
        raise AssertionError(f"exit {p.returncode}: {p.stderr}")
    if p.returncode == 2 and "unsupported" not in p.stderr:
        raise AssertionError(p.stderr)


# ---------------------------------------------------------------- errors

def t_errors():
    model = two_input_model()
    a = sample("float32", (3, 2))
    np.savez(path("only_a.npz"), a=a, extra=a)
    expect_error(model, path("only_a.npz"), ["no array for input 'b'", "'a'", "'extra'"])
    np.savez(path("f64.npz"), a=a.astype(np.float64), b=a)
    expect_error(model, path("f64.npz"), ["input 'a'", "expected dtype float32, got float64"])
    np.savez(path("shape.npz"), a=a, b=np.zeros((3, 5), np.float32))
    expect_error(model, path("shape.npz"), ["input 'b'", "expected shape [N,2]", "got [3,5]"])
    np.savez(path("count.npz"), a=a, b=np.zeros((4, 2), np.float32))
    expect_error(model, path("count.npz"), ["samples"])
    np.savez(path("obj.npz"), a=np.array([{}, 1], dtype=object), b=a)
    expect_error(model, path("obj.npz"), ["member 'a.npy'", "unsupported .npy dtype '|O'"])
    d = path("badset")
    write_set(os.path.join(d, "test_data_set_0"), [a])
    expect_error(model, d, ["no input_1.pb for input 'b'"])
    with open(path("junk.npz"), "wb") as f:
        f.write(b"PK\x03\x04 this is not a zip archive at all")
    expect_error(model, path("junk.npz"), ["junk.npz", "not a zip archive"])
    expect_error(model, path("does-not-exist.npz"), ["does-not-exist.npz"])
    with open(path("bad.onnx"), "wb") as f:
        f.write(b"\xff\xff\xff garbage")
    expect_error(path("bad.onnx"), path("only_a.npz"), ["bad.onnx"])
    # usage errors: exit 1
    p = subprocess.run([EXE, "run", model], capture_output=True, text=True)
    if p.returncode != 1 or "--input" not in p.stderr:
        raise AssertionError(f"missing --input: exit {p.returncode}: {p.stderr}")
    p = subprocess.run([EXE, "run", model, "--input", path("only_a.npz"), "--batch-size", "0"],
                       capture_output=True, text=True)
    if p.returncode != 1:
        raise AssertionError(f"--batch-size 0: exit {p.returncode}")
    p = subprocess.run([EXE, "run", "--help"], capture_output=True, text=True)
    if p.returncode != 0 or "--output" not in p.stdout:
        raise AssertionError("--help")


def t_summary():
    model = add_model("sum.onnx", "float32", ["N", 2])
    x = np.array([[1, 2], [3, -4]], dtype=np.float32)
    np.save(path("sum.npy"), x)
    p, _ = run(model, path("sum.npy"), output=False)
    if p.returncode != 0:
        raise AssertionError(p.stderr)
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("y ")]
    if not line or "float32" not in line[0] or "[2,2]" not in line[0] or "min=-4" not in line[0] \
            or "max=3" not in line[0] or "mean=0.5" not in line[0]:
        raise AssertionError(f"summary: {p.stdout!r}")


def main():
    for dt in ADD_DTYPES:
        check(f"add {dt} np.save/savez/savez_compressed", t_dtype_writers(dt, True))
    for dt in PASS_DTYPES:
        check(f"passthrough {dt} np.save/savez/savez_compressed", t_dtype_writers(dt, False))
    check("0-D arrays", t_scalar)
    check("empty arrays", t_empty)
    check("large arrays", t_large)
    check("fortran order, big-endian, stacks, fixed batch", t_layout_variants)
    check("float16 output dtype", t_float16_output_dtype)
    check("zipfile variants (zip64, descriptors, other methods)", t_zipfile_variants)
    check("npz keyed by input name", t_npz_keys)
    check("folder of <input>.npy", t_npy_folder)
    check("test_data_set_N folders", t_test_data_sets)
    check("real model test data", t_real_model_test_data)
    check("error messages and exit codes", t_errors)
    check("summary without --output", t_summary)
    shutil.rmtree(TMP, ignore_errors=True)
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
