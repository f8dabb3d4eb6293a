#!/usr/bin/env python3
"""gen_models.py — small but realistic float models for checking the runtime against ONNX
Runtime, built with onnx.helper (fixed seeds, float32, opset 17 unless noted).

    mlp            Gemm + Relu, MatMul + Add + Relu, Gemm(transB); dynamic batch
    cnn            Conv + BatchNormalization + Relu, MaxPool, depthwise Conv, AveragePool,
                   strided Conv, GlobalAveragePool, Flatten, Gemm; dynamic batch
    encoder        one transformer encoder block: Q/K/V MatMul projections, Reshape/Transpose
                   to heads, scaled QK^T MatMul, Softmax, context MatMul, output projection,
                   residual Add, LayerNormalization, FFN with GELU written with Erf; the
                   merge-heads Reshape builds its shape at run time (Shape/Slice/Concat, as
                   exporters do); dynamic batch and sequence length
    encoder_gelu20 two encoder blocks at opset 20 using the Gelu op (approximate 'none' in
                   the first block, 'tanh' in the second); dynamic batch and sequence
    fp16_weights   float16 initializers Cast to float inside the graph, plus a float16
                   round trip of an activation (Cast to FLOAT16 and back); dynamic batch

Usage as a script: gen_models.py OUTDIR  (writes OUTDIR/<name>.onnx and prints the names).
Used as a module: build_all(outdir) returns one ModelSpec per model; its `shapes` list the
concrete input shapes to test (two or more per dynamic model).
"""
import math
import os
import sys
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

IR_VERSION = 8  # accepted by every onnxruntime that supports opset 17..20 here


@dataclass
class ModelSpec:
    name: str
    path: str
    # One dict per test case: input name -> concrete shape.
    shapes: list = field(default_factory=list)


