"""The MNN runner: one class for host validation, int8 calibration and the board.

Board code too: standard library, numpy and MNN (imported when a model is loaded). MNN's
Module API with a CPU runtime manager; any tensor of the model can be made an output, which
is how calibration and per-layer analysis read intermediate tensors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sdk.engines.base import Runner, check_feeds, shaped_output

_DTYPES = {"float32": "float", "int32": "int", "int64": "int", "uint8": "uint8"}


def _load(path: Path, inputs: Sequence[str], outputs: Sequence[str], threads: int, precision: str) -> Any:
    import MNN.nn as mnn_nn

    config = {"backend": "CPU", "precision": "low" if precision == "fp16" else "high",
              "numThread": int(threads)}
    rt = mnn_nn.create_runtime_manager((config,))
    net = mnn_nn.load_module_from_file(str(path), list(inputs), list(outputs), runtime_manager=rt)
    if net is None:
        raise RuntimeError(f"MNN failed to load {Path(path).name} with outputs {list(outputs)[:3]}")
    return rt, net


class MnnRunner(Runner):
    """An MNN ``Module`` over ``meta``'s inputs and outputs."""

    engine = "mnn"

    def __init__(self, model_dir: Path, meta: Mapping[str, Any], threads: int = 1) -> None:
        super().__init__(model_dir, meta, threads)
        self.path = self.model_dir / self.meta["files"]["model"]
        self.inputs = [t["blob"] for t in self.meta["inputs"]]
        self.rt, self.net = _load(self.path, self.inputs, [t["blob"] for t in self.meta["outputs"]],
                                  self.threads, str(self.meta.get("precision")))
        self._tensor_nets: dict[tuple[str, ...], Any] = {}

    @classmethod
    def from_file(cls, model: Path, inputs: Sequence[str], outputs: Sequence[str] = (),
                  threads: int = 1) -> MnnRunner:
        """A runner over an ``.mnn`` file with float inputs named ``inputs`` (any shape) and
        ``outputs`` (any tensors; none: the model's own) as its outputs, for :meth:`forward`."""
        meta = {"files": {"model": Path(model).name}, "precision": "fp32",
                "inputs": [{"name": n, "blob": n} for n in inputs],
                "outputs": [{"name": n, "blob": n} for n in outputs]}
        return cls(Path(model).parent, meta, threads)

    def _forward(self, net: Any, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        import MNN.expr as F

        args = []
        for t in self.meta["inputs"]:
            dt = _DTYPES.get(t.get("dtype", "float32"), "float")
            arr = np.asarray(feeds[t["name"]])
            if dt == "int":
                arr, ftype = np.ascontiguousarray(arr, dtype=np.int32), F.int
            elif dt == "uint8":
                arr, ftype = np.ascontiguousarray(arr, dtype=np.uint8), F.uint8
            else:
                arr, ftype = np.ascontiguousarray(arr, dtype=np.float32), F.float
            args.append(F.const(arr, list(arr.shape), F.NCHW, ftype))
        outs = net.forward(args)
        if not isinstance(outs, (list, tuple)):
            outs = [outs]
        res = []
        for var in outs:
            if var.data_format == F.NC4HW4:
                var = F.convert(var, F.NCHW)
            res.append(np.array(var.read(), copy=True))
        return res

    def _run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        outs = self._forward(self.net, feeds)
        if len(outs) != len(self.meta["outputs"]):
            raise RuntimeError(f"MNN gives {len(outs)} output(s), the model has {len(self.meta['outputs'])} "
                               f"({', '.join(repr(t['name']) for t in self.meta['outputs'])})")
        return {t["name"]: shaped_output("MNN", t, out)
                for t, out in zip(self.meta["outputs"], outs, strict=True)}

    def forward(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """The loaded outputs in MNN's order, as float32 NCHW (no reshape to the ONNX spec)."""
        check_feeds(self.meta, feeds)
        return [np.asarray(o, dtype=np.float32) for o in self._forward(self.net, feeds)]

    def tensors(self, feeds: Mapping[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
        """Any tensors by MNN name (float32, NCHW): the model loaded once more with them as outputs."""
        check_feeds(self.meta, feeds)
        key = tuple(names)
        if key not in self._tensor_nets:
            self._tensor_nets[key] = _load(self.path, self.inputs, key, self.threads, "fp32")
        outs = self._forward(self._tensor_nets[key][1], feeds)
        return {n: np.asarray(o, dtype=np.float32) for n, o in zip(names, outs, strict=True)}

    def layer_times(self, feeds: Mapping[str, np.ndarray],
                    repeats: int = 3) -> tuple[list[tuple[str, str, float]], str]:
        """Per operator, the median ms between MNN's begin and end callbacks of its execution."""
        import MNN

        check_feeds(self.meta, feeds)
        interp = MNN.Interpreter(str(self.path))
        precision = "low" if self.meta.get("precision") == "fp16" else "high"
        session = interp.createSession({"numThread": self.threads, "precision": precision})
        for t in self.meta["inputs"]:
            arr = np.ascontiguousarray(np.asarray(feeds[t["name"]], dtype=np.float32))
            tmp = MNN.Tensor(arr.shape, MNN.Halide_Type_Float, arr, MNN.Tensor_DimensionType_Caffe)
            interp.getSessionInput(session, t["blob"]).copyFrom(tmp)
        runs: dict[str, list[float]] = {}
        kinds: dict[str, str] = {}
        start: dict[str, float] = {}

        def begin(_tensors: Any, op: Any) -> bool:
            start[op.getName()] = time.perf_counter()
            return True

        def end(_tensors: Any, op: Any) -> bool:
            name = op.getName()
            runs.setdefault(name, []).append((time.perf_counter() - start[name]) * 1e3)
            kinds[name] = op.getType()
            return True

        interp.runSession(session)  # warm-up
        for _ in range(max(1, repeats)):
            interp.runSessionWithCallBackInfo(session, begin, end)
        rows = [(name, kinds[name], sorted(ms)[len(ms) // 2]) for name, ms in runs.items()]
        return rows, ("MNN's per-operator callbacks (Session API, runSessionWithCallBackInfo): wall time "
                      "between each op's begin and end callback (Python callback overhead included)")

    def bare(self, feeds: Mapping[str, np.ndarray]) -> Callable[[], None]:
        """The engine's own minimal loop body: input variables made once, forward, read outputs."""
        import MNN.expr as F

        check_feeds(self.meta, feeds)
        args = [F.const(np.ascontiguousarray(np.asarray(feeds[t["name"]], dtype=np.float32)),
                        list(np.shape(feeds[t["name"]])), F.NCHW, F.float) for t in self.meta["inputs"]]

        def step() -> None:
            outs = self.net.forward(args)
            for o in outs if isinstance(outs, (list, tuple)) else [outs]:
                o.read()

        return step

    def close(self) -> None:
        self.net = None
        self.rt = None
        self._tensor_nets.clear()


RUNNER = MnnRunner
