"""The ncnn runner: one class for host validation, int8 calibration and the board.

Board code too: standard library, numpy and ncnn (imported when a model is loaded).
An ``ncnn.Mat`` over a numpy array is a view that does not keep the array alive, so every
input is fed as a clone of a contiguous array the runner holds while ncnn reads it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sdk.engines.base import Runner, check_feeds, shaped_output


class NcnnRunner(Runner):
    """An ncnn ``Net``. ``int8=False`` runs int8 layers as float; ``keep_blobs`` keeps every
    intermediate blob of a run (ncnn's light mode off), for :meth:`tensors`."""

    engine = "ncnn"

    def __init__(self, model_dir: Path, meta: Mapping[str, Any], threads: int = 1, *,
                 int8: bool = True, keep_blobs: bool = False) -> None:
        super().__init__(model_dir, meta, threads)
        import ncnn

        self.squeeze = bool(self.meta.get("squeeze_batch", True))
        self.net = ncnn.Net()
        opt = self.net.opt
        opt.num_threads = self.threads
        opt.use_vulkan_compute = False
        fp16 = self.meta.get("precision") == "fp16"
        opt.use_fp16_storage = fp16
        opt.use_fp16_packed = fp16
        opt.use_fp16_arithmetic = fp16
        opt.use_int8_inference = int8
        if keep_blobs:
            opt.lightmode = False
        files = self.meta["files"]
        for what in ("param", "bin"):
            path = str(self.model_dir / files[what])
            rc = self.net.load_param(path) if what == "param" else self.net.load_model(path)
            if rc != 0:
                self.net.clear()
                raise RuntimeError(f"ncnn failed to load the {what} file {files[what]} (code {rc})")

    @classmethod
    def from_files(cls, param: Path, bin: Path, meta: Mapping[str, Any], threads: int | None = None,
                   **options: Any) -> NcnnRunner:
        """A runner over ``param`` + ``bin`` (same directory) with ``meta``'s inputs and outputs;
        ``threads`` None: every cpu."""
        if Path(param).parent != Path(bin).parent:
            raise ValueError(f"{param} and {bin} must be in one directory")
        meta = {**meta, "files": {"param": Path(param).name, "bin": Path(bin).name}}
        return cls(Path(param).parent, meta, threads or os.cpu_count() or 1, **options)

    def _extractor(self, feeds: Mapping[str, np.ndarray]) -> tuple[Any, list[Any]]:
        import ncnn

        check_feeds(self.meta, feeds)
        ex = self.net.create_extractor()
        held = []  # the arrays ncnn's Mats view, alive until the extractor is done
        for t in self.meta["inputs"]:
            arr = np.ascontiguousarray(np.asarray(feeds[t["name"]], dtype=np.float32))
            if self.squeeze and arr.ndim > 1 and arr.shape[0] == 1:
                arr = np.ascontiguousarray(arr[0])
            held.append(arr)
            rc = ex.input(t["blob"], ncnn.Mat(arr).clone())
            if rc != 0:
                raise RuntimeError(f"ncnn rejected input blob {t['blob']!r} (code {rc})")
        return ex, held

    @staticmethod
    def _extract(ex: Any, blob: str) -> np.ndarray:
        rc, mat = ex.extract(blob)
        if rc != 0:
            raise RuntimeError(f"ncnn failed to compute blob {blob!r} (code {rc})")
        return np.array(mat, dtype=np.float32, copy=True)

    def _run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        ex, _held = self._extractor(feeds)
        try:
            return {t["name"]: shaped_output("ncnn", t, self._extract(ex, t["blob"]))
                    for t in self.meta["outputs"]}
        finally:
            ex.clear()

    def tensors(self, feeds: Mapping[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
        """Blobs by ncnn name, shaped as ncnn holds them (batch axis dropped: ``c, h, w``)."""
        ex, _held = self._extractor(feeds)
        try:
            return {n: self._extract(ex, n) for n in names}
        finally:
            ex.clear()

    def close(self) -> None:
        self.net.clear()

    def layer_times(self, feeds: Mapping[str, np.ndarray],
                    repeats: int = 3) -> tuple[list[tuple[str, str, float]], str]:
        """Per layer (param order), the median ms of computing it once its inputs exist.

        One extractor that keeps every blob (light mode off) extracts each layer's first top
        in the param's order, which is topological: each extract runs exactly the one layer
        not computed yet. Python's call overhead (a few microseconds) is inside each figure.
        """
        layers = param_layers(self.model_dir / self.meta["files"]["param"])
        runs: dict[str, list[float]] = {}
        for _ in range(max(1, repeats)):
            ex, _held = self._extractor(feeds)
            ex.set_light_mode(False)
            try:
                for kind, name, tops in layers:
                    if kind == "Input" or not tops:
                        continue
                    t0 = time.perf_counter()
                    self._extract(ex, tops[0])
                    runs.setdefault(name, []).append((time.perf_counter() - t0) * 1e3)
            finally:
                ex.clear()
        kinds = {name: kind for kind, name, _ in layers}
        rows = [(name, kinds[name], sorted(ms)[len(ms) // 2]) for name, ms in runs.items()]
        return rows, ("each layer's top blob extracted in param order from one extractor that keeps "
                      "every blob: the time of that layer alone (Python call overhead included)")

    def bare(self, feeds: Mapping[str, np.ndarray]) -> Callable[[], None]:
        """The engine's own minimal loop body: inputs converted once, extract every output."""
        import ncnn

        check_feeds(self.meta, feeds)
        mats = []
        for t in self.meta["inputs"]:
            arr = np.ascontiguousarray(np.asarray(feeds[t["name"]], dtype=np.float32))
            if self.squeeze and arr.ndim > 1 and arr.shape[0] == 1:
                arr = np.ascontiguousarray(arr[0])
            mats.append((t["blob"], ncnn.Mat(arr).clone()))
        outs = [t["blob"] for t in self.meta["outputs"]]

        def step() -> None:
            ex = self.net.create_extractor()
            for blob, mat in mats:
                ex.input(blob, mat)
            for blob in outs:
                ex.extract(blob)
            ex.clear()

        return step



RUNNER = NcnnRunner


def param_layers(param: Path) -> list[tuple[str, str, list[str]]]:
    """(type, name, top blobs) of every layer of an ncnn .param, in file order."""
    out = []
    for line in Path(param).read_text().splitlines()[2:]:
        f = line.split()
        if len(f) >= 4 and f[2].isdigit() and f[3].isdigit():
            n_in, n_out = int(f[2]), int(f[3])
            out.append((f[0], f[1], f[4 + n_in : 4 + n_in + n_out]))
    return out