class _Builder:
    """Accumulates nodes and initializers with generated unique names."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.inits = []
        self.count = 0

    def name(self, base):
        self.count += 1
        return f"{base}_{self.count}"

    def init(self, base, arr):
        n = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), n))
        return n

    def weight(self, base, shape, fan_in, dtype=np.float32):
        w = self.rng.normal(0.0, 1.0 / math.sqrt(fan_in), size=shape)
        return self.init(base, w.astype(dtype))

    def bias(self, base, n, scale=0.1, dtype=np.float32):
        return self.init(base, self.rng.uniform(-scale, scale, size=(n,)).astype(dtype))

    def op(self, op_type, inputs, n_out=1, out=None, **attrs):
        outs = out if out is not None else [self.name(op_type.lower()) for _ in range(n_out)]
        if isinstance(outs, str):
            outs = [outs]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=self.name(op_type),
                                           **attrs))
        return outs[0] if len(outs) == 1 else outs

    def model(self, graph_name, inputs, outputs, opset):
        g = helper.make_graph(self.nodes, graph_name, inputs, outputs, self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="onnx-gptq tests")
        m.ir_version = IR_VERSION
        onnx.checker.check_model(m, full_check=True)
        return m


def _f32(name, dims):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def build_mlp():
    b = _Builder(1)
    h = b.op("Gemm", ["x", b.weight("w1", (64, 128), 64), b.bias("b1", 128)])
    h = b.op("Relu", [h])
    h = b.op("MatMul", [h, b.weight("w2", (128, 96), 128)])
    h = b.op("Add", [h, b.bias("b2", 96)])
    h = b.op("Relu", [h])
    # transB with alpha/beta as a classifier head exported from Linear would have.
    b.op("Gemm", [h, b.weight("w3", (10, 96), 96), b.bias("b3", 10)], out="logits",
         transB=1, alpha=0.5, beta=2.0)
    return b.model("mlp", [_f32("x", ["batch", 64])], [_f32("logits", ["batch", 10])], 17)


def _conv_bn_relu(b, x, cin, cout, k, stride=1, group=1):
    w = b.weight("conv_w", (cout, cin // group, k, k), cin // group * k * k)
    y = b.op("Conv", [x, w, b.bias("conv_b", cout)], kernel_shape=[k, k],
             pads=[k // 2] * 4, strides=[stride, stride], group=group)
    scale = b.init("bn_scale", b.rng.uniform(0.5, 1.5, cout).astype(np.float32))
    shift = b.init("bn_bias", b.rng.uniform(-0.2, 0.2, cout).astype(np.float32))
    mean = b.init("bn_mean", b.rng.uniform(-0.2, 0.2, cout).astype(np.float32))
    var = b.init("bn_var", b.rng.uniform(0.5, 2.0, cout).astype(np.float32))
    y = b.op("BatchNormalization", [y, scale, shift, mean, var], epsilon=1e-5)
    return b.op("Relu", [y])


def build_cnn():
    b = _Builder(2)
    h = _conv_bn_relu(b, "image", 3, 16, 3)                        # 32x32
    h = b.op("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])  # 16x16
    h = _conv_bn_relu(b, h, 16, 32, 3)
    h = _conv_bn_relu(b, h, 32, 32, 3, group=32)                   # depthwise
    h = b.op("AveragePool", [h], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
             count_include_pad=0)                                  # 8x8
    h = _conv_bn_relu(b, h, 32, 64, 3, stride=2)                   # 4x4
    h = _conv_bn_relu(b, h, 64, 64, 1)
    h = b.op("GlobalAveragePool", [h])
    h = b.op("Flatten", [h], axis=1)
    b.op("Gemm", [h, b.weight("fc_w", (10, 64), 64), b.bias("fc_b", 10)], out="logits",
         transB=1)
    return b.model("cnn", [_f32("image", ["batch", 3, 32, 32])],
                   [_f32("logits", ["batch", 10])], 17)


def _gelu_erf(b, x):
    t = b.op("Div", [x, b.init("sqrt2", np.array(math.sqrt(2.0), np.float32))])
    t = b.op("Erf", [t])
    t = b.op("Add", [t, b.init("one", np.array(1.0, np.float32))])
    t = b.op("Mul", [x, t])
    return b.op("Mul", [t, b.init("half", np.array(0.5, np.float32))])


def _encoder_block(b, x, d, heads, ffn, gelu):
    """Post-LN encoder block on x [B, S, d]; `gelu` maps a tensor name to GELU(it)."""
    dh = d // heads
    split = b.init("heads_shape", np.array([0, 0, heads, dh], np.int64))

    def proj(base, inp, n_in, n_out):
        y = b.op("MatMul", [inp, b.weight(base + "_w", (n_in, n_out), n_in)])
        return b.op("Add", [y, b.bias(base + "_b", n_out)])

    q = b.op("Transpose", [b.op("Reshape", [proj("q", x, d, d), split])], perm=[0, 2, 1, 3])
    k = b.op("Transpose", [b.op("Reshape", [proj("k", x, d, d), split])], perm=[0, 2, 3, 1])
    v = b.op("Transpose", [b.op("Reshape", [proj("v", x, d, d), split])], perm=[0, 2, 1, 3])
    s = b.op("MatMul", [q, k])                                      # [B, H, S, S]
    s = b.op("Mul", [s, b.init("scale", np.array(1.0 / math.sqrt(dh), np.float32))])
    p = b.op("Softmax", [s], axis=-1)
    c = b.op("MatMul", [p, v])                                      # [B, H, S, dh]
    c = b.op("Transpose", [c], perm=[0, 2, 1, 3])                   # [B, S, H, dh]
    # Merge heads with a shape computed at run time: concat(shape(x)[0:2], [d]).
    bs = b.op("Slice", [b.op("Shape", [x]), b.init("st", np.array([0], np.int64)),
                        b.init("en", np.array([2], np.int64)),
                        b.init("ax", np.array([0], np.int64))])
    merged = b.op("Concat", [bs, b.init("d", np.array([d], np.int64))], axis=0)
    c = b.op("Reshape", [c, merged])
    a = b.op("Add", [x, proj("o", c, d, d)])
    ln_s = b.init("ln1_scale", b.rng.uniform(0.8, 1.2, d).astype(np.float32))
    a = b.op("LayerNormalization", [a, ln_s, b.bias("ln1_bias", d)], axis=-1, epsilon=1e-5)
    f = gelu(b, proj("ffn1", a, d, ffn))
    f = b.op("Add", [a, proj("ffn2", f, ffn, d)])
    ln_s = b.init("ln2_scale", b.rng.uniform(0.8, 1.2, d).astype(np.float32))
    return b.op("LayerNormalization", [f, ln_s, b.bias("ln2_bias", d)], axis=-1,
                epsilon=1e-5)


def build_encoder():
    b = _Builder(3)
    d = 64
    h = _encoder_block(b, "tokens", d, 4, 256, _gelu_erf)
    b.op("Identity", [h], out="hidden")
    return b.model("encoder", [_f32("tokens", ["batch", "seq", d])],
                   [_f32("hidden", ["batch", "seq", d])], 17)


def build_encoder_gelu20():
    b = _Builder(4)
    d = 64
    h = _encoder_block(b, "tokens", d, 4, 192, lambda bb, x: bb.op("Gelu", [x]))
    h = _encoder_block(b, h, d, 4, 192,
                       lambda bb, x: bb.op("Gelu", [x], approximate="tanh"))
    # Mean-pooled sentence vector as a second output.
    b.op("Identity", [h], out="hidden")
    b.op("ReduceMean", [h, b.init("seq_axis", np.array([1], np.int64))], out="pooled",
         keepdims=0)
    return b.model("encoder_gelu20", [_f32("tokens", ["batch", "seq", d])],
                   [_f32("hidden", ["batch", "seq", d]), _f32("pooled", ["batch", d])], 20)


def build_fp16_weights():
    b = _Builder(5)
    to_f = TensorProto.FLOAT

    def w16(base, shape, fan_in):
        return b.op("Cast", [b.weight(base, shape, fan_in, dtype=np.float16)], to=to_f)

    h = b.op("MatMul", ["x", w16("w1", (32, 48), 32)])
    h = b.op("Add", [h, b.op("Cast", [b.bias("b1", 48, dtype=np.float16)], to=to_f)])
    h = b.op("Relu", [h])
    # Round an activation to half precision and back, as a mixed-precision export does.
    h = b.op("Cast", [b.op("Cast", [h], to=TensorProto.FLOAT16)], to=to_f)
    h = b.op("MatMul", [h, w16("w2", (48, 16), 48)])
    b.op("Add", [h, b.op("Cast", [b.bias("b2", 16, dtype=np.float16)], to=to_f)], out="y")
    return b.model("fp16_weights", [_f32("x", ["batch", 32])], [_f32("y", ["batch", 16])], 17)


MODELS = [
    ("mlp", build_mlp, [{"x": (1, 64)}, {"x": (7, 64)}]),
    ("cnn", build_cnn, [{"image": (1, 3, 32, 32)}, {"image": (4, 3, 32, 32)}]),
    ("encoder", build_encoder, [{"tokens": (1, 16, 64)}, {"tokens": (3, 40, 64)},
                                {"tokens": (2, 1, 64)}]),
    ("encoder_gelu20", build_encoder_gelu20, [{"tokens": (1, 24, 64)},
                                              {"tokens": (4, 9, 64)}]),
    ("fp16_weights", build_fp16_weights, [{"x": (1, 32)}, {"x": (5, 32)}]),
]


def build_all(outdir):
    os.makedirs(outdir, exist_ok=True)
    specs = []
    for name, fn, shapes in MODELS:
        path = os.path.join(outdir, name + ".onnx")
        onnx.save(fn(), path)
        specs.append(ModelSpec(name, path, shapes))
    return specs


def main():
    if len(sys.argv) != 2:
        print("usage: gen_models.py OUTDIR", file=sys.stderr)
        return 1
    for s in build_all(sys.argv[1]):
        print(s.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
