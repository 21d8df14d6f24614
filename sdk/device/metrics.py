"""Agreement metrics between a reference output and an engine's output.

Runs on the host (validation) and on the board (golden check): numpy and stdlib only.
"""

from __future__ import annotations

import numpy as np


def cosine(ref: np.ndarray, out: np.ndarray) -> float:
    """Cosine similarity of the flattened arrays (1.0 when both are all zeros)."""
    a = np.asarray(ref, dtype=np.float64).ravel()
    b = np.asarray(out, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"size mismatch: expected {a.size} values, found {b.size}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return float("nan")
    na = float(np.linalg.norm(a))
    nb = float(np.linalg.norm(b))
    if na == 0.0 and nb == 0.0:
        return 1.0
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


SAMPLE_VALUES = 4096


def output_sample(outs: dict[str, np.ndarray], limit: int = SAMPLE_VALUES) -> dict[str, dict[str, object]]:
    """Each output's shape and at most ``limit`` of its values (every k-th, from the first):
    enough to tell whether two runs of a model still agree, small enough for a JSON result."""
    sample: dict[str, dict[str, object]] = {}
    for name, value in outs.items():
        a = np.asarray(value).ravel()
        stride = max(1, -(-a.size // limit))
        vals = a[::stride].astype(np.float64)
        sample[name] = {"shape": [int(d) for d in np.shape(value)], "stride": stride,
                        "values": [float(v) if np.isfinite(v) else None for v in vals]}
    return sample


def max_abs(ref: np.ndarray, out: np.ndarray) -> float:
    """Largest absolute element-wise difference."""
    a = np.asarray(ref, dtype=np.float64).ravel()
    b = np.asarray(out, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"size mismatch: expected {a.size} values, found {b.size}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)))


def class_axis(shape: tuple[int, ...]) -> int | None:
    """The axis that holds class scores, or None if the output does not look like scores.

    ``[N, C]`` and ``[N, T, C]``: the last axis when it has more than one element.
    ``[N, C, H, W]`` (rank 4 and up): axis 1 when it has more than one element; a map with
    one channel (``[N, 1, H, W]``, e.g. a detection heat map) has no class axis.
    """
    if len(shape) in (2, 3) and shape[-1] > 1:
        return len(shape) - 1
    if len(shape) >= 4 and shape[1] > 1:
        return 1
    return None


def top1(ref: np.ndarray, out: np.ndarray) -> float | None:
    """Fraction of positions whose argmax over the class axis agrees, or None."""
    a = np.asarray(ref)
    b = np.asarray(out).reshape(a.shape)
    axis = class_axis(tuple(int(d) for d in a.shape))
    if axis is None or not np.issubdtype(a.dtype, np.floating):
        return None
    ia = np.argmax(a, axis=axis)
    ib = np.argmax(b, axis=axis)
    return float(np.mean(ia == ib))
