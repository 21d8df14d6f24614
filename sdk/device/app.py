"""The harness every app's board pipeline runs in (``apps/NAME/board.py`` on the board).

An app's board module defines a pipeline class with three steps and calls :func:`main`::

    preprocess(frame) -> (x, state)         # the frame (H, W, 3) BGR u8 -> the engine's input
    infer(x) -> out                         # the engine(s)
    postprocess(out, state, frame) -> dict  # the app's result ("detections", "top", "lines")

The harness opens one pipeline per model variant of the bundle, times every stage on the
board (decode = reading the raw frame, the board has no image codec; the median of
``--runs`` after ``--warmup`` passes, default 1), and with ``--frames N`` measures frames per second
sequentially and with the next frame's preprocessing overlapped with the current inference
in a second thread (the kernels and the engines release the GIL). A pipeline may add
``extra_ms`` (name -> ms of its last postprocess) to break that stage down; entries named
"... inference" (models run inside postprocess: OCR's classifier and recogniser) count as
inference, not postprocess. Standard library,
numpy, the engines and ``sdk._kernels`` only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sdk.device.runner import _pin
from sdk.records import BundledModel, Manifest

STAGES = ("decode", "preprocess", "inference", "postprocess")


class Pipeline(Protocol):
    extra_ms: dict[str, float]

    def preprocess(self, frame: np.ndarray) -> tuple[Any, Any]: ...

    def infer(self, x: Any) -> Any: ...

    def postprocess(self, out: Any, state: Any, frame: np.ndarray) -> dict[str, Any]: ...

    def close(self) -> None: ...


class MainModel:
    """The base of a pipeline around the bundle's main model: its runner, its first input's
    name and shape (``h``, ``w`` for an image input), its first output's name."""

    def __init__(self, root: Path, model: BundledModel, threads: int) -> None:
        from sdk.engines.base import open_runner

        spec = Manifest.load(root).model
        self.input, self.shape = spec["inputs"][0]["name"], list(spec["inputs"][0]["shape"])
        self.h, self.w = self.shape[-2:]
        self.output = spec["outputs"][0]["name"]
        self.runner = open_runner(model.engine, root / model.dir, model.meta, threads)
        self.extra_ms: dict[str, float] = {}

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self.runner.run({self.input: x})[self.output]

    def close(self) -> None:
        self.runner.close()


# (bundle root, model variant, threads, parsed options) -> the app's pipeline
Factory = Callable[[Path, BundledModel, int, argparse.Namespace], Pipeline]


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1e3


def run_once(p: Pipeline, frame_file: Path) -> tuple[dict[str, Any], list[float]]:
    """One pass over the frame: the result and the four stage times in ms."""
    t0 = time.perf_counter()
    frame = np.load(frame_file, allow_pickle=False)
    t_dec = _ms(t0)
    t0 = time.perf_counter()
    x, state = p.preprocess(frame)
    t_pre = _ms(t0)
    t0 = time.perf_counter()
    out = p.infer(x)
    t_inf = _ms(t0)
    t0 = time.perf_counter()
    result = p.postprocess(out, state, frame)
    return result, [t_dec, t_pre, t_inf, _ms(t0)]


def run_timed(p: Pipeline, frame_file: Path, runs: int, warmup: int = 1) -> dict[str, Any]:
    """The result and the median stage times of ``runs`` passes after ``warmup`` passes."""
    times: list[list[float]] = []
    extra: dict[str, list[float]] = {}
    result: dict[str, Any] = {}
    for i in range(warmup + runs):
        result, t = run_once(p, frame_file)
        nested = sum(v for k, v in getattr(p, "extra_ms", {}).items() if k.endswith("inference"))
        t[2], t[3] = t[2] + nested, t[3] - nested  # models run inside postprocess count as inference
        if i >= warmup:
            times.append(t)
            for k, v in getattr(p, "extra_ms", {}).items():
                extra.setdefault(k, []).append(v)
    cols = zip(*times, strict=True)
    out = {**result, "stages_ms": {k: statistics.median(c) for k, c in zip(STAGES, cols, strict=True)}}
    if extra:
        out["detail_ms"] = {k: statistics.median(v) for k, v in extra.items()}
    return out


def throughput(p: Pipeline, frame: np.ndarray, n: int) -> dict[str, float]:
    """Frames per second over ``n`` frames: sequential, and with the next frame's
    preprocessing overlapped with the current inference + postprocessing."""
    t0 = time.perf_counter()
    for _ in range(n):
        x, state = p.preprocess(frame)
        p.postprocess(p.infer(x), state, frame)
    seq = time.perf_counter() - t0
    t0 = time.perf_counter()
    with ThreadPoolExecutor(1) as pool:
        nxt = pool.submit(p.preprocess, frame)
        results = 0
        for i in range(n):
            x, state = nxt.result()
            if i + 1 < n:
                nxt = pool.submit(p.preprocess, frame)
            p.postprocess(p.infer(x), state, frame)
            results += 1
    ovl = time.perf_counter() - t0
    return {"frames": n, "results": results, "sequential_fps": n / seq, "overlapped_fps": n / ovl}


def parser(prog: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog)
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--frame", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cpus", default="")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--frames", type=int, default=0)
    return ap


def main(app: str, factory: Factory, ap: argparse.ArgumentParser, argv: list[str] | None,
         summary: Callable[[dict[str, Any]], str]) -> int:
    """Run the pipeline of every model variant in the bundle; write ``--out`` atomically."""
    from sdk import _kernels  # type: ignore[attr-defined]

    a = ap.parse_args(argv)
    cpus = _pin([int(c) for c in a.cpus.split(",") if c]) if a.cpus else []
    manifest = Manifest.load(a.bundle)
    results = []
    for model in manifest.models:
        p = factory(a.bundle, model, a.threads, a)
        try:
            res = {"engine": model.engine, "precision": model.precision, "variant": model.id,
                   **run_timed(p, a.frame, a.runs, a.warmup)}
            if a.frames:
                res["throughput"] = throughput(p, np.load(a.frame, allow_pickle=False), a.frames)
        finally:
            p.close()
        results.append(res)
        print(f"{model.id}: {summary(res)}, inference {res['stages_ms']['inference']:.1f} ms", flush=True)
    doc = {"app": app, "cpus": cpus, "kernels": dict(_kernels.variants()), "isa": str(_kernels.cpu_isa()),
           "results": results}
    tmp = a.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True))
    os.replace(tmp, a.out)
    return 0
