"""Task metrics that compare an int8 model's outputs with the float model's (numpy only).

Cosine and max-abs say how far tensors moved; these say whether the task still works:
the text mask a detector finds (:func:`mask_iou`), the characters a CTC recogniser reads
(:func:`char_agreement`), the class a classifier picks (:func:`top1_agreement`).
They live in :mod:`sdk.device.tasks` (the board judges its int8 outputs by them too); this
module adds what needs the ONNX graph.
"""

from __future__ import annotations

from pathlib import Path

from sdk.device.tasks import (
    char_agreement,
    cosine,
    ctc_decode,
    decision_margins,
    levenshtein,
    margin_cosine,
    mask_iou,
    output_cosine,
    top1_agreement,
)

__all__ = [
    "char_agreement",
    "cosine",
    "ctc_decode",
    "decision_margins",
    "levenshtein",
    "margin_cosine",
    "mask_iou",
    "output_cosine",
    "softmax_outputs",
    "top1_agreement",
]


def softmax_outputs(onnx_path: Path) -> list[str]:
    """The graph outputs that are a Softmax over their last axis (through Identity nodes):
    class scores, whose budget is measured on the decision margins (see :func:`sdk.quantize.accuracy`)."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    producer = {t: n for n in model.graph.node for t in n.output}
    found = []
    for out in model.graph.output:
        rank = len(out.type.tensor_type.shape.dim)
        node = producer.get(out.name)
        while node is not None and node.op_type == "Identity":
            node = producer.get(node.input[0])
        if node is None or node.op_type != "Softmax" or rank < 1:
            continue
        axes = [onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"]
        axis = axes[0] if axes else (-1 if model.opset_import[0].version >= 13 else 1)
        if axis in (-1, rank - 1):
            found.append(out.name)
    return found
