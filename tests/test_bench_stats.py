"""Latency statistics against answers known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sdk.device.stats import compare, outliers, summarize


def test_summary_of_1_to_100() -> None:
    s = summarize([float(i) for i in range(1, 101)])
    assert s.n == 100 and s.min == 1 and s.max == 100
    assert s.p50 == pytest.approx(50.5) and s.mean == pytest.approx(50.5)
    assert s.p90 == pytest.approx(90.1) and s.p99 == pytest.approx(99.01)  # linear interpolation
    assert s.std == pytest.approx(math.sqrt(100 * 101 / 12))  # sample std of 1..n: sqrt(n(n+1)/12)
    assert s.cv == pytest.approx(s.std / 50.5)
    assert s.ci_low <= 50.5 <= s.ci_high and s.outliers == []


def test_median_interval_has_its_nominal_width_and_coverage() -> None:
    """Normal samples: the median's standard error is sqrt(pi/2) sigma / sqrt(n)."""
    rng = np.random.default_rng(7)
    n, sigma, covered, widths = 400, 2.0, 0, []
    for _ in range(40):
        s = summarize(10.0 + sigma * rng.standard_normal(n), resamples=1000)
        covered += s.ci_low <= 10.0 <= s.ci_high
        widths.append(s.ci_high - s.ci_low)
    expected = 2 * 1.96 * math.sqrt(math.pi / 2) * sigma / math.sqrt(n)
    assert np.median(widths) == pytest.approx(expected, rel=0.25)
    assert covered >= 34  # 95% nominal over 40 trials: at least 85% covered


def test_outliers_are_flagged_by_index_and_kept() -> None:
    x = [10.0] * 30 + [10.5] * 30 + [80.0]
    s = summarize(x)
    assert s.outliers == [60] and s.n == 61 and s.max == 80.0
    assert outliers([1.0, 2.0, 3.0]) == []  # too few to judge


def test_compare_finds_a_planted_2x_slowdown_and_not_noise() -> None:
    rng = np.random.default_rng(3)
    a = 20 + rng.standard_normal(60)
    slow = compare(a, 2 * a)
    assert slow.significant and slow.verdict == "slower" and slow.ratio == pytest.approx(2.0, rel=0.01)
    assert slow.ci_low > 15
    same = compare(a, 20 + rng.standard_normal(60))
    assert not same.significant and same.verdict == "no significant change" and same.ci_low < 0 < same.ci_high
    fast = compare(a, a - 5)
    assert fast.significant and fast.verdict == "faster" and fast.diff == pytest.approx(-5)


def test_same_samples_same_interval_and_bad_input() -> None:
    x = list(np.random.default_rng(1).exponential(5, 50))
    assert summarize(x) == summarize(x)
    one = summarize([3.0])
    assert one.p50 == one.ci_low == one.ci_high == 3.0 and one.std == 0.0
    with pytest.raises(ValueError, match="no samples"):
        summarize([])
