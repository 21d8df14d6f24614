"""Task metrics: does an int8 (or board) model still do the task its float model does?

Runs on the host (the int8 flow, :mod:`sdk.quantize`) and on the board (the runner's check of
the board's int8 outputs against the host's): numpy and stdlib only, plus ``sdk._kernels``
for the detector's decode + NMS when it is there (a numpy twin of the kernel otherwise).

A cosine over a whole tensor says how far numbers moved, not whether the task survived: a
YOLO head holds box coordinates in pixels (hundreds) next to class scores in 0..1, so scores
crushed to zero barely move its cosine. Each task is judged as its users judge it:

- ``detect``: decode + NMS on both outputs, then recall and precision of the other model's
  detections against the reference's (same class, IoU >= 0.5, score >= 0.25), plus the
  cosine of the class-score channels on their own; the task metric is the least of recall,
  precision and that cosine on their scale (:func:`class_cosine_term`). Layouts
  recognised: YOLOv8/v11 (``[1, 4 + C, N]``: cx, cy, w, h in input pixels, then C class scores) and YOLOv5/v7
  (``[1, N, 5 + C]``: cx, cy, w, h, objectness, C class scores; score = objectness x class);
- ``classify``: cosine of the decision margins (what flips an argmax) and top-1 agreement;
- ``ocr-rec``: the margins of each time step, and the greedy-CTC characters read alike;
- ``ocr-det``: IoU of the DB-binarised text masks (probability > 0.3);
- ``segment``: IoU of the masks (one channel: probability > 0.5; several: the per-pixel
  argmax, mean IoU over the classes present);
- ``raw``: the mean cosine, as before.

:func:`agreement` returns every figure and the one the int8 budget applies to. The figures
come from :mod:`sdk.device.similarity` (cosines, margins, CTC, masks) and
:mod:`sdk.device.detections` (decode + NMS, matching); this module re-exports them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from sdk.device.detections import (
    IOU_MATCH,
    LAYOUTS,
    MAX_DETECTIONS,
    NMS_IOU,
    SCORE_THRESHOLD,
    Detections,
    class_scores,
    decode,
    decode_nms_reference,
    decoder,
    detection_agreement,
    match_detections,
    yolo_rows,
)
from sdk.device.similarity import (
    DB_THRESHOLD,
    SEG_THRESHOLD,
    _as_probs,
    char_agreement,
    cosine,
    ctc_decode,
    decision_margins,
    levenshtein,
    margin_cosine,
    mask_iou,
    output_cosine,
    segment_iou,
    top1_agreement,
)

__all__ = [
    "CLASS_COSINE_WEIGHT",
    "DB_THRESHOLD",
    "IOU_MATCH",
    "LAYOUTS",
    "MAX_DETECTIONS",
    "METRIC_NAMES",
    "NMS_IOU",
    "SCORE_THRESHOLD",
    "SEG_THRESHOLD",
    "TASKS",
    "Detections",
    "TaskFigures",
    "TaskSpec",
    "agreement",
    "char_agreement",
    "class_cosine_term",
    "class_scores",
    "cosine",
    "ctc_decode",
    "decision_margins",
    "decode",
    "decode_nms_reference",
    "decoder",
    "detection_agreement",
    "levenshtein",
    "margin_cosine",
    "mask_iou",
    "match_detections",
    "output_cosine",
    "segment_iou",
    "top1_agreement",
    "yolo_rows",
]

TASKS = ("detect", "classify", "segment", "ocr-det", "ocr-rec", "raw")


@dataclass(frozen=True)
class TaskSpec:
    """What a model's outputs mean: the task, the output that carries it, how to read it."""

    task: str = "raw"
    output: str | None = None  # the output the task metric reads (None: every output, cosine)
    layout: str | None = None  # detect: yolov8 | yolov5
    classes: int = 0  # detect / classify / segment: number of classes
    threshold: float | None = None  # detect: score; ocr-det / segment: the map's binarisation
    why: str = ""  # how the task was found (or "--task")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TaskSpec:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    @property
    def metric_name(self) -> str:
        return METRIC_NAMES[self.task]


