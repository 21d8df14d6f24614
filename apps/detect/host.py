"""The detect app's host reference: onnxruntime + numpy decode + ``cv2.dnn.NMSBoxesBatched``.

Independent of the project's kernels: letterbox with ``cv2.resize`` + ``cv2.copyMakeBorder``
(the usual Ultralytics recipe), the (1, 4 + C, N) output transposed and decoded in numpy, NMS
per class by OpenCV, boxes mapped back to the source image and clipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np


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


def reference(model: Path, img: np.ndarray, score: float = 0.25, iou: float = 0.45) -> list[dict[str, Any]]:
    """Detections of ``model`` on the BGR ``img``, in source pixels, by score."""
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


def compare(host: list[dict[str, Any]], board: list[dict[str, Any]], min_score: float = 0.5,
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
    return {"host_boxes": len(ious), "matched": matched, "min_iou": min(ious, default=1.0),
            "ok": matched == len(ious), "rule": f"host score >= {min_score}: same class, IoU >= {min_iou}"}
