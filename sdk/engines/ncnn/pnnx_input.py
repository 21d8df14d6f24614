"""The ONNX pnnx reads well: what ncnn gets wrong or lacks, rewritten before pnnx sees it.

Each rewrite is a :data:`sdk.convert.lower.Fix`; :func:`pnnx_input` applies them after the
opset is lowered for pnnx, and the copy is used only if onnxruntime gives the prepared
model's outputs on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sdk.convert.lower import converter_input, split_variadic

if TYPE_CHECKING:
    import onnx

    from sdk.convert.prepare import PreparedModel

# pnnx runs the model in its own onnxruntime (1.30), which loads opsets up to 26
PNNX_NEWEST_OPSET = 26

# ONNX's Selu constants (the op's defaults)
_SELU_ALPHA = 1.67326319217681884765625
_SELU_GAMMA = 1.05070102214813232421875


def pnnx_input(prepared: PreparedModel, out: Path) -> tuple[Path, list[str]]:
    """The model to hand pnnx (``out`` or the prepared model) and the rewrites made."""
    return converter_input(prepared, out, PNNX_NEWEST_OPSET, (split_variadic, selu_as_elu, keep_batch))


def selu_as_elu(proto: onnx.ModelProto) -> list[str]:
    """Selu(x) = gamma * Elu(x, alpha): ncnn has ELU and no Selu (pnnx leaves it unconverted)."""
    import numpy as np
    from onnx import helper, numpy_helper

    done: list[str] = []
    nodes = []
    for node in proto.graph.node:
        if node.op_type != "Selu" or node.domain not in ("", "ai.onnx"):
            nodes.append(node)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        base = node.name or node.output[0]
        gamma = numpy_helper.from_array(np.array(attrs.get("gamma", _SELU_GAMMA), dtype=np.float32),
                                        f"{base}__gamma")
        proto.graph.initializer.append(gamma)
        nodes.append(helper.make_node("Elu", [node.input[0]], [f"{base}__elu"], name=f"{base}__elu",
                                      alpha=float(attrs.get("alpha", _SELU_ALPHA))))
        nodes.append(helper.make_node("Mul", [f"{base}__elu", gamma.name], [node.output[0]], name=base))
        done.append(f"Selu {base!r} as gamma * Elu")
    if done:
        del proto.graph.node[:]
        proto.graph.node.extend(nodes)
    return done


def keep_batch(model: onnx.ModelProto) -> list[str]:
    """Exporters (paddle2onnx) flatten ``[1, T, C]`` to ``[T, C]`` around a MatMul; pnnx then
    loses track of the batch axis (it squeezes axis 0 for ncnn) and leaves reshapes of rank
    5 unconverted. This keeps the leading 1 on such reshapes and turns the 2-D Gemm that
    consumes them into MatMul + Add; all of them or none (a Gemm it cannot turn)."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    proto = onnx.ModelProto()
    proto.CopyFrom(model)
    inferred = onnx.shape_inference.infer_shapes(proto)
    shapes: dict[str, list[int]] = {}
    for vi in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    inits = {i.name: i for i in proto.graph.initializer}
    changed: set[str] = set()
    rewrites = 0
    nodes = []
    for node in proto.graph.node:
        if node.op_type == "Reshape":
            src, dst = shapes.get(node.input[0]), shapes.get(node.output[0])
            if src and dst and src[0] == 1 and dst[0] != 1 and len(dst) >= 2 and all(dst):
                target = numpy_helper.from_array(
                    np.array([1, *dst], dtype=np.int64), f"{node.output[0]}__keep_batch"
                )
                proto.graph.initializer.append(target)
                node.input[1] = target.name
                changed.add(node.output[0])
                rewrites += 1
        elif node.op_type == "Gemm" and node.input[0] in changed:
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            if (
                attrs.get("transA", 0)
                or attrs.get("alpha", 1.0) != 1.0
                or attrs.get("beta", 1.0) != 1.0
                or node.input[1] not in inits
            ):
                return []
            weight = numpy_helper.to_array(inits[node.input[1]])
            if attrs.get("transB", 0):
                weight = weight.T
            wname = f"{node.input[1]}__keep_batch"
            proto.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(weight), wname))
            has_bias = len(node.input) >= 3 and bool(node.input[2])
            mm_out = f"{node.output[0]}__mm" if has_bias else node.output[0]
            nodes.append(
                helper.make_node("MatMul", [node.input[0], wname], [mm_out], name=f"{node.name}__mm")
            )
            if has_bias:
                nodes.append(
                    helper.make_node(
                        "Add", [mm_out, node.input[2]], [node.output[0]], name=f"{node.name}__add"
                    )
                )
            changed.add(node.output[0])
            continue
        nodes.append(node)
    if not rewrites:
        return []
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    del proto.graph.value_info[:]
    used = {i for n in proto.graph.node for i in n.input}
    keep = [i for i in proto.graph.initializer if i.name in used]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(keep)
    model.CopyFrom(proto)
    return [f"{rewrites} reshape(s) keep the batch axis for pnnx"]
