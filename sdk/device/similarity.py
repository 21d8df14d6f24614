"""How alike two models' outputs are, figure by figure: the task metrics' building blocks.

Runs on the host and on the board (:mod:`sdk.device.tasks` pools them per task): numpy and
stdlib only.

- tensors: :func:`cosine`, and per sample :func:`output_cosine`;
- class scores: the decision margins (:func:`decision_margins`, :func:`margin_cosine`) and
  top-1 agreement (:func:`top1_agreement`);
- text recognition: greedy CTC decoding and the characters two recognisers read alike
  (:func:`ctc_decode`, :func:`levenshtein`, :func:`char_agreement`);
- maps: IoU of binarised masks (:func:`mask_iou`, :func:`segment_iou`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DB_THRESHOLD = 0.3  # PP-OCR / DBNet binarisation of the text probability map
SEG_THRESHOLD = 0.5  # a one-channel segmentation map


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

