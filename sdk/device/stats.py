"""Statistics of latency samples: summaries with a confidence interval, and comparisons.

Board code too (standard library and numpy). Every sample is kept by the caller; nothing
here drops one: outliers are flagged by index (beyond 3 interquartile ranges from the
quartiles, Tukey's "far out"), never removed. Bootstrap resampling uses a fixed seed, so the
same samples always give the same interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sdk.records import Difference, Summary

RESAMPLES = 2000
CONFIDENCE = 0.95
OUTLIER_IQR = 3.0
SEED = 20261202


def _median_ci(x: np.ndarray, rng: np.random.Generator, resamples: int,
               confidence: float) -> tuple[float, float]:
    """Percentile bootstrap interval of the median."""
    if x.size < 2:
        return float(x[0]), float(x[0])
    idx = rng.integers(0, x.size, size=(resamples, x.size))
    medians = np.median(x[idx], axis=1)
    lo, hi = np.quantile(medians, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)


def outliers(samples: Sequence[float] | np.ndarray, k: float = OUTLIER_IQR) -> list[int]:
    """Indices of the samples beyond ``k`` interquartile ranges outside the quartiles."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size < 4:
        return []
    q1, q3 = np.quantile(x, [0.25, 0.75])
    iqr = q3 - q1
    return [int(i) for i in np.nonzero((x < q1 - k * iqr) | (x > q3 + k * iqr))[0]]


def summarize(samples: Sequence[float], *, resamples: int = RESAMPLES, confidence: float = CONFIDENCE,
              seed: int = SEED) -> Summary:
    """p50/p90/p99, mean, std (n-1), min, max, coefficient of variation, a bootstrap interval
    of the median, and the outliers' indices. Needs at least one sample."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no samples to summarize")
    p50, p90, p99 = (float(v) for v in np.quantile(x, [0.5, 0.9, 0.99]))
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    lo, hi = _median_ci(x, np.random.default_rng(seed), resamples, confidence)
    return Summary(n=int(x.size), p50=p50, p90=p90, p99=p99, mean=mean, std=std, min=float(x.min()),
                   max=float(x.max()), cv=std / mean if mean else 0.0, ci_low=lo, ci_high=hi,
                   confidence=confidence, outliers=outliers(x))


def compare(a: Sequence[float], b: Sequence[float], *, resamples: int = RESAMPLES,
            confidence: float = CONFIDENCE, seed: int = SEED) -> Difference:
    """B against A: the change of the median (B - A) with a bootstrap interval of it, and
    whether the interval excludes zero (a significant change)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.size == 0 or y.size == 0:
        raise ValueError("no samples to compare")
    rng = np.random.default_rng(seed)
    dx = np.median(x[rng.integers(0, x.size, size=(resamples, x.size))], axis=1)
    dy = np.median(y[rng.integers(0, y.size, size=(resamples, y.size))], axis=1)
    lo, hi = (float(v) for v in np.quantile(dy - dx, [(1 - confidence) / 2, (1 + confidence) / 2]))
    ma, mb = float(np.median(x)), float(np.median(y))
    significant = lo > 0 or hi < 0
    verdict = "no significant change" if not significant else ("slower" if mb > ma else "faster")
    return Difference(median_a=ma, median_b=mb, diff=mb - ma, ci_low=lo, ci_high=hi,
                      ratio=mb / ma if ma else float("inf"), significant=significant, verdict=verdict,
                      confidence=confidence)
