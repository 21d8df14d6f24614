"""Engine-neutral int8 statistics and threshold methods.

Activation statistics are collected in one pass over the calibration feeds (abs max, a
2048-bin histogram of |x| that widens itself by merging bins as larger values arrive, and
moments); a threshold method then picks the clipping value of |x|:

- ``kl``: the threshold whose clipped, 128-level quantized distribution has the smallest
  KL divergence from the observed one (the TensorRT / ncnn2table method);
- ``minmax``: the abs max;
- ``percentile``: the 99.99th percentile of |x|;
- ``aciq``: analytical clipping (Banner et al.) under a Laplace or Gaussian assumption,
  whichever fits the blob's kurtosis better, capped at the abs max;
- ``mse``: the threshold with the least expected squared quantization error (rounding
  error inside the range, clipping error outside), from the histogram.

Weights are quantized symmetrically with ``scale = 127 / absmax`` per output channel (or
per tensor). Every engine's int8 path (ncnn's table, MNN's compression params) uses these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sdk.errors import QuantizeError

METHODS = ("kl", "minmax", "percentile", "aciq", "mse")
NUM_BINS = 2048
TARGET_BINS = 128
PERCENTILE = 99.99
TINY = 1e-30  # below this an abs max is treated as 0 (127 / it would overflow float32)

__all__ = ["METHODS", "BlobStats", "threshold_from_stats", "unknown_method", "weight_scales"]


@dataclass
class BlobStats:
    """Running statistics of one blob's values over the calibration feeds.

    The histogram covers ``[0, hist_max)`` in :data:`NUM_BINS` bins of |x| (zeros skipped, as
    ncnn2table does: they are exact in int8 and dominate ReLU outputs). When a larger value
    arrives the range doubles (as often as needed) and adjacent bins merge, so one pass is
    enough and counts are never re-spread.
    """

    absmax: float = 0.0
    hist_max: float = 0.0
    hist: np.ndarray = field(default_factory=lambda: np.zeros(NUM_BINS, dtype=np.int64))
    count: int = 0
    total: int = 0
    sum: float = 0.0
    sum_sq: float = 0.0
    sum_q: float = 0.0  # sum of (x - batch mean)^4
    sum_absdev: float = 0.0  # sum of |x - batch mean|

    def update(self, x: np.ndarray, moments: bool = True) -> None:
        """Add ``x``'s values; ``moments=False`` skips what only ``aciq`` needs (faster)."""
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        self.total += x.size
        if x.size == 0:
            return
        if moments:
            mean = float(x.mean(dtype=np.float64))
            dev = x - np.float32(mean)
            self.sum += mean * x.size
            self.sum_sq += float(np.dot(x, x))
            self.sum_absdev += float(np.abs(dev).sum(dtype=np.float64))
            d2 = dev * dev
            self.sum_q += float(np.dot(d2, d2))
            self.count += x.size
        a = np.abs(x)
        m = float(a.max())
        if m == 0.0:
            return
        self.absmax = max(self.absmax, m)
        if self.hist_max == 0.0:
            self.hist_max = m
        elif m > self.hist_max:
            factor = 2 ** math.ceil(math.log2(m / self.hist_max))
            merged = np.zeros(NUM_BINS, dtype=np.int64)
            if factor >= NUM_BINS:
                merged[0] = self.hist.sum()
            else:
                merged[: NUM_BINS // factor] = self.hist.reshape(-1, factor).sum(axis=1)
            self.hist = merged
            self.hist_max *= factor
        a *= np.float32(NUM_BINS / self.hist_max)
        idx = a.astype(np.int32)
        np.minimum(idx, NUM_BINS - 1, out=idx)
        counts = np.bincount(idx, minlength=NUM_BINS)
        counts[0] -= x.size - np.count_nonzero(x)  # exact zeros are not counted
        self.hist += counts


def _kl_divergence(hist: np.ndarray, threshold_bin: int) -> float:
    """KL(P || Q) for one clipping threshold (in bins).

    P is the histogram clipped at ``threshold_bin`` with the clipped mass folded into its
    last bin; Q is the histogram *without* that mass, merged into :data:`TARGET_BINS`
    levels and spread back evenly over each level's non-empty bins. Leaving the outliers out
    of Q is what penalises a threshold that clips too much.
    """
    raw = hist[:threshold_bin].astype(np.float64)
    p = raw.copy()
    p[-1] += hist[threshold_bin:].sum()
    nonzero = raw > 0
    # integer split of the bins into TARGET_BINS levels (the remainder joins the last one)
    edges = (np.arange(TARGET_BINS) * (threshold_bin // TARGET_BINS)).astype(np.int64)
    sums = np.add.reduceat(raw, edges)
    counts = np.add.reduceat(nonzero.astype(np.int64), edges)
    sizes = np.diff(np.append(edges, threshold_bin))
    per_bin = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    q = np.repeat(per_bin, sizes) * nonzero
    ps, qs = p.sum(), q.sum()
    if ps <= 0 or qs <= 0:
        return math.inf
    p /= ps
    q /= qs
    mask = p > 0
    qm = np.maximum(q[mask], 1e-10)  # P has mass where Q has none: a large finite penalty
    return float(np.sum(p[mask] * np.log(p[mask] / qm)))


def _kl_threshold(stats: BlobStats) -> float:
    hist = stats.hist
    if hist.sum() == 0:
        return stats.absmax
    bin_width = stats.hist_max / NUM_BINS
    last = int(np.nonzero(hist)[0][-1]) + 1  # beyond this every threshold sees the same P
    stop = max(TARGET_BINS, min(NUM_BINS, last))
    if stop <= TARGET_BINS:
        return stats.absmax
    # coarse scan, then every bin around the best (the curve is smooth at this scale)
    step = 16
    candidates = list(range(TARGET_BINS, stop + 1, step))
    if candidates[-1] != stop:
        candidates.append(stop)
    kls = [_kl_divergence(hist, t) for t in candidates]
    best = candidates[int(np.argmin(kls))]
    fine = range(max(TARGET_BINS, best - step + 1), min(stop, best + step - 1) + 1)
    best_kl = min(kls)
    for t in fine:
        kl = _kl_divergence(hist, t)
        if kl < best_kl:
            best, best_kl = t, kl
    return min(stats.absmax, (best + 0.5) * bin_width)


# Optimal clipping value / distribution scale for 8 bits (Banner et al., ACIQ): Laplace b, Gaussian sigma.
_ACIQ_LAPLACE_8BIT = 9.89
_ACIQ_GAUSS_8BIT = 3.92


def _aciq_threshold(stats: BlobStats) -> float:
    if stats.count == 0:
        return stats.absmax
    mean = stats.sum / stats.count
    var = max(stats.sum_sq / stats.count - mean * mean, 0.0)
    if var <= 0:
        return stats.absmax
    kurtosis = stats.sum_q / stats.count / (var * var)  # about 3 Gaussian, 6 Laplace
    if kurtosis >= 4.5:
        b = stats.sum_absdev / stats.count
        alpha = _ACIQ_LAPLACE_8BIT * b
    else:
        alpha = _ACIQ_GAUSS_8BIT * math.sqrt(var)
    return min(stats.absmax, abs(mean) + alpha)


def _percentile_threshold(stats: BlobStats, q: float = PERCENTILE) -> float:
    total = int(stats.hist.sum())
    if total == 0:
        return stats.absmax
    cdf = np.cumsum(stats.hist)
    k = int(np.searchsorted(cdf, total * q / 100.0))
    return min(stats.absmax, (k + 1) * stats.hist_max / NUM_BINS)


def _mse_threshold(stats: BlobStats) -> float:
    """The threshold with the least expected squared error: rounding inside, clipping outside."""
    total = stats.hist.sum()
    if total == 0:
        return stats.absmax
    width = stats.hist_max / NUM_BINS
    centres = (np.arange(NUM_BINS) + 0.5) * width
    counts = stats.hist.astype(np.float64)
    last = int(np.nonzero(counts)[0][-1]) + 1
    cands = np.arange(1, last + 1) * width  # candidate thresholds: every bin edge up to the max
    # inside [0, T]: uniform rounding error step^2 / 12; beyond T: (x - T)^2
    inside = np.cumsum(counts)[: last] * (cands / 127.0) ** 2 / 12.0
    c1 = np.cumsum((counts * centres)[::-1])[::-1]  # sum over bins >= k of n*x
    c2 = np.cumsum((counts * centres**2)[::-1])[::-1]
    c0 = np.cumsum(counts[::-1])[::-1]
    k = np.arange(1, last + 1)
    beyond = np.zeros(last)
    ok = k < NUM_BINS
    kk = k[ok]
    beyond[ok] = c2[kk] - 2 * cands[ok] * c1[kk] + cands[ok] ** 2 * c0[kk]
    best = int(np.argmin(inside + np.maximum(beyond, 0.0)))
    return float(min(stats.absmax, cands[best]))


def threshold_from_stats(stats: BlobStats, method: str) -> float:
    """The clipping threshold of |x| for ``method`` (one of :data:`METHODS`)."""
    if method == "kl":
        return _kl_threshold(stats)
    if method == "minmax":
        return stats.absmax
    if method == "percentile":
        return _percentile_threshold(stats)
    if method == "aciq":
        return _aciq_threshold(stats)
    if method == "mse":
        return _mse_threshold(stats)
    raise unknown_method(method)


def unknown_method(method: str) -> QuantizeError:
    import difflib

    close = difflib.get_close_matches(method, METHODS, n=1)
    return QuantizeError(
        f"unknown calibration method {method!r}",
        expected=" or ".join(METHODS),
        found=method,
        fix=f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(METHODS)}",
    )


def weight_scales(weight: np.ndarray, groups: int, per_channel: bool = True) -> np.ndarray:
    """``127 / absmax`` of each of ``groups`` equal slices of ``weight`` (or of all of it).

    A slice of zeros (or of values so small that 127 / absmax overflows float32) gets scale 1:
    its int8 weights are zeros whatever the scale.
    """
    w = np.abs(np.asarray(weight, dtype=np.float64).reshape(groups, -1))
    absmax = w.max(axis=1) if per_channel else np.full(groups, w.max())
    usable = absmax > TINY
    return np.where(usable, 127.0 / np.where(usable, absmax, 1.0), 1.0).astype(np.float32)
