"""Detections from a YOLO head, and how far two models' detections agree.

Runs on the host and on the board: numpy and stdlib only, plus ``sdk._kernels`` for the
decode + NMS when it is there (:func:`decode_nms_reference`, its numpy twin, otherwise).
Layouts: YOLOv8/v11 (``[1, 4 + C, N]``: cx, cy, w, h in input pixels, then C class scores)
and YOLOv5/v7 (``[1, N, 5 + C]``: cx, cy, w, h, objectness, C class scores; score =
objectness x class). :func:`detection_agreement` is the ``detect`` task's figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sdk.device.similarity import cosine, output_cosine

LAYOUTS = ("yolov8", "yolov5")
SCORE_THRESHOLD = 0.25  # a detection counts from this score on
IOU_MATCH = 0.5  # two detections are the same object from this IoU on (same class)
NMS_IOU = 0.45  # NMS suppression, as the ultralytics exporters' default
MAX_DETECTIONS = 300


@dataclass(frozen=True)
class Detections:
    """One image's detections in network-input pixels, by score (descending)."""

    boxes: np.ndarray  # (K, 4) x1, y1, x2, y2
    scores: np.ndarray  # (K,)
    classes: np.ndarray  # (K,)

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def yolo_rows(output: np.ndarray, layout: str) -> np.ndarray:
    """The head as the decoder reads it: float32 ``(4 + C, N)`` rows cx, cy, w, h, scores
    (YOLOv5's class scores already multiplied by the objectness)."""
    x = np.asarray(output, dtype=np.float32)
    if x.ndim == 3:
        if x.shape[0] != 1:
            raise ValueError(f"detections: expected a batch of 1, got shape {x.shape}")
        x = x[0]
    if x.ndim != 2:
        raise ValueError(f"detections: expected a [1, 4+C, N] or [1, N, 5+C] head, got shape {x.shape}")
    if layout == "yolov8":
        if x.shape[0] < 5:
            raise ValueError(f"yolov8 head: expected [4 + C, N] with C >= 1, got {x.shape}")
        return np.ascontiguousarray(x)
    if layout == "yolov5":
        if x.shape[1] < 6:
            raise ValueError(f"yolov5 head: expected [N, 5 + C] with C >= 1, got {x.shape}")
        rows = np.empty((x.shape[1] - 1, x.shape[0]), dtype=np.float32)
        rows[:4] = x[:, :4].T
        rows[4:] = (x[:, 5:] * x[:, 4:5]).T
        return rows
    raise ValueError(f"unknown detection layout {layout!r}: expected one of {', '.join(LAYOUTS)}")


def class_scores(output: np.ndarray, layout: str) -> np.ndarray:
    """The class-score rows ``(C, N)`` of a head (YOLOv5: objectness x class)."""
    return yolo_rows(output, layout)[4:]


def decode_nms_reference(rows: np.ndarray, score_threshold: float = SCORE_THRESHOLD,
                         iou_threshold: float = NMS_IOU, max_detections: int = MAX_DETECTIONS) -> Detections:
    """numpy twin of the ``decode_nms`` kernel (kernels/src/detect): best class per box (first
    maximum), score > threshold, one sort by (score desc, index asc), greedy NMS per class
    (``inter > thr * union`` suppresses), the top ``max_detections`` by (score desc, class
    asc, index asc). For a board without ``sdk._kernels``; a test holds it to the kernel."""
    r = np.asarray(rows, dtype=np.float32)
    scores = r[4:]
    best = scores.max(axis=0)
    cls = scores.argmax(axis=0).astype(np.int32)
    cand = np.nonzero(best > np.float32(score_threshold))[0]
    order = cand[np.lexsort((cand, -best[cand]))]
    half = np.float32(0.5)
    cx, cy, w, h = r[0, order], r[1, order], r[2, order], r[3, order]
    x1, x2 = cx - half * w, cx + half * w
    y1, y2 = cy - half * h, cy + half * h
    area = (x2 - x1) * (y2 - y1)
    kept: list[int] = []  # positions in ``order``
    thr = np.float32(iou_threshold)
    for c in np.unique(cls[order]):
        idx = np.nonzero(cls[order] == c)[0]  # by score already (stable)
        sup = np.zeros(idx.size, dtype=bool)
        n_here = 0
        for k in range(idx.size):
            if sup[k] or n_here >= max_detections:
                continue
            i = idx[k]
            kept.append(int(i))
            n_here += 1
            j = idx[k + 1:]
            iw = np.maximum(np.minimum(x2[i], x2[j]) - np.maximum(x1[i], x1[j]), np.float32(0))
            ih = np.maximum(np.minimum(y2[i], y2[j]) - np.maximum(y1[i], y1[j]), np.float32(0))
            inter = iw * ih
            sup[k + 1:] |= inter > thr * ((area[i] + area[j]) - inter)
    ks = np.asarray(kept, dtype=np.int64)
    src = order[ks]
    final = ks[np.lexsort((src, cls[src], -best[src]))][:max_detections]
    s = order[final]
    boxes = np.stack([x1[final], y1[final], x2[final], y2[final]], axis=1) if final.size else \
        np.zeros((0, 4), np.float32)
    return Detections(boxes.astype(np.float32), best[s].astype(np.float32), cls[s].astype(np.int32))


