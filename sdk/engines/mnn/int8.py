"""MNN's int8 adapters: what the engine-neutral int8 flow (:mod:`sdk.quantize`) drives.

- :class:`MnnInt8` (the default): the SDK's own calibration (one statistics pass), each
  mixed-precision candidate one converter run with compression params
  (:mod:`sdk.engines.mnn.params`);
- :class:`MnnQuantizer` (``--method mnn-kl|mnn-admm|mnn-ema``): MNN's own offline quantizer
  (:mod:`sdk.engines.mnn.quantizer`), which calibrates again for every skip list.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sdk.engines.mnn.params import POOLED_INPUT, calibrate_mnn, mnn_sensitivity, write_mnn_int8
from sdk.engines.mnn.quantizer import quantize_mnn
from sdk.engines.mnn.tools import dump_mnn_tensors, mnn_ops
from sdk.quantize.engine import Int8Engine
from sdk.quantize.task import GraphOp
from sdk.records import EngineModel, LayerStat

__all__ = ["MnnInt8", "MnnQuantizer"]

# MNN op types as the culprit search reads them (sdk.quantize.task.culprits)
MNN_KINDS = {"Concat": "concat", "Softmax": "softmax", "Sigmoid": "sigmoid",
             **dict.fromkeys(("Reshape", "Permute", "Flatten", "Slice", "StridedSlice", "Squeeze",
                              "Unsqueeze",
                              "ConvertTensor", "Transpose"), "shape")}


# Each conv's sensitivity is one converter run: a YOLOv8s has 64 convs (a 45 MB model, about
# 30 min of runs on 2 busy cores), so of a model above COSTLY_BYTES only the convs that add
# the most error are ranked, and mixed precision doubles its step (the PP-OCR models, 0.5-10
# MB, keep the one-conv-at-a-time search their targets were measured with).
RANK_MAX = 16
COSTLY_BYTES = 20_000_000


class MnnQuantizer(Int8Engine):
    """MNN's own offline quantizer (``--method mnn-kl|mnn-admm|mnn-ema``): it calibrates
    again for every skip list."""

    engine = "mnn"

    @property
    def costly_builds(self) -> bool:  # type: ignore[override]
        return sum(f.stat().st_size for f in self.fp32.files) > COSTLY_BYTES

    def build(self, skip: Sequence[str]) -> EngineModel:
        inp = self.prepared.inputs[0]
        t0 = time.perf_counter()
        path = quantize_mnn(self.fp32.files[0], self.calib, self._dir(skip),
                            method=self.method.removeprefix("mnn-"),
                            per_channel=self.per_channel, skip=list(skip), input_name=inp.name,
                            input_shape=tuple(inp.shape))
        if not skip:
            self.calib_seconds = time.perf_counter() - t0
        return EngineModel("mnn", "int8", [path], {**self.fp32.meta, "precision": "int8",
                                                   "files": {"model": path.name}})

    def layers(self) -> list[tuple[str, str, str]]:
        return [(op.name, op.inputs[0], op.outputs[0]) for op in mnn_ops(self.fp32.files[0])
                if op.quantizable and op.inputs and op.outputs]

    def dump(self, model: EngineModel, feed: dict[str, np.ndarray], names: Sequence[str]) -> dict[str, Any]:
        return dump_mnn_tensors(model.files[0], feed, list(names))

    def graph(self) -> tuple[list[GraphOp], list[str], Callable[[Sequence[str]], dict[str, float]]]:
        live = {n for n, _, _ in self.layers()}
        ops = [GraphOp(op.name, "conv" if op.name in live else MNN_KINDS.get(op.type, "other"),
                       op.inputs, op.outputs) for op in mnn_ops(self.fp32.files[0])]

        made = {t for op in ops if op.kind != "other" or op.inputs for t in op.outputs}

        def absmax(names: Sequence[str]) -> dict[str, float]:
            """One tensor at a time: MNN cannot read some (constants folded away, e.g. in PP-OCR
            cls), and one unreadable tensor must not cost the others."""
            vals: dict[str, float] = {}
            for n in names:
                if n not in made:
                    continue
                try:
                    for feed in self.calib[:2]:
                        a = np.asarray(self.dump(self.fp32, feed, [n])[n])
                        vals[n] = max(vals.get(n, 0.0), float(np.abs(a).max()) if a.size else 0.0)
                except Exception:  # not readable in this model: no range, no verdict on it
                    vals.pop(n, None)
            return vals

        return ops, [t.name for t in self.prepared.outputs], absmax


class MnnInt8(MnnQuantizer):
    """MNN int8 from the SDK's calibration (:mod:`sdk.engines.mnn.params`): one statistics
    pass, then each skip list is one converter run."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        t0 = time.perf_counter()
        self.table = calibrate_mnn(self.fp32.files[0], self.calib, self._inputs(), method=self.method,
                                   per_channel=self.per_channel, onnx_path=self.prepared.path,
                                   workdir=self.workdir / "mnn-calibration")
        self.calib_seconds = time.perf_counter() - t0

    def set_method(self, method: str) -> None:
        self.table, self.method = self.table.with_method(method), method

    def _inputs(self) -> list[str]:
        return [t.name for t in self.prepared.inputs]

    def build(self, skip: Sequence[str]) -> EngineModel:
        path, done = write_mnn_int8(self.prepared.path, self.table, self._dir(skip), skip=skip)
        return EngineModel("mnn", "int8", [path], {
            **self.fp32.meta, "precision": "int8", "files": {"model": path.name},
            "int8": {"method": self.method, "per_channel": self.per_channel, "layers": len(done),
                     "kept_float": dict(self.table.kept_float),
                     "skip": sorted(skip), "calibration": "sdk"}})

    def layers(self) -> list[tuple[str, str, str]]:
        return [(c.name, c.input, c.output) for c in self.table.convs]

    def kept_float(self) -> dict[str, str]:
        return dict(self.table.kept_float)

    def float_candidates(self) -> tuple[list[str], str]:
        live = {c.name for c in self.table.convs}
        return [n for n in self.table.pooled if n in live], POOLED_INPUT

    def rank(self, int8: EngineModel, feeds: Sequence[dict[str, np.ndarray]],
             stats: list[LayerStat]) -> list[str]:
        """Each conv alone in int8, worst output first (one converter run per conv): of a large
        model (:data:`COSTLY_BYTES`) only the :data:`RANK_MAX` convs that add the most error in
        the full int8 model (``stats``), the rest after them in that order."""
        live = [c.name for c in self.table.convs]
        by_error = [s.name for s in stats if s.name in set(live)]
        subset = by_error[:RANK_MAX] if self.costly_builds and len(live) > RANK_MAX and by_error else None
        sens = mnn_sensitivity(self.prepared.path, self.fp32.files[0], self.table, list(feeds),
                               self._inputs(), [t.name for t in self.prepared.outputs],
                               self.workdir / "mnn-sensitivity", margins=self.margins,
                               score=self.rank_score(), layers=subset)
        ranked = list(sens)
        return ranked + [n for n in by_error if n not in sens]
