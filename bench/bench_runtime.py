#!/usr/bin/env python3
"""bench_runtime.py — latency and memory of the onnx-gptq runtime against ONNX Runtime.

usage: python3 bench/bench_runtime.py [--build DIR] [--threads N] [--runs R] [--warmup W]
                                      [--repeat K] [--wait-idle S] [--models resnet18,encoder6]
                                      [--batches 1,8] [--workdir DIR] [--markdown]
                                      [--profile | --perf [--top N] | --op-times]

Builds two models with onnx.helper (fixed seeds, float32, opset 17), cached in --workdir:
  resnet18  ResNet-18 layout: 7x7/2 stem, 3x3/2 max pool, 4 stages of 2 basic blocks
            (64-128-256-512 channels, 1x1/2 projection shortcuts), Conv + BatchNormalization
            + Relu as an unfused export has them, global average pool, Flatten, Gemm 1000;
            input [batch, 3, 224, 224]
  encoder6  6 post-LN transformer encoder layers, d=512, 8 heads, FFN 2048, GELU written
            with Erf (what exporters emit below opset 20); input [batch, 128, 512]
For each model and batch size, ours (bench_run, the C driver in this folder) and ONNX
Runtime (Python, CPU provider, intra_op_num_threads = --threads, default graph
optimizations) each run in a fresh process on the same inputs (a seeded splitmix64 stream
both sides generate): warmup runs, then --runs timed runs. Model loading is never timed.
With --repeat K each side runs in K processes, alternating, and the best median is kept
(useful on a shared, noisy machine; the load average is printed), and --wait-idle S
first waits up to S seconds for other processes to leave the CPUs alone.
Printed per row: median latency of each, ours/ORT, peak RSS of each process (VmHWM),
our executor's peak intermediate bytes, and the max abs difference of output 0.

bench_run is taken from DIR/bench/bench_run when that exists, else compiled here from
bench_run.c against DIR's static libraries. --profile runs callgrind on bench_run (batch 1,
one thread, collection limited to one ogq_executor_run_rt: instruction counts) and --perf
samples it with perf's cpu-clock event (batch 1, --threads, time including load); both
print the top functions. --op-times prints the time per op type of both runtimes side by
side (ours: bench_run --op-times; ORT: its session profiler over the timed runs, after its
graph fusions, so op names differ: FusedConv, NCHWc Conv, ...).
"""
import argparse
import math
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

GOLDEN = 0x9E3779B97F4A7C15
INPUT_KEY = 0xD1B54A32D192ED03
MASK64 = (1 << 64) - 1
SEED = 1234
MODEL_VERSION = 1  # bump when a model builder changes (models are cached in --workdir)


# ---------------------------------------------------------------- inputs (same as C side)

def bench_input(shape, seed, k):
    """Input k exactly as bench_run.c's fill_uniform makes it."""
    n = int(np.prod(shape))
    base = np.uint64((seed ^ ((k + 1) * INPUT_KEY)) & MASK64)
    z = base + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(GOLDEN)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    x = (z >> np.uint64(40)).astype(np.float32) * np.float32(2.0 / 16777216.0) - np.float32(1)
    return x.reshape(shape)


# ---------------------------------------------------------------- models

def _builder(seed):
    from onnx import numpy_helper, helper

    class B:
        def __init__(self):
            self.rng = np.random.default_rng(seed)
            self.nodes, self.inits, self.count = [], [], 0

        def name(self, base):
            self.count += 1
            return f"{base}_{self.count}"

        def init(self, base, arr):
            n = self.name(base)
            self.inits.append(numpy_helper.from_array(np.asarray(arr), n))
            return n

        def weight(self, base, shape, fan_in):
            w = self.rng.normal(0.0, math.sqrt(2.0 / fan_in), size=shape).astype(np.float32)
            return self.init(base, w)

        def vec(self, base, n, lo, hi):
            return self.init(base, self.rng.uniform(lo, hi, n).astype(np.float32))

        def op(self, op_type, inputs, out=None, **attrs):
            o = out or self.name(op_type.lower())
            self.nodes.append(helper.make_node(op_type, inputs, [o], name=self.name(op_type),
                                               **attrs))
            return o

    return B()


