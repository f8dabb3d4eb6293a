#!/usr/bin/env python3
"""Exit codes, messages and outputs of the onnx-gptq command line.

Exit codes: 0 ok, 1 usage, 2 bad/unsupported input, 3 failure producing output.
Models are built here with onnx.helper, so only --cli is required. Prints one line per
test and a final 'N passed, M failed'; exits 1 on any failure, 77 (skip) without onnx.
"""
import argparse
import json
import os
import re
import shutil
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
TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def run(*args, cwd=None):
    p = subprocess.run([CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=120)
    return p.returncode, p.stdout, p.stderr


def expect(rc_out_err, code, stderr_has=(), stdout_has=()):
    rc, out, err = rc_out_err
    assert rc == code, f"exit {rc}, expected {code}; stderr: {err!r}"
    for s in stderr_has:
        assert s in err, f"stderr lacks {s!r}: {err!r}"
    for s in stdout_has:
        assert s in out, f"stdout lacks {s!r}: {out[:500]!r}"
    return out, err


def one_error_line(err, *needles):
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert lines[0].startswith("onnx-gptq: error: "), lines[0]
    for n in needles:
        assert n in lines[0], f"message lacks {n!r}: {lines[0]!r}"


def make_model(path, external=None, k=32):
    """x[1,k] → MatMul(W[k,k]) → Add(B) → Relu → y; W is k*k*4 bytes (4 KiB for k=32)."""
    rng = np.random.default_rng(1)
    w = rng.standard_normal((k, k)).astype(np.float32)
    b = rng.standard_normal((k,)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["h"], name="mm"),
         helper.make_node("Add", ["h", "B"], ["a"], name="add"),
         helper.make_node("Relu", ["a"], ["y"], name="relu")],
        "small",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, k])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="test_cli")
    model.ir_version = 8
    model.metadata_props.add(key="purpose", value="cli test")
    if external:
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=external, size_threshold=1024)
    else:
        onnx.save_model(model, path)
    return model


def ort_outputs(path, k=32):
    if ort is None:
        return None
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    x = np.linspace(-1, 1, k, dtype=np.float32).reshape(1, k)
    return sess.run(None, {"x": x})


class Tmp:
    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="ogq-cli-")
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


# ---------------------------------------------------------------- help, version, usage

@test
def help_and_version():
    out, _ = expect(run("--help"), 0, stdout_has=["usage: onnx-gptq", "inspect", "convert",
                                                  "exit codes"])
    expect(run("-h"), 0, stdout_has=["usage: onnx-gptq"])
    out, _ = expect(run("--version"), 0)
    assert re.fullmatch(r"onnx-gptq \d+\.\d+\.\d+\S*\n", out), out
    expect(run("inspect", "--help"), 0, stdout_has=["usage: onnx-gptq inspect", "--json"])
    expect(run("convert", "--help"), 0, stdout_has=["usage: onnx-gptq convert",
                                                    "--external-data"])


@test
def usage_errors():
    _, err = expect(run(), 1, stderr_has=["usage: onnx-gptq"])
    _, err = expect(run("frobnicate"), 1)
    one_error_line(err, "unknown command 'frobnicate'")
    with Tmp() as d:
        m = os.path.join(d, "m.onnx")
        make_model(m)
        for args, needle in [
            (("inspect", "--bogus", m), "unknown option '--bogus'"),
            (("inspect", m, "--json=1"), "option --json takes no value"),
            (("convert", m, os.path.join(d, "o.onnx"), "--external-data=yes"), "takes no value"),
            (("inspect", m, "--json", "--nope"), "unknown option"),
            (("convert", m, os.path.join(d, "o.onnx"), "--nope"), "unknown option '--nope'"),
            (("inspect",), "missing MODEL"),
            (("inspect", m, m), "unexpected argument"),
            (("convert", m), "expected IN and OUT"),
            (("convert",), "expected IN and OUT"),
            (("convert", m, os.path.join(d, "o.onnx"), "extra"), "unexpected argument 'extra'"),
            (("convert", m, os.path.join(d, "o.onnx"), "--external-data-name"), "needs a value"),
        ]:
            _, err = expect(run(*args), 1)
            one_error_line(err, needle)
            assert "--help" in err, err
        assert sorted(os.listdir(d)) == ["m.onnx"], os.listdir(d)


