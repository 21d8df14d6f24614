"""The ONNX each converter reads: the opset lowered to its newest, its own op fixes applied.

``prepare`` makes one model for every engine; converters differ in what they read. pnnx's
onnxruntime loads opsets up to 26 only (opset 28 dies in ``ort CreateSession`` before any
conversion), and it reads the ``axes`` input of ReduceMean-18 (ReduceSum-13) as one int its
ncnn pass then drops: the reduction becomes a no-op. MNN's converter reduces ReduceL2-18 to a
scalar. In the attribute form of the older opsets both read the axes right.

Every copy made here is checked by onnxruntime against the prepared model on seeded inputs
before a converter sees it; a copy that changes any output (or fails to load) is dropped and
the converter gets the prepared model, so the reference stays the reference of the user's model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sdk.convert.normalize import MAX_IR_VERSION

if TYPE_CHECKING:
    import onnx

    from sdk.convert.prepare import PreparedModel

# an op rewrite for one converter: changes the model in place, says what it did (or nothing)
Fix = Callable[["onnx.ModelProto"], list[str]]

# ReduceSum took axes as an input from opset 13, the other reductions from 18
_AXES_INPUT_SINCE = {"ReduceSum": 13, **{op: 18 for op in (
    "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
    "ReduceLogSumExp", "ReduceSumSquare")}}


def opset_of(proto: onnx.ModelProto) -> int:
    return next((int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)


def attribute_axes_opset(proto: onnx.ModelProto, newest: int) -> int:
    """The newest opset <= ``newest`` where every reduction of ``proto`` takes its axes as an
    attribute (ReduceSum: 12, the others: 17)."""
    ops = {n.op_type for n in proto.graph.node if n.domain in ("", "ai.onnx")}
    return min([newest, *(since - 1 for op, since in _AXES_INPUT_SINCE.items() if op in ops)])


def lower_opset(proto: onnx.ModelProto, targets: Sequence[int]) -> tuple[onnx.ModelProto, str] | None:
    """``proto`` converted to the first of ``targets`` below its opset that ONNX's version
    converter reaches (some ops have no adapter down to older opsets); None if none."""
    import onnx
    from onnx import helper, version_converter

    current = opset_of(proto)
    for target in targets:
        if target >= current:
            continue
        try:
            low = version_converter.convert_version(proto, target)
            need = helper.find_min_ir_version_for(list(low.opset_import), ignore_unknown=True)
            low.ir_version = max(need, min(proto.ir_version, MAX_IR_VERSION))
            onnx.checker.check_model(low)
        except Exception:  # no adapter for an op, or an invalid result: try the next target
            continue
        return low, f"opset {current} -> {target}"
    return None


def split_variadic(proto: onnx.ModelProto) -> list[str]:
    """Max, Min and Sum of 3+ inputs as chains of two-input Max, Min, Add (ncnn's BinaryOp
    takes two: pnnx drops the rest), Mean of 2+ as an Add chain times 1/n (ncnn has no Mean layer, MNN
    gives no output for one)."""
    import numpy as np
    from onnx import helper, numpy_helper

    done: list[str] = []
    nodes = []
    for node in proto.graph.node:
        n = len(node.input)
        if node.domain not in ("", "ai.onnx") or not (
                (node.op_type in ("Max", "Min", "Sum") and n > 2) or (node.op_type == "Mean" and n > 1)):
            nodes.append(node)
            continue
        op = "Add" if node.op_type in ("Sum", "Mean") else node.op_type
        base = node.name or node.output[0]
        last = node.input[0]
        for i, name in enumerate(node.input[1:], 1):
            final = i == n - 1 and node.op_type != "Mean"
            out = node.output[0] if final else f"{base}__{op.lower()}{i}"
            nodes.append(helper.make_node(op, [last, name], [out], name=f"{base}__{i}"))
            last = out
        if node.op_type == "Mean":
            scale = numpy_helper.from_array(np.array(1.0 / n, dtype=np.float32), f"{base}__1_over_{n}")
            proto.graph.initializer.append(scale)
            nodes.append(helper.make_node("Mul", [last, scale.name], [node.output[0]], name=f"{base}__mean"))
        done.append(f"{node.op_type} {base!r} of {n} inputs as two-input {op} nodes")
    if done:
        del proto.graph.node[:]
        proto.graph.node.extend(nodes)
    return done


def converter_input(prepared: PreparedModel, out: Path, newest: int | None,
                    fixes: Sequence[Fix] = ()) -> tuple[Path, list[str]]:
    """The model a converter whose newest opset is ``newest`` (None: any) should read, and what was done
    to make it from ``prepared``: the opset lowered (to where reductions take attribute axes,
    else to ``newest``), then each of ``fixes``. The copy is written to ``out`` only if
    onnxruntime gives the prepared model's outputs; otherwise (or with nothing to do) it is
    ``prepared.path`` and no rewrites."""
    import onnx

    proto = onnx.load(str(prepared.path))
    done: list[str] = []
    newest = opset_of(proto) if newest is None else newest
    lowered = lower_opset(proto, (attribute_axes_opset(proto, newest), newest))
    if lowered is not None:
        proto, what = lowered
        done.append(what)
    for fix in fixes:
        done.extend(fix(proto))
    out.unlink(missing_ok=True)
    if not done or not same_outputs(prepared, proto, out):
        return prepared.path, []
    return out, done


def same_outputs(prepared: PreparedModel, proto: onnx.ModelProto, out: Path) -> bool:
    """Save ``proto`` to ``out`` if it checks and onnxruntime gives the prepared model's
    outputs on seeded inputs (NaN where they have NaN); otherwise remove ``out``."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    from sdk.convert.validate import make_golden_inputs

    try:
        onnx.checker.check_model(proto)
        onnx.save(proto, str(out))
        feeds = make_golden_inputs(prepared)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        a = ort.InferenceSession(str(prepared.path), opts, providers=["CPUExecutionProvider"])
        b = ort.InferenceSession(str(out), opts, providers=["CPUExecutionProvider"])
        for ra, rb in zip(a.run(None, feeds), b.run(None, feeds), strict=True):
            if ra.shape != rb.shape or not np.allclose(ra, rb, rtol=1e-4, atol=1e-5, equal_nan=True):
                raise ValueError("the rewrite changed the outputs")
    except Exception:
        out.unlink(missing_ok=True)
        return False
    return True