def _kernel() -> Any:
    try:
        from sdk import _kernels  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _kernels


def decoder() -> str:
    """Which decode + NMS :func:`decode` uses here: the project's kernel or its numpy twin."""
    k = _kernel()
    return f"sdk._kernels decode_nms ({k.variants().get('decode_nms', '?')})" if k is not None \
        else "numpy reference (no sdk._kernels)"


def decode(output: np.ndarray, layout: str, score_threshold: float = SCORE_THRESHOLD,
           iou_threshold: float = NMS_IOU, max_detections: int = MAX_DETECTIONS) -> Detections:
    """Decode + class-aware NMS of one image's head output with the project's kernel
    (``sdk._kernels.decode_nms``), or its numpy twin where the kernel is not built."""
    rows = yolo_rows(output, layout)
    k = _kernel()
    if k is None:
        return decode_nms_reference(rows, score_threshold, iou_threshold, max_detections)
    boxes, scores, classes = k.decode_nms(rows, float(score_threshold), float(iou_threshold),
                                          int(max_detections), (1.0, 1.0, 0.0, 0.0), (0.0, 0.0))
    return Detections(np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32),
                      np.asarray(classes, np.int32))


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)[:, None, :]
    b = np.asarray(b, np.float64)[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def match_detections(ref: Detections, got: Detections, iou: float = IOU_MATCH) -> int:
    """How many of ``ref``'s detections ``got`` finds: greedy, reference by score, each
    matched to the unmatched ``got`` detection of the same class with the highest IoU >= ``iou``."""
    if not len(ref) or not len(got):
        return 0
    m = _iou_matrix(ref.boxes, got.boxes)
    m[ref.classes[:, None] != got.classes[None, :]] = -1.0
    used = np.zeros(len(got), dtype=bool)
    n = 0
    for i in np.argsort(-ref.scores, kind="stable"):
        row = np.where(used, -1.0, m[i])
        j = int(np.argmax(row))
        if row[j] >= iou:
            used[j] = True
            n += 1
    return n


def detection_agreement(refs: Sequence[np.ndarray], gots: Sequence[np.ndarray], layout: str,
                        score_threshold: float = SCORE_THRESHOLD, iou: float = IOU_MATCH) -> dict[str, float]:
    """Over all images: recall and precision of ``gots``' detections against ``refs``'
    (:func:`match_detections`; 1.0 when there is nothing to find / nothing found), the
    class-score cosine (all images' score channels pooled) and the plain cosine."""
    n_ref = n_got = n_match = 0
    for r, g in zip(refs, gots, strict=True):
        dr = decode(r, layout, score_threshold)
        dg = decode(g, layout, score_threshold)
        n_ref, n_got, n_match = n_ref + len(dr), n_got + len(dg), n_match + match_detections(dr, dg, iou)
    sr = np.concatenate([class_scores(r, layout).ravel() for r in refs]) if refs else np.zeros(0)
    sg = np.concatenate([class_scores(g, layout).ravel() for g in gots]) if gots else np.zeros(0)
    br = np.concatenate([yolo_rows(r, layout)[:4].ravel() for r in refs]) if refs else np.zeros(0)
    bg = np.concatenate([yolo_rows(g, layout)[:4].ravel() for g in gots]) if gots else np.zeros(0)
    return {"recall": n_match / n_ref if n_ref else 1.0,
            "precision": n_match / n_got if n_got else 1.0,
            "class_cosine": cosine(sr, sg), "box_cosine": cosine(br, bg),
            "cosine": output_cosine(refs, gots),
            "detections_ref": float(n_ref), "detections": float(n_got), "matched": float(n_match)}

