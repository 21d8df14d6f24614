"""The YOLOv8 cases of ``sdk kernels bench``: the head files both sides read, the decode
baselines, and the armv7 table's rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sdk.kernels as k
from sdk.kernels import bench, bench_detect
from tests.kernels.test_postprocess import _opencv_per_class


def test_synthetic_head_is_yolov8_shaped_and_kernel_keeps_what_opencv_keeps() -> None:
    pytest.importorskip("cv2")
    out = bench_detect.synthetic_yolov8n()
    assert out.shape == (84, 8400) and out.dtype == np.float32
    best = out[4:].max(0)
    assert 50 < int((best > 0.25).sum()) < 1000  # a few objects, background below threshold
    assert float(np.median(best)) < 0.05
    det = k.decode_nms(out, 0.25, 0.45, 300)
    kept, _, cls, boxes = _opencv_per_class(out, 0.25, 0.45)
    assert 10 < len(det) == len(kept)
    np.testing.assert_array_equal(det.class_ids, cls[kept])
    np.testing.assert_array_equal(det.boxes, boxes[kept])


def test_head_file_round_trips_and_baselines_decode_it(tmp_path: Path) -> None:
    pytest.importorskip("cv2")
    out = bench_detect.synthetic_yolov8n(classes=5, objects=3, seed=1)
    meta = {"scale": 0.5, "offset_x": 0.0, "offset_y": 80.0, "width": 1280.0, "height": 960.0}
    bench_detect.write_case(tmp_path / "yolov8n.f32", out, meta)
    back, m = bench_detect.read_case(tmp_path / "yolov8n.f32")
    np.testing.assert_array_equal(back, out)
    assert m == meta
    env = {**os.environ, "SDK_BENCH_DATA": str(tmp_path)}
    for lib, case in (("numpy", "yolov8n"), ("opencv", "yolov8n-per-class")):
        p = subprocess.run([sys.executable, str(bench.BENCH_SRC / "baseline.py"), lib, case, "1"],
                           capture_output=True, text=True, timeout=120, env=env)
        assert p.returncode == 0, p.stderr
        info = json.loads(p.stdout.strip().splitlines()[-1])
        assert info["threads_after"] == info["threads_before"]
    # the kept count the OpenCV baseline checked equals the kernel's on the same letterbox
    det = k.decode_nms(out, 0.25, 0.45, 300, letterbox=k.LetterboxInfo(0.5, 0.5, 0, 80, 0, 0),
                       clip=(1280, 960))
    assert info["kept"] == len(det) > 0


def test_armv7_table_gives_every_row_or_its_reason() -> None:
    res = bench.BenchResult(cpu="cortex-a7", arch="armv7")
    why = bench.ARCHES["armv7"].no_opencv
    res.rows += [
        bench.Row("yolov8n", "neon", 900_000.0),
        bench.Row("yolov8n", "numpy+opencv-batched", None, why),
        bench.Row("yolov8n", "numpy-decode-only", 9_000_000.0),
    ]
    text = bench.format_table(res)
    assert text.startswith("armv7 instructions per call")
    assert "0.100x numpy-decode-only" in text and why in text
    assert "target" not in text  # the targets are aarch64 figures
    assert res.to_dict()["arch"] == "armv7"
