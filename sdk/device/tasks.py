"""Task metrics: does an int8 (or board) model still do the task its float model does?

Runs on the host (the int8 flow, :mod:`sdk.quantize`) and on the board (the runner's check of
the board's int8 outputs against the host's): numpy and stdlib only, plus ``sdk._kernels``
for the detector's decode + NMS when it is there (a numpy twin of the kernel otherwise).

A cosine over a whole tensor says how far numbers moved, not whether the task survived: a
YOLO head holds box coordinates in pixels (hundreds) next to class scores in 0..1, so scores
crushed to zero barely move its cosine. Each task is judged as its users judge it:

- ``detect``: decode + NMS on both outputs, then recall and precision of the other model's
  detections against the reference's (same class, IoU >= 0.5, score >= 0.25), plus the
  cosine of the class-score channels on their own. Layouts recognised: YOLOv8/v11
  (``[1, 4 + C, N]``: cx, cy, w, h in input pixels, then C class scores) and YOLOv5/v7
  (``[1, N, 5 + C]``: cx, cy, w, h, objectness, C class scores; score = objectness x class);
- ``classify``: cosine of the decision margins (what flips an argmax) and top-1 agreement;
- ``ocr-rec``: the margins of each time step, and the greedy-CTC characters read alike;
- ``ocr-det``: IoU of the DB-binarised text masks (probability > 0.3);
- ``segment``: IoU of the masks (one channel: probability > 0.5; several: the per-pixel
  argmax, mean IoU over the classes present);
- ``raw``: the mean cosine, as before.

:func:`agreement` returns every figure and the one the int8 budget applies to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "DB_THRESHOLD",
    "IOU_MATCH",
    "LAYOUTS",
    "NMS_IOU",
    "SCORE_THRESHOLD",
    "SEG_THRESHOLD",
    "TASKS",
    "Detections",
    "TaskFigures",
    "TaskSpec",
    "agreement",
    "char_agreement",
    "class_scores",
    "cosine",
    "ctc_decode",
    "decision_margins",
    "decode",
    "decode_nms_reference",
    "detection_agreement",
    "levenshtein",
    "margin_cosine",
    "mask_iou",
    "match_detections",
    "output_cosine",
    "top1_agreement",
]

TASKS = ("detect", "classify", "segment", "ocr-det", "ocr-rec", "raw")
LAYOUTS = ("yolov8", "yolov5")
SCORE_THRESHOLD = 0.25  # a detection counts from this score on
IOU_MATCH = 0.5  # two detections are the same object from this IoU on (same class)
NMS_IOU = 0.45  # NMS suppression, as the ultralytics exporters' default
MAX_DETECTIONS = 300
DB_THRESHOLD = 0.3  # PP-OCR / DBNet binarisation of the text probability map
SEG_THRESHOLD = 0.5  # a one-channel segmentation map


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


# the figure the int8 budget applies to, per task
METRIC_NAMES = {"detect": "min(recall, precision)", "classify": "margin cosine", "ocr-rec": "margin cosine",
                "ocr-det": "mask IoU", "segment": "mask IoU", "raw": "cosine"}


@dataclass
class TaskFigures:
    """The task metric (what the budget is applied to) and every figure behind it."""

    task: str
    metric_name: str
    metric: float
    tiebreak: float  # a finer figure that orders candidates with the same metric
    metrics: dict[str, float] = field(default_factory=dict)
    images: int = 0


# ------------------------------------------------------------------------- tensors

def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two tensors, flattened, in float64 (1.0 for two all-zero tensors)."""
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"cosine: expected equal sizes, got {x.size} and {y.size}")
    nx, ny = float(np.linalg.norm(x)), float(np.linalg.norm(y))
    if nx == 0.0 and ny == 0.0:
        return 1.0
    if nx == 0.0 or ny == 0.0 or not np.isfinite(nx * ny):
        return 0.0 if np.isfinite(nx * ny) else float("nan")
    return float(np.dot(x, y) / (nx * ny))


