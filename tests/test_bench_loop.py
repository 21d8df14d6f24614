"""The on-board bench's timing loop, on the host: pacing, sustained runs, min-time, post-processing."""

from __future__ import annotations

import time

import numpy as np

from sdk.device.bench import _sustained, post_step, timed_loop
from sdk.records import BenchPlan


def test_rate_paces_the_runs_like_a_camera() -> None:
    samples, starts = timed_loop(lambda: time.sleep(0.002), BenchPlan(configs=[], runs=10, rate=50), 0.0)
    gaps = np.diff(starts)
    assert len(samples) == 10 and all(s >= 2.0 for s in samples)
    assert gaps.min() > 0.018 and np.median(gaps) < 0.04  # 50 fps: 20 ms apart, not back to back


def test_min_time_extends_and_duration_sustains() -> None:
    t0 = time.perf_counter()
    samples, _ = timed_loop(lambda: time.sleep(0.01), BenchPlan(configs=[], runs=2, min_time=0.2), t0)
    assert len(samples) > 2 and time.perf_counter() - t0 >= 0.2
    t0 = time.perf_counter()
    samples, _ = timed_loop(lambda: time.sleep(0.01), BenchPlan(configs=[], runs=1, duration=0.4), t0)
    assert 0.4 <= time.perf_counter() - t0 < 0.6 and len(samples) > 10
    # a slower second half: first window against the last, significant
    lat = [10.0] * 50 + [14.0] * 50
    sus = _sustained(lat, [i * 0.01 for i in range(100)], duration=1.0)
    assert sus["window_s"] == 0.25 and sus["difference"]["verdict"] == "slower"
    assert sus["first"]["p50"] == 10.0 and sus["last"]["p50"] == 14.0


def test_post_processing_fits_the_output() -> None:
    rng = np.random.default_rng(0)
    cases = {"topk": (1, 4), "decode_nms": (1, 6, 100), "binarize": (1, 1, 32, 32), "argmax": (1, 5, 8, 8)}
    for kernel, shape in cases.items():
        name, fn = post_step({"out": rng.random(shape, dtype=np.float32)})
        assert name == kernel, shape
        fn({"out": rng.random(shape, dtype=np.float32)})