def _finish(b, name, inputs, outputs, path):
    import onnx
    from onnx import helper
    g = helper.make_graph(b.nodes, name, inputs, outputs, b.inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)],
                          producer_name="onnx-gptq bench")
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)


def build_resnet18(path):
    from onnx import TensorProto, helper
    b = _builder(18)

    def conv_bn(x, cin, cout, k, stride, relu):
        y = b.op("Conv", [x, b.weight("conv_w", (cout, cin, k, k), cin * k * k)],
                 kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4)
        y = b.op("BatchNormalization", [y, b.vec("bn_s", cout, 0.5, 1.0),
                                        b.vec("bn_b", cout, -0.1, 0.1),
                                        b.vec("bn_m", cout, -0.1, 0.1),
                                        b.vec("bn_v", cout, 0.5, 2.0)], epsilon=1e-5)
        return b.op("Relu", [y]) if relu else y

    h = conv_bn("image", 3, 64, 7, 2, True)
    h = b.op("MaxPool", [h], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 64
    for stage, cout in enumerate([64, 128, 256, 512]):
        for blk in range(2):
            stride = 2 if stage > 0 and blk == 0 else 1
            y = conv_bn(h, cin, cout, 3, stride, True)
            y = conv_bn(y, cout, cout, 3, 1, False)
            sc = conv_bn(h, cin, cout, 1, stride, False) if stride != 1 or cin != cout else h
            h = b.op("Relu", [b.op("Add", [y, sc])])
            cin = cout
    h = b.op("Flatten", [b.op("GlobalAveragePool", [h])], axis=1)
    b.op("Gemm", [h, b.weight("fc_w", (1000, 512), 512), b.vec("fc_b", 1000, -0.1, 0.1)],
         out="logits", transB=1)
    f32 = TensorProto.FLOAT
    _finish(b, "resnet18", [helper.make_tensor_value_info("image", f32, ["batch", 3, 224, 224])],
            [helper.make_tensor_value_info("logits", f32, ["batch", 1000])], path)


def build_encoder6(path, layers=6, d=512, heads=8, ffn=2048):
    from onnx import TensorProto, helper
    b = _builder(6)
    dh = d // heads

    def linear(x, n_in, n_out):
        w = b.init("w", b.rng.normal(0, 1 / math.sqrt(n_in), (n_in, n_out)).astype(np.float32))
        return b.op("Add", [b.op("MatMul", [x, w]), b.vec("b", n_out, -0.05, 0.05)])

    def layer_norm(x):
        return b.op("LayerNormalization", [x, b.vec("ln_s", d, 0.8, 1.2),
                                           b.vec("ln_b", d, -0.1, 0.1)], axis=-1, epsilon=1e-5)

    split = b.init("split_shape", np.array([0, 0, heads, dh], np.int64))
    merge = b.init("merge_shape", np.array([0, 0, d], np.int64))
    scale = b.init("scale", np.array(1 / math.sqrt(dh), np.float32))
    sqrt2 = b.init("sqrt2", np.array(math.sqrt(2), np.float32))
    one = b.init("one", np.array(1, np.float32))
    half = b.init("half", np.array(0.5, np.float32))
    h = "tokens"
    for _ in range(layers):
        heads_of = [b.op("Reshape", [linear(h, d, d), split]) for _ in range(3)]
        q = b.op("Transpose", [heads_of[0]], perm=[0, 2, 1, 3])
        k = b.op("Transpose", [heads_of[1]], perm=[0, 2, 3, 1])
        v = b.op("Transpose", [heads_of[2]], perm=[0, 2, 1, 3])
        p = b.op("Softmax", [b.op("Mul", [b.op("MatMul", [q, k]), scale])], axis=-1)
        c = b.op("Transpose", [b.op("MatMul", [p, v])], perm=[0, 2, 1, 3])
        c = b.op("Reshape", [c, merge])
        h = layer_norm(b.op("Add", [h, linear(c, d, d)]))
        f = linear(h, d, ffn)
        g = b.op("Add", [b.op("Erf", [b.op("Div", [f, sqrt2])]), one])
        f = b.op("Mul", [b.op("Mul", [f, g]), half])
        h = layer_norm(b.op("Add", [h, linear(f, ffn, d)]))
    b.op("Identity", [h], out="hidden")
    f32 = TensorProto.FLOAT
    _finish(b, "encoder6", [helper.make_tensor_value_info("tokens", f32, ["batch", "seq", d])],
            [helper.make_tensor_value_info("hidden", f32, ["batch", "seq", d])], path)


MODELS = {
    # name: (builder, dims given batch, input shape given batch)
    "resnet18": (build_resnet18, lambda n: {"batch": n}, lambda n: (n, 3, 224, 224)),
    "encoder6": (build_encoder6, lambda n: {"batch": n, "seq": 128}, lambda n: (n, 128, 512)),
}


# ---------------------------------------------------------------- our driver

def find_bench_run(build, workdir):
    exe = os.path.join(build, "bench", "bench_run")
    if os.path.exists(exe):
        return exe
    libs = [os.path.join(build, p) for p in ("libogq_runtime.a", "libogq_graph.a",
                                             "proto/libonnx_proto.a", "libogq_util.a")]
    missing = [p for p in libs if not os.path.exists(p)]
    if missing:
        sys.exit(f"bench_runtime: {exe} not found and cannot build it ({missing[0]} missing; "
                 f"run ninja -C {build} first)")
    out = os.path.join(workdir, "bench_run")
    src = os.path.join(HERE, "bench_run.c")
    newest = max(os.path.getmtime(p) for p in libs + [src])
    if os.path.exists(out) and os.path.getmtime(out) >= newest:
        return out
    pc = subprocess.run(["pkg-config", "--cflags", "--libs", "openblas", "libprotobuf-c",
                         "zlib"], capture_output=True, text=True, check=True).stdout.split()
    cmd = [os.environ.get("CC", "cc"), "-std=c11", "-O2", "-g", "-D_POSIX_C_SOURCE=200809L",
           "-D_DEFAULT_SOURCE", "-I" + ROOT, "-I" + build, "-I" + os.path.join(build, "proto"),
           src, "-o", out] + libs + pc + ["-lm"]
    print("building", out, file=sys.stderr)
    subprocess.run(cmd, check=True)
    return out


def _parse(stdout):
    """First line: key=value summary; then op=... lines of --op-times."""
    lines = stdout.strip().splitlines() or [""]
    summary = {k: float(v) for k, v in re.findall(r"(\w+)=([-\d.]+)", lines[0])}
    ops = []
    for ln in lines[1:]:
        m = re.match(r"op=(\S+) ms=([\d.]+) calls=(\d+) share=([\d.]+)", ln)
        if m:
            ops.append((m.group(1), float(m.group(2)), int(m.group(3)), float(m.group(4))))
    summary["ops"] = ops
    return summary


def run_ours(exe, model, dims, args, output=None, prefix=(), op_times=False):
    cmd = list(prefix) + [exe, model, "--threads", str(args.threads), "--warmup",
                          str(args.warmup), "--runs", str(args.runs), "--seed", str(SEED)]
    for k, v in dims.items():
        cmd += ["--dim", f"{k}={v}"]
    if output:
        cmd += ["--output", output]
    if op_times:
        cmd += ["--op-times"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        return None, (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
    return _parse(p.stdout), None


# ---------------------------------------------------------------- ORT worker (own process)

def ort_worker(model, shape, threads, warmup, runs, output, op_times=False):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    if op_times:
        so.enable_profiling = True
        so.profile_file_prefix = output + ".ortprofile"
    t0 = time.perf_counter()
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    load_ms = (time.perf_counter() - t0) * 1e3
    feeds = {sess.get_inputs()[0].name: bench_input(shape, SEED, 0)}
    for _ in range(warmup):
        out = sess.run(None, feeds)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        out = sess.run(None, feeds)
        times.append((time.perf_counter() - t) * 1e3)
    out[0].astype(np.float32).tofile(output)
    rss = peak_rss_mb()
    print(f"load_ms={load_ms:.2f} median_ms={statistics.median(times):.3f} "
          f"min_ms={min(times):.3f} peak_rss_mb={rss:.1f}")
    if op_times:
        print_ort_op_times(sess.end_profiling(), warmup, runs)


def print_ort_op_times(path, warmup, runs):
    """Per-op time of the timed runs from an ORT profile, as bench_run --op-times prints."""
    import json
    with open(path) as f:
        events = json.load(f)
    os.unlink(path)
    windows = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                     if e.get("cat") == "Session" and e.get("name") == "model_run")[warmup:]
    acc = {}
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        if not any(lo <= e["ts"] <= hi for lo, hi in windows):
            continue
        op = e["args"].get("op_name", "?") + (" (NCHWc)" if "_nchwc_" in e["name"] else "")
        ms, calls = acc.get(op, (0.0, 0))
        acc[op] = (ms + e["dur"] / 1e3, calls + 1)
    total = sum(ms for ms, _ in acc.values()) or 1.0
    for op, (ms, calls) in sorted(acc.items(), key=lambda kv: -kv[1][0]):
        print(f"op={op.replace(' ', '_')} ms={ms / runs:.3f} calls={calls // runs} "
              f"share={100 * ms / total:.1f}")


def peak_rss_mb():
    """VmHWM of this process (ru_maxrss would include the forking parent's pages)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_ort(model, shape, args, output, op_times=False):
    cmd = [sys.executable, os.path.abspath(__file__), "--ort-worker", model,
           ",".join(map(str, shape)), str(args.threads), str(args.warmup), str(args.runs),
           output] + (["op-times"] if op_times else [])
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        return None, (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
    return _parse(p.stdout), None


def op_table(models, exe, args):
    """Per-op-type time of both runtimes, side by side, for each model and batch."""
    for name, path in models:
        _, dims_of, shape_of = MODELS[name]
        for n in [int(x) for x in args.batches.split(",") if x]:
            out = os.path.join(args.workdir, f"{name}_b{n}_ops")
            ours, err_o = run_ours(exe, path, dims_of(n), args, op_times=True)
            theirs, err_r = run_ort(path, shape_of(n), args, out + "_ort.bin", op_times=True)
            print(f"\n== {name} batch {n}: mean ms per op type and run, share, calls per run")
            if err_o or err_r:
                print(f"  failed: {err_o or err_r}")
                continue
            left = [f"{op} {ms:.2f} ({share:.0f}%) x{calls}" for op, ms, calls, share in
                    ours["ops"]]
            right = [f"{op} {ms:.2f} ({share:.0f}%) x{calls}" for op, ms, calls, share in
                     theirs["ops"]]
            w = max([len(x) for x in left] + [30])
            print(f"  {'ours: median ' + format(ours['median_ms'], '.1f') + ' ms':<{w}}   "
                  f"ORT: median {theirs['median_ms']:.1f} ms")
            for i in range(max(len(left), len(right))):
                a = left[i] if i < len(left) else ""
                b = right[i] if i < len(right) else ""
                print(f"  {a:<{w}}   {b}")


def _cpu_times():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), v[3] + v[4]  # total, idle + iowait


def wait_idle(limit_s, busy_max=0.15):
    """Waits (up to limit_s) until other processes use under busy_max of the CPUs for 1 s."""
    deadline = time.monotonic() + limit_s
    while True:
        t0, i0 = _cpu_times()
        time.sleep(1.0)
        t1, i1 = _cpu_times()
        busy = 1.0 - (i1 - i0) / max(t1 - t0, 1)
        if busy <= busy_max or time.monotonic() >= deadline:
            return busy
        time.sleep(2.0)


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def python_baseline_rss():
    """Peak RSS of a Python process that only imports numpy and onnxruntime."""
    code = ("import numpy, onnxruntime; "
            "print([int(l.split()[1]) / 1024.0 for l in open('/proc/self/status') "
            "if l.startswith('VmHWM:')][0])")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return float(p.stdout) if p.returncode == 0 else float("nan")


# ---------------------------------------------------------------- profile

def _print_top(lines, top):
    for ln in lines[:top]:
        print("  " + ln)


def profile_callgrind(exe, name, path, args):
    """Instruction counts of one ogq_executor_run_rt (batch 1, one thread)."""
    _, dims_of, _ = MODELS[name]
    out = os.path.join(args.workdir, f"callgrind.{name}.out")
    prefix = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
              "--collect-atstart=no", "--toggle-collect=ogq_executor_run_rt"]
    sub = argparse.Namespace(threads=1, warmup=0, runs=1)
    _, err = run_ours(exe, path, dims_of(1), sub, prefix=prefix)
    if err:
        print(f"{name}: callgrind failed: {err}")
        return
    p = subprocess.run(["callgrind_annotate", "--inclusive=no", "--auto=no",
                        "--threshold=100", out], capture_output=True, text=True)
    lines = p.stdout.splitlines()
    total = next((ln for ln in lines if "PROGRAM TOTALS" in ln), "")
    print(f"\n== {name}: callgrind, batch 1, 1 thread, one ogq_executor_run_rt "
          f"(instructions; valgrind hides AVX-512, so OpenBLAS runs its Haswell kernels): "
          f"{total.split()[0] if total else '?'} total")
    start = next((i for i, ln in enumerate(lines) if "file:function" in ln), None)
    rows = []
    for ln in lines[start + 2:] if start is not None else []:
        if not ln.strip():
            break
        m = re.match(r"\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(\S+)", ln)
        if m:
            fn = m.group(3).split(":")[-1]
            rows.append(f"{m.group(2):>6}%  {fn}  ({m.group(1)} Ir)")
    _print_top(rows, args.top)


def profile_perf(exe, name, path, args):
    """Time samples (perf, cpu-clock) over warmup + runs at batch 1 with --threads."""
    _, dims_of, _ = MODELS[name]
    out = os.path.join(args.workdir, f"perf.{name}.data")
    prefix = ["perf", "record", "-q", "-e", "cpu-clock", "-F", "2000", "-o", out]
    sub = argparse.Namespace(threads=args.threads, warmup=1, runs=max(args.runs, 10))
    _, err = run_ours(exe, path, dims_of(1), sub, prefix=prefix)
    if err:
        print(f"{name}: perf failed: {err}")
        return
    p = subprocess.run(["perf", "report", "-i", out, "--no-children", "--sort", "symbol",
                        "--stdio"], capture_output=True, text=True)
    rows = []
    for ln in p.stdout.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+\[(.)\]\s+(\S+)", ln)
        if m:
            rows.append(f"{m.group(1):>6}%  {m.group(3)}{' (kernel)' if m.group(2) == 'k' else ''}")
    print(f"\n== {name}: perf cpu-clock samples, batch 1, {args.threads} threads, "
          f"{sub.runs} runs + load and 1 warmup (share of all samples, all threads)")
    _print_top(rows, args.top)


# ---------------------------------------------------------------- main

def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--ort-worker":
        model, shape, threads, warmup, runs, output = sys.argv[2:8]
        ort_worker(model, tuple(int(s) for s in shape.split(",")), int(threads), int(warmup),
                   int(runs), output, op_times=sys.argv[8:9] == ["op-times"])
        return 0

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=1,
                    help="processes per side, alternated; the best median is kept")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                    help="before each process wait (at most this long) for the machine to "
                         "be idle (other processes under 15%% CPU for 1 s)")
    ap.add_argument("--models", default="resnet18,encoder6")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--workdir", default=os.path.join("/tmp", f"ogq_bench_{os.getuid()}"))
    ap.add_argument("--markdown", action="store_true", help="print the table as markdown")
    ap.add_argument("--profile", action="store_true", help="callgrind profile of ours")
    ap.add_argument("--perf", action="store_true", help="perf cpu-clock profile of ours")
    ap.add_argument("--op-times", action="store_true",
                    help="per-op-type time of ours and of ORT (its profiler), side by side")
    ap.add_argument("--top", type=int, default=20, help="functions shown by a profile")
    args = ap.parse_args()

    os.makedirs(args.workdir, exist_ok=True)
    names = [m for m in args.models.split(",") if m]
    for m in names:
        if m not in MODELS:
            sys.exit(f"bench_runtime: unknown model '{m}' (have {', '.join(MODELS)})")
    models = []
    for m in names:
        path = os.path.join(args.workdir, f"{m}_v{MODEL_VERSION}.onnx")
        if not os.path.exists(path):
            print(f"building {path}", file=sys.stderr)
            MODELS[m][0](path)
        models.append((m, path))
    exe = find_bench_run(os.path.abspath(args.build), args.workdir)

    if args.op_times:
        op_table(models, exe, args)
        return 0
    if args.profile or args.perf:
        tool = "perf" if args.perf else "valgrind"
        if not shutil.which(tool):
            sys.exit(f"bench_runtime: {tool} not found")
        for name, path in models:
            (profile_perf if args.perf else profile_callgrind)(exe, name, path, args)
        return 0

    batches = [int(x) for x in args.batches.split(",") if x]
    hdr = ["model", "batch", "ours ms", "ORT ms", "ours/ORT", "ours RSS MB", "ORT RSS MB",
           "ours interm. MB", "max|diff|"]
    rows, ratios, failures = [], [], 0
    for name, path in models:
        _, dims_of, shape_of = MODELS[name]
        for n in batches:
            o_out = os.path.join(args.workdir, f"{name}_b{n}_ours.bin")
            r_out = os.path.join(args.workdir, f"{name}_b{n}_ort.bin")
            ours = theirs = err_o = err_r = None
            for _ in range(args.repeat):  # alternate sides; keep each side's best median
                if args.wait_idle:
                    wait_idle(args.wait_idle)
                o, err_o = run_ours(exe, path, dims_of(n), args, output=o_out)
                if args.wait_idle:
                    wait_idle(args.wait_idle)
                t, err_r = run_ort(path, shape_of(n), args, r_out)
                if o and (not ours or o["median_ms"] < ours["median_ms"]):
                    ours = o
                if t and (not theirs or t["median_ms"] < theirs["median_ms"]):
                    theirs = t
            diff = "-"
            if ours and theirs:
                a, b = np.fromfile(o_out, np.float32), np.fromfile(r_out, np.float32)
                diff = f"{np.abs(a - b).max():.1e}" if a.shape == b.shape else "shape!"
            if err_o:
                print(f"{name} batch {n}: ours failed: {err_o}", file=sys.stderr)
                failures += 1
            if err_r:
                print(f"{name} batch {n}: ORT failed: {err_r}", file=sys.stderr)
                failures += 1
            ratio = ours["median_ms"] / theirs["median_ms"] if ours and theirs else None
            if ratio:
                ratios.append(ratio)
            rows.append([name, str(n),
                         f"{ours['median_ms']:.1f}" if ours else "fail",
                         f"{theirs['median_ms']:.1f}" if theirs else "fail",
                         f"{ratio:.2f}" if ratio else "-",
                         f"{ours['peak_rss_mb']:.0f}" if ours else "-",
                         f"{theirs['peak_rss_mb']:.0f}" if theirs else "-",
                         f"{ours['executor_peak_mb']:.1f}" if ours else "-", diff])
            print(" ".join(rows[-1]), file=sys.stderr)

    print(f"threads={args.threads} warmup={args.warmup} runs={args.runs} repeat={args.repeat} "
          f"(median of runs); load average {load_average()}; "
          f"ORT Python baseline RSS (import only) {python_baseline_rss():.0f} MB")
    if args.markdown:
        print("| " + " | ".join(hdr) + " |")
        print("|" + "|".join("---" for _ in hdr) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        w = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(hdr)]
        print("  ".join(h.rjust(w[i]) for i, h in enumerate(hdr)))
        for r in rows:
            print("  ".join(c.rjust(w[i]) for i, c in enumerate(r)))
    if ratios:
        print(f"worst ours/ORT {max(ratios):.2f} (goal <= 1.5: "
              f"{'met' if max(ratios) <= 1.5 else 'NOT met'})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