def decision_margins(ref_probs: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of two softmax outputs ([..., C]), how far the reference's top class leads.

    The margin is ``log p[c] - max(log p[other])`` with ``c`` the reference's argmax, in both
    tensors: positive while the int8 model still picks ``c``, negative once it flips. It is
    the logit difference the softmax hides: two confident rows both read ``[1, 0]`` however
    far their logits moved, and that movement is what flips the next near-tie.
    """
    a = np.asarray(ref_probs, dtype=np.float64)
    b = np.asarray(probs, dtype=np.float64)
    if a.shape != b.shape or a.ndim == 0 or a.shape[-1] < 2:
        raise ValueError(f"decision_margins: expected equal [..., C>=2] shapes, got {a.shape} and {b.shape}")
    la = np.log(np.maximum(a.reshape(-1, a.shape[-1]), 1e-30))
    lb = np.log(np.maximum(b.reshape(-1, b.shape[-1]), 1e-30))
    rows = np.arange(la.shape[0])
    top = la.argmax(axis=1)

    def lead(x: np.ndarray) -> np.ndarray:
        other = x.copy()
        other[rows, top] = -np.inf
        return x[rows, top] - other.max(axis=1)

    return lead(la), lead(lb)


def margin_cosine(refs: Sequence[np.ndarray], gots: Sequence[np.ndarray]) -> float:
    """Cosine of the decision margins (:func:`decision_margins`) of all samples together.

    One number for a softmax output that moves with the logit noise on every sample, not
    only on those that already flipped (one 2-class sample alone has one margin, so the
    samples are pooled).
    """
    pairs = [decision_margins(r, g) for r, g in zip(refs, gots, strict=True)]
    if not pairs:
        return 1.0
    return cosine(np.concatenate([a for a, _ in pairs]), np.concatenate([b for _, b in pairs]))


def output_cosine(refs: Sequence[np.ndarray], gots: Sequence[np.ndarray], *, margins: bool = False,
                  worst: bool = False) -> float:
    """How close one output stays to the reference over the samples: for a softmax output
    (``margins``) the cosine of the decision margins of all samples pooled
    (:func:`margin_cosine`), else the mean (``worst``: the lowest) per-sample cosine."""
    if margins:
        return margin_cosine(refs, gots)
    coss = [cosine(r, g) for r, g in zip(refs, gots, strict=True)]
    if not coss:
        return 1.0
    return float(min(coss) if worst else sum(coss) / len(coss))


def mask_iou(prob_a: np.ndarray, prob_b: np.ndarray, thresh: float = 0.3) -> float:
    """IoU of the DB-binarised text masks ``prob > thresh`` (1.0 when both masks are empty)."""
    a = np.asarray(prob_a) > thresh
    b = np.asarray(prob_b) > thresh
    if a.shape != b.shape:
        raise ValueError(f"mask_iou: expected equal shapes, got {a.shape} and {b.shape}")
    union = int(np.count_nonzero(a | b))
    if union == 0:
        return 1.0
    return int(np.count_nonzero(a & b)) / union


def ctc_decode(logits: np.ndarray, blank: int = 0) -> list[list[int]]:
    """Greedy CTC decoding of [N, T, C] (or [T, C]) scores: argmax, merge repeats, drop blanks."""
    x = np.asarray(logits)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"ctc_decode: expected [N, T, C] scores, got shape {x.shape}")
    best = x.argmax(axis=2)
    out: list[list[int]] = []
    for seq in best:
        keep = np.ones(seq.shape, dtype=bool)
        keep[1:] = seq[1:] != seq[:-1]
        keep &= seq != blank
        out.append([int(c) for c in seq[keep]])
    return out


def levenshtein(a: Sequence[int], b: Sequence[int]) -> int:
    """Edit distance (insertions, deletions, substitutions) between two sequences."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def char_agreement(
    ref_logits: np.ndarray | Sequence[np.ndarray], q_logits: np.ndarray | Sequence[np.ndarray]
) -> float:
    """Fraction of decoded characters the two recognisers agree on, over all samples.

    ``1 - sum(lev(a_i, b_i)) / sum(max(len(a_i), len(b_i)))`` with greedy CTC decoding (blank
    0); 1.0 when nothing is read by either. Accepts one [N, T, C] array or a list of them.
    """
    ref = _decode_all(ref_logits)
    q = _decode_all(q_logits)
    if len(ref) != len(q):
        raise ValueError(f"char_agreement: expected as many samples, got {len(ref)} and {len(q)}")
    dist = sum(levenshtein(a, b) for a, b in zip(ref, q, strict=True))
    total = sum(max(len(a), len(b)) for a, b in zip(ref, q, strict=True))
    return 1.0 if total == 0 else 1.0 - dist / total


def _decode_all(logits: np.ndarray | Sequence[np.ndarray]) -> list[list[int]]:
    if isinstance(logits, np.ndarray):
        return ctc_decode(logits)
    out: list[list[int]] = []
    for x in logits:
        out += ctc_decode(np.asarray(x))
    return out


def top1_agreement(a: np.ndarray | Sequence[np.ndarray], b: np.ndarray | Sequence[np.ndarray]) -> float:
    """Fraction of samples whose argmax over the last axis is the same in ``a`` and ``b``."""
    x = _stack(a)
    y = _stack(b)
    if x.shape != y.shape:
        raise ValueError(f"top1_agreement: expected equal shapes, got {x.shape} and {y.shape}")
    ia = x.reshape(-1, x.shape[-1]).argmax(axis=1)
    ib = y.reshape(-1, y.shape[-1]).argmax(axis=1)
    return float(np.mean(ia == ib)) if ia.size else 1.0


def _stack(x: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    return np.concatenate([np.asarray(v).reshape(-1, np.asarray(v).shape[-1]) for v in x], axis=0)



def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.asarray(x, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _as_probs(x: np.ndarray) -> np.ndarray:
    """Class scores as probabilities: a softmax output as it is, logits through a softmax."""
    a = np.asarray(x, dtype=np.float64)
    s = a.sum(axis=-1)
    if a.min() >= 0.0 and np.allclose(s, 1.0, atol=1e-3):
        return a
    return _softmax(a)


# ------------------------------------------------------------------------- detections


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


# ------------------------------------------------------------------------- maps


def segment_iou(refs: Sequence[np.ndarray], gots: Sequence[np.ndarray], threshold: float = SEG_THRESHOLD,
                ) -> float:
    """Mean IoU over images: one-channel maps binarised at ``threshold``; several channels
    as the per-pixel argmax, mean IoU over the classes either map holds."""
    ious = []
    for r, g in zip(refs, gots, strict=True):
        a, b = np.asarray(r), np.asarray(g).reshape(np.shape(r))
        if a.ndim < 3 or a.shape[-3] == 1:
            ious.append(mask_iou(a, b, threshold))
            continue
        la, lb = a.argmax(axis=-3), b.argmax(axis=-3)
        per = [np.count_nonzero((la == c) & (lb == c)) / np.count_nonzero((la == c) | (lb == c))
               for c in np.union1d(np.unique(la), np.unique(lb))]
        ious.append(float(np.mean(per)))
    return float(np.mean(ious)) if ious else 1.0


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
        return TaskFigures(t, spec.metric_name, min(m["recall"], m["precision"]), m["class_cosine"], m, n)
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