# The detector's class-score cosine on the scale of its recall and precision: the targets are
# 0.95 of recall and precision and 0.99 of the class-score cosine, so one budget of the three
# holds all of them when the cosine's distance from 1 counts CLASS_COSINE_WEIGHT times
# (cosine 0.99 -> 0.95). Without it a search stopped at recall 0.971 / precision 0.917 and
# would have stopped as well at class-score cosine 0.98 with both above the budget.
CLASS_COSINE_WEIGHT = (1 - 0.95) / (1 - 0.99)


def class_cosine_term(class_cosine: float) -> float:
    """The class-score cosine on the recall/precision scale (0.99 -> 0.95, 1 -> 1, 0.8 or less -> 0).
    Rounded to 9 decimals: identical scores give a cosine 1e-16 under 1 in float64, and the
    term of identical outputs is 1 exactly, as recall and precision are."""
    return min(1.0, max(0.0, round(1.0 - CLASS_COSINE_WEIGHT * (1.0 - class_cosine), 9)))


# the figure the int8 budget applies to, per task
METRIC_NAMES = {"detect": "min(recall, precision, 1 - 5 (1 - class-score cosine))",
                "classify": "margin cosine", "ocr-rec": "margin cosine", "ocr-det": "mask IoU",
                "segment": "mask IoU", "raw": "cosine"}


@dataclass
class TaskFigures:
    """The task metric (what the budget is applied to) and every figure behind it."""

    task: str
    metric_name: str
    metric: float
    tiebreak: float  # a finer figure that orders candidates with the same metric
    metrics: dict[str, float] = field(default_factory=dict)
    images: int = 0


# ------------------------------------------------------------------------- one call


def agreement(spec: TaskSpec, refs: Sequence[Mapping[str, np.ndarray]],
              gots: Sequence[Mapping[str, np.ndarray]]) -> TaskFigures:
    """``gots`` (int8, or the board's) against ``refs`` (fp32, or the host's) by ``spec``'s task,
    over all the images. Outputs are matched by name; ``got`` arrays are reshaped to the
    reference's shape (engines may drop the batch axis)."""
    if len(refs) != len(gots):
        raise ValueError(f"agreement: expected as many outputs, got {len(refs)} and {len(gots)}")
    name = spec.output if spec.output is not None else (next(iter(refs[0])) if refs else "")
    a = [np.asarray(r[name]) for r in refs]
    b = [np.asarray(g[name]).reshape(x.shape) for g, x in zip(gots, a, strict=True)]
    n = len(a)
    t = spec.task
    if t == "detect":
        m = detection_agreement(a, b, spec.layout or "yolov8",
                                SCORE_THRESHOLD if spec.threshold is None else spec.threshold)
        m["class_term"] = class_cosine_term(m["class_cosine"])
        return TaskFigures(t, spec.metric_name, min(m["recall"], m["precision"], m["class_term"]),
                           m["class_cosine"], m, n)
    if t in ("classify", "ocr-rec"):
        pa, pb = [_as_probs(x) for x in a], [_as_probs(x) for x in b]
        m = {"margin_cosine": margin_cosine(pa, pb), "top1": top1_agreement(a, b),
             "cosine": output_cosine(a, b)}
        if t == "ocr-rec":
            m["chars"] = char_agreement(a, b)
        return TaskFigures(t, spec.metric_name, m["margin_cosine"], m["cosine"], m, n)
    if t in ("ocr-det", "segment"):
        thr = spec.threshold if spec.threshold is not None else \
            (DB_THRESHOLD if t == "ocr-det" else SEG_THRESHOLD)
        ious = [segment_iou([x], [y], thr) for x, y in zip(a, b, strict=True)]
        m = {"mask_iou": float(np.mean(ious)) if ious else 1.0, "mask_iou_min": min(ious, default=1.0),
             "cosine": output_cosine(a, b)}
        return TaskFigures(t, spec.metric_name, m["mask_iou"], m["cosine"], m, n)
    names = list(refs[0]) if spec.output is None and refs else [name]
    coss = {o: output_cosine([np.asarray(r[o]) for r in refs],
                             [np.asarray(g[o]).reshape(np.shape(r[o]))
                              for r, g in zip(refs, gots, strict=True)])
            for o in names}
    worst = min(coss.values(), default=1.0)
    return TaskFigures("raw", METRIC_NAMES["raw"], worst, worst, {"cosine": worst}, n)