# ---------------------------------------------------------------- bad inputs

@test
def missing_file():
    with Tmp() as d:
        missing = os.path.join(d, "missing.onnx")
        _, err = expect(run("inspect", missing), 2)
        one_error_line(err, missing)
        out = os.path.join(d, "out.onnx")
        _, err = expect(run("convert", missing, out), 2)
        one_error_line(err, missing)
        assert os.listdir(d) == [], os.listdir(d)
        # A folder or a FIFO is not a model (and reading the FIFO must not hang).
        _, err = expect(run("inspect", d), 2)
        one_error_line(err, d)
        fifo = os.path.join(d, "fifo.onnx")
        os.mkfifo(fifo)
        _, err = expect(run("convert", fifo, out), 2)
        one_error_line(err, fifo, "not a regular file")
        assert os.listdir(d) == ["fifo.onnx"], os.listdir(d)


def bad_models(d):
    """(file name, bytes) of models the loader must refuse."""
    good = os.path.join(d, "good.onnx")
    make_model(good)
    data = open(good, "rb").read()
    os.unlink(good)
    # A node input naming no value (built without the checker).
    g = helper.make_graph([helper.make_node("Relu", ["nowhere"], ["y"], name="lost")], "g",
                          [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    dangling = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    # An initializer whose raw data does not match its dims.
    t = numpy_helper.from_array(np.zeros(4, np.float32), "Wbad")
    t.raw_data = t.raw_data[:-2]
    g2 = helper.make_graph([helper.make_node("Relu", ["Wbad"], ["y"])], "g", [],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [t])
    short_raw = helper.make_model(g2, opset_imports=[helper.make_opsetid("", 17)])
    return [
        ("empty.onnx", b"", "empty"),
        ("text.onnx", b"this is not an onnx model\n", "not a valid ONNX model"),
        ("truncated.onnx", data[: len(data) // 2], "not a valid ONNX model"),
        ("dangling.onnx", dangling.SerializeToString(), "'nowhere'"),
        ("short_raw.onnx", short_raw.SerializeToString(), "'Wbad'"),
    ]


@test
def bad_model_exit_2_and_no_output():
    with Tmp() as d:
        src = os.path.join(d, "in")
        dst = os.path.join(d, "out")
        os.mkdir(src)
        os.mkdir(dst)
        for name, data, needle in bad_models(src):
            p = os.path.join(src, name)
            with open(p, "wb") as f:
                f.write(data)
            _, err = expect(run("inspect", p), 2)
            one_error_line(err, p, needle)
            for extra in ([], ["--external-data"]):
                _, err = expect(run("convert", p, os.path.join(dst, "out.onnx"), *extra), 2)
                one_error_line(err, p, needle)
                assert os.listdir(dst) == [], f"{name}: left {os.listdir(dst)}"


@test
def output_failure_exit_3():
    with Tmp() as d:
        m = os.path.join(d, "m.onnx")
        make_model(m)
        target = os.path.join(d, "no", "such", "dir", "out.onnx")
        _, err = expect(run("convert", m, target), 3)
        one_error_line(err, target)
        # A read-only output folder (skipped when running as root: root may write anyway).
        ro = os.path.join(d, "ro")
        os.mkdir(ro)
        os.chmod(ro, 0o555)
        try:
            if not os.access(ro, os.W_OK):
                _, err = expect(run("convert", m, os.path.join(ro, "out.onnx")), 3)
                one_error_line(err, "out.onnx")
                assert os.listdir(ro) == []
        finally:
            os.chmod(ro, 0o755)


@test
def refuses_to_overwrite_input():
    with Tmp() as d:
        m = os.path.join(d, "m.onnx")
        make_model(m)
        before = open(m, "rb").read()
        for target in (m, os.path.join(d, ".", "m.onnx")):
            _, err = expect(run("convert", m, target), 1)
            one_error_line(err, "refusing to overwrite the input model")
        os.symlink("m.onnx", os.path.join(d, "link.onnx"))
        _, err = expect(run("convert", m, os.path.join(d, "link.onnx")), 1)
        one_error_line(err, "refusing")
        # Relative paths from the model's folder.
        _, err = expect(run("convert", "m.onnx", "m.onnx", cwd=d), 1)
        one_error_line(err, "refusing")
        assert open(m, "rb").read() == before
        assert sorted(os.listdir(d)) == ["link.onnx", "m.onnx"], os.listdir(d)


@test
def refuses_to_overwrite_input_external_data():
    with Tmp() as d:
        m = os.path.join(d, "m.onnx")
        make_model(m, external="m.data")
        data = os.path.join(d, "m.data")
        assert os.path.getsize(data) > 0
        before = (open(m, "rb").read(), open(data, "rb").read())
        _, err = expect(run("convert", m, data), 1)
        one_error_line(err, "refusing to overwrite external data")
        # The side file of a new output must not land on the input's data either.
        out = os.path.join(d, "out.onnx")
        _, err = expect(run("convert", m, out, "--external-data-name", "m.data"), 1)
        one_error_line(err, "refusing to overwrite external data")
        _, err = expect(run("convert", m, out, "--external-data-name=m.data"), 1)
        # Nor on the input model itself.
        _, err = expect(run("convert", m, out, "--external-data-name", "m.onnx"), 1)
        one_error_line(err, "refusing to overwrite the input model")
        assert (open(m, "rb").read(), open(data, "rb").read()) == before
        assert sorted(os.listdir(d)) == ["m.data", "m.onnx"], os.listdir(d)
        # A bad side file name is a usage error.
        _, err = expect(run("convert", m, out, "--external-data-name", "sub/x.data"), 1)
        one_error_line(err, "sub/x.data")
        # Converting elsewhere works and reads the external data.
        expect(run("convert", m, out), 0)
        assert sorted(os.listdir(d)) == ["m.data", "m.onnx", "out.onnx"], os.listdir(d)


# ---------------------------------------------------------------- inspect

@test
def inspect_text():
    with Tmp() as d:
        m = os.path.join(d, "m.onnx")
        make_model(m)
        out, err = expect(run("inspect", m), 0, stdout_has=[m, "ir_version:   8", "test_cli",
                                                            "ai.onnx 17", "MatMul", "x", "y"])
        assert err == "", err
        assert "quantization targets: 1" in out, out


@test
def inspect_json():
    with Tmp() as d:
        m = os.path.join(d, "m.onnx")
        make_model(m, k=16)
        out, err = expect(run("inspect", m, "--json"), 0)
        assert err == ""
        j = json.loads(out)
        for key in ("ir_version", "producer_name", "opset_imports", "inputs", "outputs",
                    "op_histogram", "initializers", "parameters", "initializer_bytes",
                    "quantization_targets"):
            assert key in j, f"missing key {key}: {sorted(j)}"
        assert j["ir_version"] == 8
        assert j["producer_name"] == "test_cli"
        assert j["opset_imports"] == {"ai.onnx": 17}
        assert [i["name"] for i in j["inputs"]] == ["x"]
        assert j["inputs"][0]["dtype"] == "float32" and j["inputs"][0]["shape"] == [1, 16]
        assert [o["name"] for o in j["outputs"]] == ["y"]
        assert j["op_histogram"] == {"MatMul": 1, "Add": 1, "Relu": 1}
        assert j["initializers"] == 2
        assert j["parameters"] == 16 * 16 + 16
        assert j["initializer_bytes"] == 4 * (16 * 16 + 16)
        assert j["quantization_targets"]["MatMul"] == 1
        assert j["quantization_targets"]["total"] == 1
        assert j["metadata_props"] == {"purpose": "cli test"}


@test
def inspect_json_escapes_names():
    with Tmp() as d:
        m = os.path.join(d, "m.onnx")
        odd = 'in "quoted" \\ back\tslash\n\x01'
        g = helper.make_graph([helper.make_node("Relu", [odd], ["y"])], "g",
                              [helper.make_tensor_value_info(odd, TensorProto.FLOAT, ["batch", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)],
                                  producer_name='p"q')
        onnx.save_model(model, m)
        out, _ = expect(run("inspect", m, "--json"), 0)
        j = json.loads(out)
        assert j["inputs"][0]["name"] == odd
        assert j["inputs"][0]["shape"] == ["batch", 3]
        assert j["outputs"][0]["shape"] is None
        assert j["producer_name"] == 'p"q'


# ---------------------------------------------------------------- convert

@test
def convert_inline_round_trip():
    with Tmp() as d:
        m = os.path.join(d, "m.onnx")
        make_model(m)
        out = os.path.join(d, "out.onnx")
        o, err = expect(run("convert", m, out), 0)
        assert o == "" and err == "", (o, err)
        assert sorted(os.listdir(d)) == ["m.onnx", "out.onnx"]
        onnx.checker.check_model(out, full_check=True)
        a, b = onnx.load(m), onnx.load(out)
        assert a.SerializeToString() == b.SerializeToString() or \
            helper.printable_graph(a.graph) == helper.printable_graph(b.graph)
        if ort is not None:
            for x, y in zip(ort_outputs(m), ort_outputs(out)):
                assert np.array_equal(x, y)
        # Overwriting a previous output is fine and gives the same bytes.
        first = open(out, "rb").read()
        expect(run("convert", m, out), 0)
        assert open(out, "rb").read() == first


@test
def convert_external_data():
    with Tmp() as d:
        m = os.path.join(d, "m.onnx")
        make_model(m)
        out_dir = os.path.join(d, "out")
        os.mkdir(out_dir)
        out = os.path.join(out_dir, "model.onnx")
        expect(run("convert", m, out, "--external-data"), 0)
        assert sorted(os.listdir(out_dir)) == ["model.onnx", "model.onnx.data"], os.listdir(out_dir)
        assert os.path.getsize(os.path.join(out_dir, "model.onnx.data")) >= 32 * 32 * 4
        assert os.path.getsize(out) < 32 * 32 * 4
        loaded = onnx.load(out, load_external_data=False)
        w = next(t for t in loaded.graph.initializer if t.name == "W")
        assert w.data_location == TensorProto.EXTERNAL
        loc = {e.key: e.value for e in w.external_data}
        assert loc["location"] == "model.onnx.data", loc
        onnx.checker.check_model(out, full_check=True)
        if ort is not None:
            for x, y in zip(ort_outputs(m), ort_outputs(out)):
                assert np.array_equal(x, y)
        # A custom side-file name; and converting the external model back inline.
        out2 = os.path.join(out_dir, "named.onnx")
        expect(run("convert", m, out2, "--external-data-name", "weights.bin"), 0)
        assert os.path.isfile(os.path.join(out_dir, "weights.bin"))
        inline = os.path.join(d, "inline.onnx")
        expect(run("convert", out, inline), 0)
        assert not os.path.exists(inline + ".data")
        if ort is not None:
            for x, y in zip(ort_outputs(m), ort_outputs(inline)):
                assert np.array_equal(x, y)
        leftovers = [f for f in os.listdir(out_dir) + os.listdir(d) if ".tmp-" in f]
        assert not leftovers, leftovers


@test
def convert_then_inspect_agree():
    with Tmp() as d:
        m = os.path.join(d, "m.onnx")
        make_model(m)
        out = os.path.join(d, "out.onnx")
        expect(run("convert", m, out, "--external-data"), 0)
        a = json.loads(expect(run("inspect", m, "--json"), 0)[0])
        b = json.loads(expect(run("inspect", out, "--json"), 0)[0])
        a.pop("model")
        b.pop("model")
        assert a == b, (a, b)


def main():
    global CLI
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cli", required=True, help="path to the onnx-gptq executable")
    ap.add_argument("-k", default="", help="only tests whose name contains this")
    args = ap.parse_args()
    CLI = os.path.abspath(args.cli)
    passed = failed = 0
    for fn in TESTS:
        if args.k not in fn.__name__:
            continue
        try:
            fn()
            passed += 1
            print(f"PASS {fn.__name__}")
        except Exception:  # noqa: BLE001 - report every failure, keep going
            failed += 1
            print(f"FAIL {fn.__name__}")
            traceback.print_exc(limit=3)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
