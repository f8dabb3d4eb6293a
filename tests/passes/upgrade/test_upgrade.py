#!/usr/bin/env python3
"""test_upgrade.py — the opset-upgrade pass against onnx.checker and ONNX Runtime.

usage: test_upgrade.py UPGRADE_TOOL SHARED_DIR [-v]

Checks, each counted as one case:
  - table: the pass's since_versions per op equal onnx.defs (ai.onnx, <= 21), so no
    changelog step is missed;
  - real models (SHARED_DIR/real-models/*): upgraded to 21, onnx.checker full_check, and
    ONNX Runtime (CPU) on original vs upgraded with test_data_set_0 inputs;
  - node tests (SHARED_DIR/onnx-node-tests) with opset < 21 whose ops all have a rule:
    the same; every excluded one is listed with the reason;
  - synthetic models for conversions the node tests do not reach (old opsets): compared
    with ONNX Runtime on the original, or with a numpy reference where ONNX Runtime no
    longer runs that opset; refusals must name every refused node.
Outputs must match with rtol 1e-5 / atol 1e-6 (NaN == NaN, integers exactly).
Prints 'N passed, M failed'; exit status 1 on any failure.
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnx.defs
import onnxruntime as ort
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

RTOL, ATOL = 1e-5, 1e-6
TARGET = 21

TOOL, SHARED = sys.argv[1], sys.argv[2]
VERBOSE = '-v' in sys.argv[3:]
TMP = tempfile.mkdtemp(prefix='ogq_upgrade_')
passed, failed = 0, 0


def ok(name):
    global passed
    passed += 1
    if VERBOSE:
        print(f'PASS {name}')


def fail(name, why):
    global failed
    failed += 1
    print(f'FAIL {name}: {why}')


def run_tool(src, dst, target=TARGET):
    r = subprocess.run([TOOL, src, dst, str(target)], capture_output=True, text=True)
    return r.returncode, r.stderr.strip()


def session(model_bytes):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model_bytes, so, providers=['CPUExecutionProvider'])


def run_ort(model_bytes, feeds):
    s = session(model_bytes)
    names = [o.name for o in s.get_outputs()]
    return s.run(names, feeds)


def compare(a_list, b_list):
    """None when equal within tolerance, else a reason."""
    if len(a_list) != len(b_list):
        return f'{len(a_list)} vs {len(b_list)} outputs'
    for i, (a, b) in enumerate(zip(a_list, b_list)):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype != b.dtype or a.shape != b.shape:
            return f'output {i}: {a.dtype}{list(a.shape)} vs {b.dtype}{list(b.shape)}'
        if a.dtype.kind in 'fc':
            if not np.allclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True):
                d = np.nanmax(np.abs(a.astype(np.float64) - b.astype(np.float64)))
                return f'output {i}: max abs diff {d:g}'
        elif not np.array_equal(a, b):
            return f'output {i}: values differ'
    return None


def graph_input_feeds(model, data_dir):
    inits = {t.name for t in model.graph.initializer}
    feeds = {}
    k = 0
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        path = os.path.join(data_dir, f'input_{k}.pb')
        k += 1
        t = onnx.TensorProto()
        with open(path, 'rb') as f:
            t.ParseFromString(f.read())
        feeds[vi.name] = numpy_helper.to_array(t)
    return feeds


MIN_IR = {11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10}


def upgrade_and_check(name, src, feeds, ref_outputs=None, target=TARGET):
    """Upgrade src, run the checker, compare ORT(original or reference) with ORT(upgraded).
    Returns the upgraded ModelProto or None (after recording a failure)."""
    dst = os.path.join(TMP, name.replace('/', '_') + '.onnx')
    rc, msg = run_tool(src, dst, target)
    if rc != 0:
        fail(name, f'upgrade_tool exit {rc}: {msg}')
        return None
    up = onnx.load(dst)
    opset = {o.domain: o.version for o in up.opset_import}
    if opset.get('', opset.get('ai.onnx')) != target or up.ir_version < MIN_IR[target]:
        fail(name, f'opset {opset} ir {up.ir_version} after upgrade')
        return None
    try:
        onnx.checker.check_model(up, full_check=True)
    except Exception as e:  # noqa: BLE001 - any checker failure is a test failure
        fail(name, f'checker: {str(e).splitlines()[0][:300]}')
        return None
    try:
        if ref_outputs is None:
            with open(src, 'rb') as f:
                ref_outputs = run_ort(f.read(), feeds)
        got = run_ort(up.SerializeToString(), feeds)
    except Exception as e:  # noqa: BLE001
        fail(name, f'onnxruntime: {str(e).splitlines()[0][:300]}')
        return None
    why = compare(ref_outputs, got)
    if why:
        fail(name, why)
        return None
    ok(name)
    return up


# ---------------------------------------------------------------- conversion table

def check_table():
    out = subprocess.run([TOOL, '--rules'], capture_output=True, text=True, check=True).stdout
    rules = {}
    for line in out.splitlines():
        parts = line.split()
        rules[parts[0]] = [int(v) for v in parts[1:]]
    history = {}
    for s in onnx.defs.get_all_schemas_with_history():
        if s.domain == '' and s.since_version <= TARGET:
            history.setdefault(s.name, set()).add(s.since_version)
    bad = [f'{op}: table {vs} onnx {sorted(history.get(op, []))}'
           for op, vs in rules.items() if vs != sorted(history.get(op, []))]
    if bad:
        fail('table', '; '.join(bad))
    else:
        ok(f'table ({len(rules)} ops)')
    return rules


# ---------------------------------------------------------------- real models

def real_models():
    root = os.path.join(SHARED, 'real-models')
    if not os.path.isdir(root):
        print(f'SKIP real models: {root} not found')
        return
    for d in sorted(os.listdir(root)):
        path = os.path.join(root, d)
        models = [f for f in os.listdir(path) if f.endswith('.onnx')] if os.path.isdir(path) else []
        if len(models) != 1:
            continue
        src = os.path.join(path, models[0])
        orig = onnx.load(src)
        feeds = graph_input_feeds(orig, os.path.join(path, 'test_data_set_0'))
        upgrade_and_check('real/' + d, src, feeds)
        # Intermediate targets exercise the partial conversions (each step only when <= target).
        opset = {o.domain: o.version for o in orig.opset_import}.get('', 0)
        for target in (11, 13, 17):
            if target > opset:
                upgrade_and_check(f'real/{d}@{target}', src, feeds, target=target)


# ---------------------------------------------------------------- node tests

def node_tests(rules):
    root = os.path.join(SHARED, 'onnx-node-tests')
    if not os.path.isdir(root):
        print(f'SKIP node tests: {root} not found')
        return
    excluded = []
    with open(os.path.join(root, 'INDEX.tsv')) as f:
        rows = [line.rstrip('\n').split('\t') for line in f][1:]
    for name, opset, _ir, ops, ort_result in rows:
        if int(opset) >= TARGET:
            continue
        missing = sorted(set(o for o in ops.split(',') if o not in rules))
        if missing:
            excluded.append((name, 'no rule for ' + ','.join(missing)))
            continue
        if ort_result != 'pass':
            excluded.append((name, f'ONNX Runtime cannot run the original ({ort_result})'))
            continue
        src = os.path.join(root, name, 'model.onnx')
        try:
            feeds = graph_input_feeds(onnx.load(src), os.path.join(root, name, 'test_data_set_0'))
        except Exception as e:  # noqa: BLE001
            excluded.append((name, f'inputs are not TensorProtos ({e})'))
            continue
        upgrade_and_check('node/' + name, src, feeds)
    print(f'node tests excluded ({len(excluded)}):')
    for name, why in excluded:
        print(f'  {name}: {why}')


# ---------------------------------------------------------------- synthetic models

rng = np.random.default_rng(1234)
F = TP.FLOAT


def vi(name, dtype=F, shape=None):
    return helper.make_tensor_value_info(name, dtype, shape)


def model(nodes, inputs, outputs, opset, inits=(), ir=None, extra_opsets=()):
    g = helper.make_graph(nodes, 'g', inputs, outputs, list(inits))
    ir = ir or (3 if opset < 9 else 4 if opset == 9 else 5 if opset == 10 else 6 if opset == 11
                else 7 if opset < 15 else 8)
    ops = [helper.make_opsetid('', opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    m = helper.make_model(g, opset_imports=ops, ir_version=ir)
    # The checker (full_check) wants shapes on graph outputs: take them from ONNX inference.
    inferred = onnx.shape_inference.infer_shapes(m, data_prop=True)
    for out, inf in zip(m.graph.output, inferred.graph.output):
        if not out.type.tensor_type.HasField('shape') and inf.type.tensor_type.HasField('shape'):
            out.type.tensor_type.shape.CopyFrom(inf.type.tensor_type.shape)
    return m


def hide_rank(x, nodes):
    """Reshape(x, Shape(x)): the same tensor, but of a rank the pass cannot see."""
    nodes += [helper.make_node('Shape', [x], [x + '_shape']),
              helper.make_node('Reshape', [x, x + '_shape'], [x + '_r'])]
    return x + '_r'


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def randf(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def save(name, m):
    path = os.path.join(TMP, name + '.orig.onnx')
    onnx.save(m, path)
    return path


def softmax_2d(x, axis, fn):
    shape = x.shape
    x2 = x.reshape(int(np.prod(shape[:axis])), -1)
    return fn(x2).reshape(shape)


def np_softmax(x2):
    e = np.exp(x2 - x2.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def synthetic_case(name, m, feeds, ref=None, expect_ops=None, forbid_ops=None, target=TARGET):
    """ref: numpy outputs when ONNX Runtime cannot run the original opset."""
    src = save(name, m)
    ref_outputs = None
    try:
        with open(src, 'rb') as f:
            ref_outputs = run_ort(f.read(), feeds)
        if ref is not None and compare(ref, ref_outputs):  # keep our references honest
            fail('syn/' + name, 'numpy reference disagrees with ONNX Runtime on the original')
            return
    except Exception as e:  # noqa: BLE001
        if ref is None:
            fail('syn/' + name, f'ONNX Runtime cannot run the original and no reference: '
                                f'{str(e).splitlines()[0][:200]}')
            return
        ref_outputs = ref
    up = upgrade_and_check('syn/' + name, src, feeds, ref_outputs, target)
    if up is None:
        return
    ops = [n.op_type for n in up.graph.node]
    for op in expect_ops or []:
        if op not in ops:
            fail('syn/' + name + '/structure', f'expected a {op} node, got {ops}')
    for op in forbid_ops or []:
        if op in ops:
            fail('syn/' + name + '/structure', f'unexpected {op} node in {ops}')


def refusal_case(name, m, must_name, target=TARGET, status='unsupported'):
    src = save(name, m)
    rc, msg = run_tool(src, os.path.join(TMP, name + '.onnx'), target)
    if rc != 3 or not msg.startswith(status):
        fail('refuse/' + name, f'expected {status}, got exit {rc}: {msg}')
        return
    missing = [s for s in must_name if s not in msg]
    if missing:
        fail('refuse/' + name, f'message lacks {missing}: {msg}')
    else:
        ok('refuse/' + name)


def synthetic():
    x4 = randf(2, 3, 4, 5)
    # Softmax family < 13: coerced to 2-D at axis.
    for op, fn in [('Softmax', np_softmax),
                   ('LogSoftmax', lambda a: np.log(np_softmax(a))),
                   ('Hardmax', None)]:
        m = model([helper.make_node(op, ['x'], ['y'], axis=1)], [vi('x', F, [2, 3, 4, 5])],
                  [vi('y')], 11)
        synthetic_case(f'{op.lower()}11_axis1', m, {'x': x4}, expect_ops=['Flatten', 'Reshape'])
        # Unknown rank, default axis 1.
        nodes = []
        xr = hide_rank('x', nodes)
        m = model(nodes + [helper.make_node(op, [xr], ['y'])], [vi('x', F, [2, 3, 4, 5])],
                  [vi('y', F, [2, 3, 4, 5])], 11)
        synthetic_case(f'{op.lower()}11_default_unknown_rank', m, {'x': x4})
        # Last axis of a known rank: no rewrite.
        m = model([helper.make_node(op, ['x'], ['y'], axis=3)], [vi('x', F, [2, 3, 4, 5])],
                  [vi('y')], 11)
        synthetic_case(f'{op.lower()}11_last_axis', m, {'x': x4}, forbid_ops=['Flatten'])
    nodes = []
    xr = hide_rank('x', nodes)
    m = model(nodes + [helper.make_node('Softmax', [xr], ['y'], axis=-1)],
              [vi('x', F, [2, 3, 4, 5])], [vi('y', F, [2, 3, 4, 5])], 11)
    synthetic_case('softmax11_minus1_unknown_rank', m, {'x': x4}, forbid_ops=['Flatten'])
    # Rank learnt through Reshape(const) -> Relu: default axis 1 of a rank-2 tensor.
    m = model([helper.make_node('Reshape', ['x', 's'], ['r']),
               helper.make_node('Relu', ['r'], ['q']),
               helper.make_node('Softmax', ['q'], ['y'])],
              [vi('x', F, [2, 3, 4, 5])], [vi('y')], 9, [init('s', np.array([6, 20], np.int64))])
    synthetic_case('softmax9_rank_from_reshape', m, {'x': x4}, forbid_ops=['Flatten'])
    m = model([helper.make_node('Softmax', ['x'], ['y'], axis=0)], [vi('x', F, [2, 3, 4, 5])],
              [vi('y')], 1)
    synthetic_case('softmax1_axis0', m, {'x': x4},
                   ref=[softmax_2d(x4, 0, np_softmax)])
    # Zero-size batch through the Flatten/Reshape path (Reshape allowzero=1).
    nodes = []
    xr = hide_rank('x', nodes)
    m = model(nodes + [helper.make_node('Softmax', [xr], ['y'], axis=1)],
              [vi('x', F, ['N', 3, 4])], [vi('y', F, ['N', 3, 4])], 11)
    synthetic_case('softmax11_zero_batch', m, {'x': randf(0, 3, 4)})

    # Clip < 11: attributes -> inputs of the data's type.
    xc = randf(3, 4) * 3
    xc[0, :2] = [np.inf, -np.inf]
    m = model([helper.make_node('Clip', ['x'], ['y'], min=-1.0, max=2.0)], [vi('x', F, [3, 4])],
              [vi('y')], 6)
    synthetic_case('clip6', m, {'x': xc})
    m = model([helper.make_node('Clip', ['x'], ['y'], max=0.5)], [vi('x', F, [3, 4])],
              [vi('y')], 6)
    synthetic_case('clip6_max_only', m, {'x': xc})
    m = model([helper.make_node('Clip', ['x'], ['y'], min=-0.25)], [vi('x', TP.DOUBLE, [3, 4])],
              [vi('y', TP.DOUBLE)], 6)
    xd = xc.astype(np.float64)
    synthetic_case('clip6_double_min_only', m, {'x': xd},
                   ref=[np.clip(xd, np.float64(np.float32(-0.25)),  # Clip-6 default max
                                np.float64(np.finfo(np.float32).max))])
    m = model([helper.make_node('Clip', ['x'], ['y'], min=-0.3, max=0.7)],
              [vi('x', TP.FLOAT16, [3, 4])], [vi('y', TP.FLOAT16)], 6)
    synthetic_case('clip6_float16', m, {'x': xc.astype(np.float16)})
    # Element type unknown to the pass (Compress output): CastLike.
    m = model([helper.make_node('Compress', ['x', 'keep'], ['e'], axis=0),
               helper.make_node('Clip', ['e'], ['y'], min=-1.0, max=1.0)],
              [vi('x', F, [3, 4])], [vi('y', F, [3, 4])], 10,
              [init('keep', np.array([True, True, True]))])
    synthetic_case('clip10_unknown_dtype', m, {'x': xc}, expect_ops=['CastLike'])

    # Pad < 11.
    xp = randf(2, 3)
    m = model([helper.make_node('Pad', ['x'], ['y'], pads=[0, 1, 1, 2], value=1.5)],
              [vi('x', F, [2, 3])], [vi('y')], 2)
    synthetic_case('pad2_constant', m, {'x': xp},
                   ref=[np.pad(xp, ((0, 1), (1, 2)), constant_values=1.5)])
    m = model([helper.make_node('Pad', ['x'], ['y'], pads=[0, 2, 0, 1], mode='reflect')],
              [vi('x', F, [2, 3])], [vi('y')], 2)
    synthetic_case('pad2_reflect', m, {'x': xp}, ref=[np.pad(xp, ((0, 0), (2, 1)), 'reflect')])
    m = model([helper.make_node('Pad', ['x'], ['y'], paddings=[1, 0, 0, 1], value=-2.0)],
              [vi('x', F, [2, 3])], [vi('y', F, [3, 4])], 1)
    synthetic_case('pad1_paddings', m, {'x': xp},
                   ref=[np.pad(xp, ((1, 0), (0, 1)), constant_values=-2.0)])

    # Reduce* < 18 (ReduceSum < 13): axes attribute -> input.
    for op, axes, keep in [('ReduceMean', [1], 0), ('ReduceSum', [0, 2], 1), ('ReduceMax', None, 0),
                           ('ReduceL2', [-1], 1), ('ReduceProd', [3], 0), ('ReduceMin', [], 1),
                           ('ReduceSumSquare', [1, 2], 0), ('ReduceLogSumExp', [0], 1)]:
        node = helper.make_node(op, ['x'], ['y'], keepdims=keep)
        if axes is not None:
            node.attribute.append(helper.make_attribute('axes', axes, attr_type=onnx.AttributeProto.INTS))
        m = model([node], [vi('x', F, [2, 3, 4, 5])], [vi('y')], 11)
        synthetic_case(f'{op.lower()}11_{axes}', m, {'x': x4})

    # Squeeze / Unsqueeze < 13.
    xs = randf(1, 3, 1, 2)
    m = model([helper.make_node('Squeeze', ['x'], ['y'], axes=[0, -2])], [vi('x', F, [1, 3, 1, 2])],
              [vi('y')], 11)
    synthetic_case('squeeze11', m, {'x': xs})
    m = model([helper.make_node('Squeeze', ['x'], ['y'])], [vi('x', F, [1, 3, 1, 2])], [vi('y')], 11)
    synthetic_case('squeeze11_all', m, {'x': xs})
    m = model([helper.make_node('Unsqueeze', ['x'], ['y'], axes=[0, 3])], [vi('x', F, [2, 3])],
              [vi('y')], 11)
    synthetic_case('unsqueeze11', m, {'x': xp})

    # Partial targets: only the steps up to the target apply.
    m = model([helper.make_node('ReduceSum', ['x'], ['s'], axes=[1]),
               helper.make_node('ReduceMean', ['s'], ['y'], axes=[0]),
               helper.make_node('Softmax', ['x'], ['z'], axis=1)],
              [vi('x', F, [2, 3, 4, 5])], [vi('y'), vi('z')], 11)
    synthetic_case('reduce_softmax11_to13', m, {'x': x4}, target=13, expect_ops=['Flatten'])
    m = model([helper.make_node('Clip', ['x'], ['y'], min=-1.0, max=2.0)], [vi('x', F, [3, 4])],
              [vi('y')], 6)
    synthetic_case('clip6_to11', m, {'x': xc}, target=11)

    # Split.
    m = model([helper.make_node('Split', ['x'], ['a', 'b'], axis=1, split=[1, 2])],
              [vi('x', F, [2, 3])], [vi('a'), vi('b')], 11)
    synthetic_case('split11_sizes', m, {'x': xp})
    m = model([helper.make_node('Split', ['x'], ['a', 'b', 'c'], axis=1)],
              [vi('x', F, [2, 3])], [vi('a'), vi('b'), vi('c')], 11)
    synthetic_case('split11_equal', m, {'x': xp})
    m = model([helper.make_node('Split', ['x'], ['a', 'b'], axis=0)],
              [vi('x', F, [4, 3])], [vi('a'), vi('b')], 13)
    synthetic_case('split13_equal', m, {'x': randf(4, 3)})

    # Slice < 10, TopK < 10, Reshape < 5, Concat < 4, Cast < 6.
    m = model([helper.make_node('Slice', ['x'], ['y'], starts=[1, -3], ends=[1000, -1], axes=[0, 3])],
              [vi('x', F, [2, 3, 4, 5])], [vi('y')], 9)
    synthetic_case('slice9', m, {'x': x4})
    m = model([helper.make_node('Slice', ['x'], ['y'], starts=[0, 1], ends=[1, 3])],
              [vi('x', F, [2, 3])], [vi('y')], 9)
    synthetic_case('slice9_no_axes', m, {'x': xp})
    m = model([helper.make_node('TopK', ['x'], ['v', 'i'], k=2, axis=1)], [vi('x', F, [3, 4])],
              [vi('v'), vi('i', TP.INT64)], 9)
    synthetic_case('topk9', m, {'x': xc})
    m = model([helper.make_node('Reshape', ['x'], ['y'], shape=[3, -1])], [vi('x', F, [2, 3])],
              [vi('y', F, [3, 2])], 1)
    synthetic_case('reshape1', m, {'x': xp}, ref=[xp.reshape(3, -1)])
    m = model([helper.make_node('Concat', ['x', 'x'], ['y'])], [vi('x', F, [2, 3])],
              [vi('y', F, [2, 6])], 1)
    synthetic_case('concat1_default_axis', m, {'x': xp}, ref=[np.concatenate([xp, xp], 1)])
    m = model([helper.make_node('Cast', ['x'], ['y'], to='INT32')], [vi('x', F, [2, 3])],
              [vi('y', TP.INT32, [2, 3])], 1)
    xi = (xp * 10).astype(np.float32)
    synthetic_case('cast1_string_to', m, {'x': xi}, ref=[xi.astype(np.int32)])

    # Dropout.
    for opset, kw in [(7, {'ratio': 0.3}), (10, {'ratio': 0.2}), (6, {'is_test': 1, 'ratio': 0.5}),
                      (1, {'is_test': 1, 'consumed_inputs': [0]})]:
        m = model([helper.make_node('Dropout', ['x'], ['y'], **kw)], [vi('x', F, [2, 3])],
                  [vi('y', F, [2, 3])], opset)
        synthetic_case(f'dropout{opset}', m, {'x': xp}, ref=[xp])

    # BatchNormalization < 9.
    xb = randf(2, 3, 4, 4)
    sc, bi, mu, var = randf(3), randf(3), randf(3), np.abs(randf(3)) + 0.5
    bn_ref = [(xb - mu[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5) * sc[:, None, None]
              + bi[:, None, None]]
    bn_inits = [init('s', sc), init('b', bi), init('m', mu), init('v', var)]
    m = model([helper.make_node('BatchNormalization', ['x', 's', 'b', 'm', 'v'], ['y'], spatial=1)],
              [vi('x', F, [2, 3, 4, 4])], [vi('y')], 7, bn_inits)
    synthetic_case('batchnorm7_spatial1', m, {'x': xb}, ref=bn_ref)
    m = model([helper.make_node('BatchNormalization', ['x', 's', 'b', 'm', 'v'], ['y'], is_test=1,
                                consumed_inputs=[0, 0, 0, 1, 1])],
              [vi('x', F, [2, 3, 4, 4])], [vi('y', F, [2, 3, 4, 4])], 1, bn_inits)
    synthetic_case('batchnorm1_is_test', m, {'x': xb}, ref=bn_ref)

    # Upsample -> Resize (asymmetric, nearest floors).
    xu = randf(1, 2, 3, 4)
    m = model([helper.make_node('Upsample', ['x'], ['y'], scales=[1.0, 1.0, 2.0, 3.0])],
              [vi('x', F, [1, 2, 3, 4])], [vi('y')], 7)
    synthetic_case('upsample7_nearest', m, {'x': xu}, expect_ops=['Resize'],
                   ref=[xu.repeat(2, axis=2).repeat(3, axis=3)])
    m = model([helper.make_node('Upsample', ['x', 's'], ['y'], mode='linear')],
              [vi('x', F, [1, 2, 3, 4])], [vi('y')], 9,
              [init('s', np.array([1, 1, 2, 2.5], np.float32))])
    synthetic_case('upsample9_linear', m, {'x': xu})
    m = model([helper.make_node('Upsample', ['x', 's'], ['y'])],
              [vi('x', F, [1, 2, 3, 4]), vi('s', F, [4])], [vi('y')], 9)
    synthetic_case('upsample9_nearest_dynamic', m,
                   {'x': xu, 's': np.array([1, 1, 1.5, 2.5], np.float32)})
    m = model([helper.make_node('Upsample', ['x'], ['y'], height_scale=2.0, width_scale=2.0)],
              [vi('x', F, [1, 2, 3, 4])], [vi('y', F, [1, 2, 6, 8])], 1)
    synthetic_case('upsample1', m, {'x': xu}, ref=[xu.repeat(2, axis=2).repeat(2, axis=3)])

    # Resize 10 -> 11+.
    xr = randf(1, 1, 7, 9)
    for tag, mode, scales in [('nearest_up', 'nearest', [1, 1, 2.5, 1.7]),
                              ('nearest_down', 'nearest', [1, 1, 0.6, 0.5]),
                              ('linear_down', 'linear', [1, 1, 0.6, 0.5]),
                              ('linear_up', 'linear', [1, 1, 1.5, 2.0])]:
        m = model([helper.make_node('Resize', ['x', 's'], ['y'], mode=mode)],
                  [vi('x', F, [1, 1, 7, 9])], [vi('y')], 10,
                  [init('s', np.array(scales, np.float32))])
        synthetic_case(f'resize10_{tag}', m, {'x': xr})
    # Resize 11 -> 13+: empty roi/scales dropped.
    m = model([helper.make_node('Resize', ['x', 'roi', 'sc', 'sz'], ['y'], mode='linear')],
              [vi('x', F, [1, 1, 7, 9])], [vi('y')], 11,
              [init('roi', np.zeros(0, np.float32)), init('sc', np.zeros(0, np.float32)),
               init('sz', np.array([1, 1, 5, 12], np.int64))])
    synthetic_case('resize11_sizes', m, {'x': xr})

    # Legacy broadcasting (< 7).
    a = randf(2, 3, 4, 5)
    b = randf(3, 4)
    m = model([helper.make_node('Add', ['a', 'b'], ['y'], broadcast=1, axis=1)],
              [vi('a', F, [2, 3, 4, 5])], [vi('y')], 6, [init('b', b)])
    synthetic_case('add6_axis_initializer', m, {'a': a}, ref=[a + b[:, :, None]])
    m = model([helper.make_node('Mul', ['a', 'b'], ['y'], broadcast=1, axis=1)],
              [vi('a', F, [2, 3, 4, 5]), vi('b', F, [3, 4])], [vi('y')], 6)
    synthetic_case('mul6_axis_input', m, {'a': a, 'b': b}, expect_ops=['Unsqueeze'],
                   ref=[a * b[:, :, None]])
    b5 = randf(5)
    m = model([helper.make_node('Sub', ['a', 'b'], ['y'], broadcast=1)],
              [vi('a', F, [2, 3, 4, 5]), vi('b', F, [5])], [vi('y')], 6)
    synthetic_case('sub6_suffix', m, {'a': a, 'b': b5}, ref=[a - b5])
    c = randf(4)
    am, bm = randf(3, 5), randf(5, 4)
    m = model([helper.make_node('Gemm', ['a', 'b', 'c'], ['y'], broadcast=1, alpha=0.5)],
              [vi('a', F, [3, 5]), vi('b', F, [5, 4]), vi('c', F, [4])], [vi('y')], 6)
    synthetic_case('gemm6_broadcast', m, {'a': am, 'b': bm, 'c': c}, ref=[0.5 * am @ bm + c])

    # Scatter -> ScatterElements.
    data = np.zeros((3, 3), np.float32)
    idx = np.array([[1, 0, 2], [0, 2, 1]], np.int64)
    upd = randf(2, 3)
    m = model([helper.make_node('Scatter', ['d', 'i', 'u'], ['y'], axis=0)],
              [vi('d', F, [3, 3]), vi('i', TP.INT64, [2, 3]), vi('u', F, [2, 3])], [vi('y')], 9)
    synthetic_case('scatter9', m, {'d': data, 'i': idx, 'u': upd}, expect_ops=['ScatterElements'])

    # GroupNormalization 18 -> 21 (per-group scale/bias to per-channel).
    xg = randf(2, 6, 3, 3)
    gs, gb = randf(3), randf(3)

    def gn_ref(x, s, bb, g, eps=1e-5):
        n, ch = x.shape[:2]
        xr_ = x.reshape(n, g, -1)
        y = (xr_ - xr_.mean(-1, keepdims=True)) / np.sqrt(xr_.var(-1, keepdims=True) + eps)
        y = y.reshape(n, g, ch // g, *x.shape[2:])
        y = y * s.reshape(1, g, 1, 1, 1) + bb.reshape(1, g, 1, 1, 1)
        return y.reshape(x.shape).astype(np.float32)
    m = model([helper.make_node('GroupNormalization', ['x', 's', 'b'], ['y'], num_groups=3)],
              [vi('x', F, [2, 6, 3, 3])], [vi('y', F, [2, 6, 3, 3])], 18,
              [init('s', gs), init('b', gb)])
    synthetic_case('groupnorm18_const', m, {'x': xg}, ref=[gn_ref(xg, gs, gb, 3)])
    m = model([helper.make_node('GroupNormalization', ['x', 's', 'b'], ['y'], num_groups=3)],
              [vi('x', F, ['N', 'C', 'H', 'W']), vi('s', F, [3]), vi('b', F, [3])],
              [vi('y', F, ['N', 'C', 'H', 'W'])], 18)
    synthetic_case('groupnorm18_dynamic', m, {'x': xg, 's': gs, 'b': gb},
                   ref=[gn_ref(xg, gs, gb, 3)], expect_ops=['Expand'])

    # Selu-1 defaults, v1 consumed_inputs, ConvTranspose with explicit pads (bump only).
    xe = randf(3, 4)
    m = model([helper.make_node('Selu', ['x'], ['y'], consumed_inputs=[0])], [vi('x', F, [3, 4])],
              [vi('y', F, [3, 4])], 1)
    synthetic_case('selu1_defaults', m, {'x': xe},
                   ref=[np.where(xe > 0, 1.0507 * xe, 1.0507 * 1.6732 * (np.exp(xe) - 1))
                        .astype(np.float32)])
    m = model([helper.make_node('ConvTranspose', ['x', 'w'], ['y'], strides=[2, 2],
                                pads=[1, 0, 0, 1])],
              [vi('x', F, [1, 1, 5, 5])], [vi('y')], 10, [init('w', randf(1, 1, 3, 3))])
    synthetic_case('convtranspose10_pads', m, {'x': randf(1, 1, 5, 5)})

    # Nodes of other domains are kept; If subgraphs that need no rewriting are accepted.
    m = model([helper.make_node('Gelu', ['x'], ['g'], domain='com.microsoft'),
               helper.make_node('Softmax', ['g'], ['y'], axis=1)],
              [vi('x', F, [2, 3, 4])], [vi('y', F, [2, 3, 4])], 11,
              extra_opsets=[('com.microsoft', 1)])
    synthetic_case('other_domain_kept', m, {'x': randf(2, 3, 4)}, expect_ops=['Gelu'])
    then_g = helper.make_graph([helper.make_node('Add', ['x', 'x'], ['t'])], 'then', [], [vi('t')])
    else_g = helper.make_graph([helper.make_node('Neg', ['x'], ['e'])], 'else', [], [vi('e')])
    m = model([helper.make_node('If', ['c'], ['y'], then_branch=then_g, else_branch=else_g)],
              [vi('c', TP.BOOL, []), vi('x', F, [2, 3])], [vi('y')], 11)
    synthetic_case('if11_plain_subgraphs', m, {'c': np.array(True), 'x': xp})

    # ---- refusals: nothing is written and every refused node is named.
    m = model([helper.make_node('ConvTranspose', ['x', 'w'], ['y'], strides=[2, 2],
                                auto_pad='SAME_UPPER', name='ct_same'),
               helper.make_node('BatchNormalization', ['y', 's', 'b', 'm', 'v'], ['z'], spatial=0,
                                name='bn_spatial0'),
               helper.make_node('FooBar', ['z'], ['w2'], name='unknown_op')],
              [vi('x', F, [1, 3, 5, 5])], [vi('w2')], 7,
              [init('w', randf(3, 3, 3, 3)), init('s', sc), init('b', bi), init('m', mu),
               init('v', var)])
    refusal_case('three_nodes', m, ['3 node(s)', "'ct_same'", "'bn_spatial0'", "'unknown_op'",
                                    'ConvTranspose', 'opset 7'])
    m = model([helper.make_node('Resize', ['x', 's'], ['y'], name='rz_dyn')],
              [vi('x', F, [1, 1, 4, 4]), vi('s', F, [4])], [vi('y')], 10)
    refusal_case('resize10_nearest_dynamic', m, ["'rz_dyn'"])
    m = model([helper.make_node('Resize', ['x', 's'], ['y'], name='rz_mixed')],
              [vi('x', F, [1, 1, 4, 4])], [vi('y')], 10,
              [init('s', np.array([1, 1, 2, 0.5], np.float32))])
    refusal_case('resize10_nearest_mixed', m, ["'rz_mixed'"])
    m = model([helper.make_node('Resize', ['x', 'r', 's'], ['y'], name='rz_tf',
                                coordinate_transformation_mode='tf_half_pixel_for_nn')],
              [vi('x', F, [1, 1, 4, 4])], [vi('y')], 11,
              [init('r', np.zeros(0, np.float32)), init('s', np.array([1, 1, 2, 2], np.float32))])
    refusal_case('resize11_tf_half_pixel_for_nn', m, ["'rz_tf'"])
    m = model([helper.make_node('Dropout', ['x'], ['y', 'mask'], name='drop_mask'),
               helper.make_node('Mul', ['y', 'mask'], ['z'])],
              [vi('x', F, [2, 3])], [vi('z')], 7)
    refusal_case('dropout7_mask_used', m, ["'drop_mask'"])
    m = model([helper.make_node('BatchNormalization', ['x', 's', 'b', 'm', 'v'],
                                ['y', 'rm', 'rv'], name='bn_train')],
              [vi('x', F, [2, 3, 4, 4])], [vi('y')], 9, bn_inits)
    refusal_case('batchnorm9_training', m, ["'bn_train'"])
    inner = helper.make_graph([helper.make_node('Softmax', ['x'], ['t'], name='inner_sm')],
                              'then', [], [vi('t')])
    m = model([helper.make_node('If', ['c'], ['y'], then_branch=inner, else_branch=inner,
                                name='if_node')],
              [vi('c', TP.BOOL, []), vi('x', F, [2, 3])], [vi('y')], 11)
    refusal_case('if11_subgraph_needs_rewrite', m, ["'if_node'", "'inner_sm'"])
    m = model([helper.make_node('QuantizeLinear', ['x', 's'], ['y'], name='q_int32')],
              [vi('x', TP.INT32, [4])], [vi('y', TP.UINT8, [4])], 10,
              [init('s', np.array(0.5, np.float32))])
    refusal_case('quantize10_int32', m, ["'q_int32'"])
    fn = helper.make_function('local', 'F', ['a'], ['b'], [helper.make_node('Relu', ['a'], ['b'])],
                              [helper.make_opsetid('', 13)])
    m = model([helper.make_node('F', ['x'], ['y'], domain='local')], [vi('x', F, [2])],
              [vi('y', F, [2])], 13, extra_opsets=[('local', 1)])
    m.functions.append(fn)
    refusal_case('local_function', m, ["function 'F'"])
    m = model([helper.make_node('Relu', ['x'], ['y'])], [vi('x', F, [2])], [vi('y')], 13)
    refusal_case('target_below_model', m, ['below'], target=11, status='usage error')
    refusal_case('target_above_max', m, ['above'], target=22, status='unsupported')


def main():
    rules = check_table()
    real_models()
    node_tests(rules)
    synthetic()
    shutil.rmtree(TMP, ignore_errors=True)
    print(f'{passed} passed, {failed} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
