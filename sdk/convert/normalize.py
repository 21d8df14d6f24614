"""Write out what converters assume: default attributes, auto_pad as pads, Pad's axes folded
into its pads, a readable IR.

ONNX lets an exporter leave attributes at their defaults; converters do not all know the
defaults. MNN divides by zero on a pooling node without ``strides`` (ONNX's default is 1),
and ncnn has no layer for a Conv with ``auto_pad=SAME_LOWER``. pnnx reads IR versions up to
13 only ("max supported IR version: 13"). Every rewrite here keeps the model's meaning, so
onnxruntime's reference of the normalized model is the reference of the user's model.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnx

# the oldest IR version every converter reads (pnnx: 13); lowered to the least the opset needs
MAX_IR_VERSION = 10

_WINDOW_OPS = {"Conv", "MaxPool", "AveragePool", "LpPool", "ConvTranspose"}
_DILATED = {"Conv", "MaxPool", "ConvTranspose"}


def _shapes(proto: onnx.ModelProto) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for vi in [*proto.graph.input, *proto.graph.value_info, *proto.graph.output]:
        t = vi.type.tensor_type
        if t.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") else 0 for d in t.shape.dim]
            out[vi.name] = dims
    for init in proto.graph.initializer:
        out[init.name] = list(init.dims)
    return out


def _same_pads(size: list[int], kernel: list[int], strides: list[int], dilations: list[int],
               lower: bool) -> list[int]:
    begin, end = [], []
    for n, k, s, d in zip(size, kernel, strides, dilations, strict=True):
        out = math.ceil(n / s)
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - n)
        small, big = total // 2, total - total // 2
        begin.append(big if lower else small)
        end.append(small if lower else big)
    return begin + end


def _pad_axes(proto: onnx.ModelProto, shapes: dict[str, list[int]]) -> list[str]:
    """Pad-18's ``axes`` input folded into full ``pads`` (neither converter reads it: ncnn
    leaves the Pad unconverted, MNN gives no output)."""
    import numpy as np
    from onnx import numpy_helper

    inits = {i.name: i for i in proto.graph.initializer}
    done: list[str] = []
    for node in proto.graph.node:
        if node.op_type != "Pad" or node.domain not in ("", "ai.onnx") or len(node.input) < 4:
            continue
        rank = len(shapes.get(node.input[0], []))
        pads_t, axes_t = inits.get(node.input[1]), inits.get(node.input[3])
        if not rank or not node.input[3] or pads_t is None or axes_t is None:
            continue
        pads = numpy_helper.to_array(pads_t).astype(np.int64)
        axes = [int(a) % rank for a in numpy_helper.to_array(axes_t)]
        full = np.zeros(2 * rank, dtype=np.int64)
        for i, axis in enumerate(axes):
            full[axis], full[rank + axis] = pads[i], pads[len(axes) + i]
        name = f"{node.name or node.output[0]}__pads"
        proto.graph.initializer.append(numpy_helper.from_array(full, name))
        node.input[1] = name
        del node.input[3:]
        while node.input and not node.input[-1]:  # no constant_value: no trailing empty input
            del node.input[-1]
        done.append(f"Pad {node.name or node.output[0]!r}: axes folded into pads")
    return done


def normalize(proto: onnx.ModelProto) -> list[str]:
    """Rewrite ``proto`` in place; a list of what was rewritten (for the record)."""
    from onnx import helper

    shapes = _shapes(proto)
    done = _pad_axes(proto, shapes)
    for node in proto.graph.node:
        if node.op_type not in _WINDOW_OPS or node.domain not in ("", "ai.onnx"):
            continue
        attrs: dict[str, Any] = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        kernel = attrs.get("kernel_shape")
        if kernel is None and node.op_type in ("Conv", "ConvTranspose") and len(node.input) > 1:
            w = shapes.get(node.input[1])
            if w and len(w) > 2 and all(w[2:]):
                kernel = list(w[2:])
        if not kernel:
            continue
        rank = len(kernel)
        new: dict[str, Any] = {}
        if "kernel_shape" not in attrs:
            new["kernel_shape"] = list(kernel)
        strides = list(attrs.get("strides") or [1] * rank)
        dilations = list(attrs.get("dilations") or [1] * rank)
        if "strides" not in attrs:
            new["strides"] = strides
        if node.op_type in _DILATED and "dilations" not in attrs:
            new["dilations"] = dilations
        auto_pad = attrs.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)
        drop_auto_pad = False
        if auto_pad in ("", "NOTSET"):
            if "pads" not in attrs:
                new["pads"] = [0] * (2 * rank)
            drop_auto_pad = "auto_pad" in attrs
        elif node.op_type != "ConvTranspose":
            x = shapes.get(node.input[0])
            if x and len(x) == rank + 2 and all(x[2:]):
                if auto_pad == "VALID":
                    new["pads"] = [0] * (2 * rank)
                else:
                    new["pads"] = _same_pads(x[2:], list(kernel), strides, dilations,
                                             lower=auto_pad == "SAME_LOWER")
                drop_auto_pad = True
        if not new and not drop_auto_pad:
            continue
        keep = [a for a in node.attribute
                if a.name not in new and not (drop_auto_pad and a.name == "auto_pad")]
        del node.attribute[:]
        node.attribute.extend(keep)
        for name, value in new.items():
            node.attribute.append(helper.make_attribute(name, value))
        resolved = drop_auto_pad and auto_pad not in ("", "NOTSET")
        what = ", ".join(sorted(new)) + (" (from auto_pad)" if resolved else "")
        done.append(f"{node.op_type} {node.name or node.output[0]!r}: wrote {what}")
    need = helper.find_min_ir_version_for(list(proto.opset_import), ignore_unknown=True)
    target = max(min(proto.ir_version, MAX_IR_VERSION), need)
    if target < proto.ir_version:
        done.append(f"IR version {proto.ir_version} -> {target}")
        proto.ir_version = target
    return done
