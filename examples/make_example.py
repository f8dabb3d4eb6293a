#!/usr/bin/env python3
"""Builds examples/mlp.onnx: a small trained-looking MLP classifier (fixed seed) that the
README's first command inspects, converts and (later) quantizes. Regenerate with
`python3 examples/make_example.py`; the committed file is the output of this script."""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(1234)


def linear(name, k, n):
    # Correlated, slightly heavy-tailed weights, like trained layers.
    w = (rng.standard_normal((k, n)) * (1.0 / np.sqrt(k))).astype(np.float32)
    w[:, : n // 8] *= 3.0
    b = (rng.standard_normal(n) * 0.01).astype(np.float32)
    return numpy_helper.from_array(w, name + ".weight"), numpy_helper.from_array(b, name + ".bias")


dims = [64, 256, 256, 10]
inits, nodes = [], []
x = "input"
for i in range(len(dims) - 1):
    w, b = linear(f"fc{i}", dims[i], dims[i + 1])
    inits += [w, b]
    nodes.append(helper.make_node("MatMul", [x, w.name], [f"mm{i}"], name=f"fc{i}/MatMul"))
    nodes.append(helper.make_node("Add", [f"mm{i}", b.name], [f"fc{i}"], name=f"fc{i}/Add"))
    x = f"fc{i}"
    if i < len(dims) - 2:
        nodes.append(helper.make_node("Relu", [x], [f"relu{i}"], name=f"relu{i}"))
        x = f"relu{i}"
nodes.append(helper.make_node("Identity", [x], ["logits"], name="output"))
graph = helper.make_graph(
    nodes, "example_mlp",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", dims[0]])],
    [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", dims[-1]])],
    inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                          producer_name="onnx-gptq-example")
model.ir_version = 8
onnx.checker.check_model(model, full_check=True)
here = os.path.dirname(os.path.abspath(__file__))
onnx.save(model, os.path.join(here, "mlp.onnx"))
# Calibration data: 256 samples, correlated features with a few outlier channels.
mix = rng.standard_normal((dims[0], dims[0])).astype(np.float32) / np.sqrt(dims[0])
calib = (rng.standard_normal((256, dims[0])).astype(np.float32) @ mix)
calib[:, :4] *= 6.0
np.savez(os.path.join(here, "mlp_calib.npz"), input=calib.astype(np.float32))
print("wrote examples/mlp.onnx and examples/mlp_calib.npz")
