"""Run a converted model with ncnn or MNN, keyed by the original ONNX tensor names.

Runs on the host (validation) and on the board (golden check, benchmark): imports only the
standard library and numpy at module level; the engines are imported inside the runners.

``meta`` is the JSON-able dict written at conversion time::

    {
      "engine": "ncnn" | "mnn",
      "precision": "fp32" | "fp16",
      "files": {"param": "model.ncnn.param", "bin": "model.ncnn.bin"}   # ncnn
             | {"model": "model.mnn"},                                  # mnn
      "inputs":  [{"name": ONNX name, "blob": engine name, "shape": [...], "dtype": "float32"}],
      "outputs": [{"name": ONNX name, "blob": engine name, "shape": [...], "dtype": "float32"}],
      "squeeze_batch": true,                                            # ncnn only
    }
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

ENGINES = ("ncnn", "mnn")


class Runner(Protocol):
    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def close(self) -> None: ...


def _check_feeds(meta: dict[str, Any], feeds: dict[str, np.ndarray]) -> None:
    names = [t["name"] for t in meta["inputs"]]
    missing = [n for n in names if n not in feeds]
    if missing:
        raise ValueError(f"missing inputs {missing}: expected {names}, found {sorted(feeds)}")
    for t in meta["inputs"]:
        arr = feeds[t["name"]]
        if tuple(arr.shape) != tuple(t["shape"]):
            raise ValueError(f"input {t['name']!r}: expected shape {tuple(t['shape'])}, found {arr.shape}")


class NcnnRunner:
    """ncnn ``Net`` fed with contiguous copies (an ``ncnn.Mat`` over numpy is a view)."""

    def __init__(self, model_dir: Path, meta: dict[str, Any], threads: int = 1) -> None:
        import ncnn

        self.meta = meta
        self.squeeze = bool(meta.get("squeeze_batch", True))
        self.net = ncnn.Net()
        opt = self.net.opt
        opt.num_threads = int(threads)
        opt.use_vulkan_compute = False
        fp16 = meta.get("precision") == "fp16"
        opt.use_fp16_storage = fp16
        opt.use_fp16_packed = fp16
        opt.use_fp16_arithmetic = fp16
        files = meta["files"]
        for what, rc in (
            ("param", self.net.load_param(str(model_dir / files["param"]))),
            ("bin", self.net.load_model(str(model_dir / files["bin"]))),
        ):
            if rc != 0:
                raise RuntimeError(f"ncnn failed to load the {what} file (code {rc})")

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import ncnn

        _check_feeds(self.meta, feeds)
        results: dict[str, np.ndarray] = {}
        ex = self.net.create_extractor()
        try:
            for t in self.meta["inputs"]:
                arr = np.asarray(feeds[t["name"]], dtype=np.float32)
                if self.squeeze and arr.ndim > 1 and arr.shape[0] == 1:
                    arr = arr[0]
                mat = ncnn.Mat(np.ascontiguousarray(arr)).clone()
                rc = ex.input(t["blob"], mat)
                if rc != 0:
                    raise RuntimeError(f"ncnn rejected input blob {t['blob']!r} (code {rc})")
            for t in self.meta["outputs"]:
                rc, mat = ex.extract(t["blob"])
                if rc != 0:
                    raise RuntimeError(f"ncnn failed to compute blob {t['blob']!r} (code {rc})")
                out = np.array(mat, dtype=np.float32, copy=True)
                shape = tuple(int(d) for d in t["shape"])
                if out.size != int(np.prod(shape)):
                    raise RuntimeError(
                        f"ncnn output {t['name']!r}: expected {int(np.prod(shape))} values "
                        f"{shape}, found {out.size} {out.shape}"
                    )
                results[t["name"]] = out.reshape(shape).astype(t.get("dtype", "float32"))
        finally:
            clear = getattr(ex, "clear", None)
            if clear is not None:
                clear()
        return results

    def close(self) -> None:
        self.net.clear()


_MNN_DTYPES = {"float32": "float", "int32": "int", "int64": "int", "uint8": "uint8"}


class MnnRunner:
    """MNN ``Module`` API (expr) with a CPU runtime manager."""

    def __init__(self, model_dir: Path, meta: dict[str, Any], threads: int = 1) -> None:
        import MNN.nn as mnn_nn

        self.meta = meta
        precision = "low" if meta.get("precision") == "fp16" else "high"
        config = {"backend": "CPU", "precision": precision, "numThread": int(threads)}
        self.rt = mnn_nn.create_runtime_manager((config,))
        self.net = mnn_nn.load_module_from_file(
            str(model_dir / meta["files"]["model"]),
            [t["blob"] for t in meta["inputs"]],
            [t["blob"] for t in meta["outputs"]],
            runtime_manager=self.rt,
        )
        if self.net is None:
            raise RuntimeError("MNN failed to load the model")

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import MNN.expr as F

        _check_feeds(self.meta, feeds)
        args = []
        for t in self.meta["inputs"]:
            dt = _MNN_DTYPES.get(t.get("dtype", "float32"), "float")
            arr = np.asarray(feeds[t["name"]])
            if dt == "int":
                arr, ftype = np.ascontiguousarray(arr, dtype=np.int32), F.int
            elif dt == "uint8":
                arr, ftype = np.ascontiguousarray(arr, dtype=np.uint8), F.uint8
            else:
                arr, ftype = np.ascontiguousarray(arr, dtype=np.float32), F.float
            args.append(F.const(arr, list(arr.shape), F.NCHW, ftype))
        outs = self.net.forward(args)
        if not isinstance(outs, (list, tuple)):
            outs = [outs]
        results: dict[str, np.ndarray] = {}
        for t, var in zip(self.meta["outputs"], outs, strict=True):
            if var.data_format == F.NC4HW4:
                var = F.convert(var, F.NCHW)
            out = np.array(var.read(), copy=True)
            shape = tuple(int(d) for d in t["shape"])
            if out.size != int(np.prod(shape)):
                raise RuntimeError(
                    f"MNN output {t['name']!r}: expected {int(np.prod(shape))} values "
                    f"{shape}, found {out.size} {out.shape}"
                )
            results[t["name"]] = out.reshape(shape).astype(t.get("dtype", "float32"))
        return results

    def close(self) -> None:
        self.net = None
        self.rt = None


def load_engine(engine: str, model_dir: Path, meta: dict[str, Any], threads: int = 1) -> Runner:
    """A runner for ``engine`` over the converted files in ``model_dir`` described by ``meta``."""
    model_dir = Path(model_dir)
    if engine == "ncnn":
        return NcnnRunner(model_dir, meta, threads)
    if engine == "mnn":
        return MnnRunner(model_dir, meta, threads)
    raise ValueError(f"unknown engine {engine!r}: expected one of {ENGINES}")
