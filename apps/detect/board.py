"""The detect app's pipeline ON THE BOARD: frame -> letterbox -> engine -> decode + NMS.

Shipped in the bundle as ``runtime/sdk/app_detect.py`` and run with the bundle's offline
venv. Imports only the standard library, numpy, the engines' runners and ``sdk._kernels``
(the fused letterbox preprocessing and the YOLOv8 decode + class-aware NMS)::

    python -m sdk.app_detect BUNDLE --frame frame.npy --out result.json [--threads 2]
        [--cpus 4,5] [--runs 3] [--score 0.25] [--iou 0.45] [--frames N]

The engine's output (1, 4 + C, N) goes to the decode kernel in its own layout (no transpose
copy). Boxes come back in source-image pixels. Every stage is timed on the board: decode
(reading the raw BGR frame: the board has no image codec, the host decoded the file),
preprocess, inference, postprocess; the median of ``--runs`` is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from sdk import _kernels  # type: ignore[attr-defined]
from sdk.device.runner import _pin
from sdk.engines.base import open_runner
from sdk.records import Manifest

BGR = 0  # sdk._kernels source format id


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1e3


class Detector:
    def __init__(self, root: Path, model: Any, threads: int, score: float, iou: float) -> None:
        manifest = Manifest.load(root)
        self.input = manifest.model["inputs"][0]["name"]
        _, _, self.h, self.w = manifest.model["inputs"][0]["shape"]
        self.output = manifest.model["outputs"][0]["name"]
        self.runner = open_runner(model.engine, root / model.dir, model.meta, threads)
        self.score, self.iou = score, iou

    def preprocess(self, frame: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float, float]]:
        x, info = _kernels.preprocess_f32(frame, BGR, self.w, self.h, True, (0.0, 0.0, 0.0),
                                          (1 / 255, 1 / 255, 1 / 255), True, 114)
        return x[None], (info[0], info[1], float(info[2]), float(info[3]))

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self.runner.run({self.input: x})[self.output]

    def postprocess(self, out: np.ndarray, lb: tuple[float, float, float, float],
                    size: tuple[int, int]) -> list[dict[str, Any]]:
        # (1, 4 + C, N) in the engine's own layout: the kernel reads it in place
        boxes, scores, classes = _kernels.decode_nms(out[0], self.score, self.iou, 300, lb,
                                                     (float(size[0]), float(size[1])))
        return [{"box": [float(v) for v in b], "score": float(s), "class": int(c)}
                for b, s, c in zip(boxes, scores, classes, strict=True)]


def run_one(det: Detector, frame_file: Path, runs: int) -> dict[str, Any]:
    stages: dict[str, list[float]] = {"decode": [], "preprocess": [], "inference": [], "postprocess": []}
    detections: list[dict[str, Any]] = []
    for i in range(runs + 1):  # the first pass warms up the engine and is not counted
        t0 = time.perf_counter()
        frame = np.load(frame_file, allow_pickle=False)
        t_dec = _ms(t0)
        t0 = time.perf_counter()
        x, lb = det.preprocess(frame)
        t_pre = _ms(t0)
        t0 = time.perf_counter()
        out = det.infer(x)
        t_inf = _ms(t0)
        t0 = time.perf_counter()
        detections = det.postprocess(out, lb, (frame.shape[1], frame.shape[0]))
        t_post = _ms(t0)
        if i:
            for k, v in zip(stages, (t_dec, t_pre, t_inf, t_post), strict=True):
                stages[k].append(v)
    return {"detections": detections, "stages_ms": {k: statistics.median(v) for k, v in stages.items()},
            "output_layout": "(1, 4 + C, N) read in place"}


def throughput(det: Detector, frame: np.ndarray, n: int) -> dict[str, float]:
    """Frames per second over ``n`` frames: sequential, and with the next frame's
    preprocessing overlapped with the current inference (the kernels release the GIL)."""
    size = (frame.shape[1], frame.shape[0])
    t0 = time.perf_counter()
    for _ in range(n):
        x, lb = det.preprocess(frame)
        det.postprocess(det.infer(x), lb, size)
    seq = time.perf_counter() - t0
    t0 = time.perf_counter()
    with ThreadPoolExecutor(1) as pool:
        nxt = pool.submit(det.preprocess, frame)
        for i in range(n):
            x, lb = nxt.result()
            if i + 1 < n:
                nxt = pool.submit(det.preprocess, frame)
            det.postprocess(det.infer(x), lb, size)
    ovl = time.perf_counter() - t0
    return {"frames": n, "sequential_fps": n / seq, "overlapped_fps": n / ovl}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="sdk.app_detect")
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--frame", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cpus", default="")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--score", type=float, default=0.25)
    ap.add_argument("--iou", type=float, default=0.45)
    ap.add_argument("--frames", type=int, default=0)
    a = ap.parse_args(argv)
    cpus = _pin([int(c) for c in a.cpus.split(",") if c]) if a.cpus else []
    manifest = Manifest.load(a.bundle)
    results = []
    for model in manifest.models:
        det = Detector(a.bundle, model, a.threads, a.score, a.iou)
        try:
            res = {"engine": model.engine, "precision": model.precision, "variant": model.id,
                   **run_one(det, a.frame, a.runs)}
            if a.frames:
                res["throughput"] = throughput(det, np.load(a.frame, allow_pickle=False), a.frames)
        finally:
            det.runner.close()
        results.append(res)
        n, inf = len(res["detections"]), res["stages_ms"]["inference"]
        print(f"{model.id}: {n} detections, inference {inf:.1f} ms", flush=True)
    doc = {"app": "detect", "cpus": cpus, "kernels": dict(_kernels.variants()),
           "isa": str(_kernels.cpu_isa()),
           "results": results}
    tmp = a.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True))
    os.replace(tmp, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
