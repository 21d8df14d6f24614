"""ncnn's int8 adapter: what the engine-neutral int8 flow (:mod:`sdk.quantize`) drives.

One calibration pass (:mod:`sdk.engines.ncnn.table`) serves every threshold method and
every mixed-precision candidate: a candidate is one rewrite (:mod:`sdk.engines.ncnn.rewrite`)
with its fp32 layers left float, no recalibration.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sdk.engines.ncnn.format import NcnnParam
from sdk.engines.ncnn.rewrite import correct_bias, write_int8_model
from sdk.engines.ncnn.table import CalibrationTable, blob_runs, calibrate_ncnn, rethreshold, run_blobs
from sdk.errors import QuantizeError
from sdk.quantize.engine import Int8Engine
from sdk.quantize.task import GraphOp
from sdk.records import EngineModel, LayerStat

__all__ = ["NcnnInt8", "extract_blobs", "layer_sensitivity"]

# ncnn layer types as the culprit search reads them (sdk.quantize.task.culprits)
NCNN_KINDS = {"Concat": "concat", "Softmax": "softmax", "Sigmoid": "sigmoid",
              **dict.fromkeys(("Reshape", "Permute", "Flatten", "Slice", "Split", "Crop", "Squeeze",
                               "ExpandDims", "Noop"), "shape")}


class NcnnInt8(Int8Engine):
    engine = "ncnn"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        param, bin_ = self._files(self.fp32)
        t0 = time.perf_counter()
        self.table = calibrate_ncnn(param, bin_, self.calib, self.fp32.meta, method=self.method,
                                    per_channel=self.per_channel)
        self.calib_seconds = time.perf_counter() - t0

    def set_method(self, method: str) -> None:
        self.table, self.method = rethreshold(self.table, method), method

    def correct(self, on: bool = True, skip: Sequence[str] = ()) -> int:
        if not on:
            self.table.bias_shift = {}
            return 0
        param, bin_ = self._files(self.fp32)
        return len(correct_bias(param, bin_, self.table, self.calib, self.fp32.meta,
                                self.workdir / "ncnn-bias-correction", skip=skip))

    @staticmethod
    def _files(m: EngineModel) -> tuple[Path, Path]:
        param = next(f for f in m.files if f.suffix == ".param")
        return param, next(f for f in m.files if f.suffix == ".bin")

    def build(self, skip: Sequence[str]) -> EngineModel:
        d = self._dir(skip)
        d.mkdir(parents=True, exist_ok=True)
        param, bin_ = self._files(self.fp32)
        out_p, out_b = d / param.name, d / bin_.name
        done = write_int8_model(param, bin_, self.table, out_p, out_b, skip=set(skip))
        return EngineModel("ncnn", "int8", [out_p, out_b], {
            **self.fp32.meta, "precision": "int8",
            "int8": {"method": self.method, "per_channel": self.per_channel, "layers": len(done),
                     "skip": sorted(skip), "calibration": "sdk"}})

    def layers(self) -> list[tuple[str, str, str]]:
        param, _ = self._files(self.fp32)
        parsed = NcnnParam.load(param)
        calibrated = set(self.table.layers)
        return [(layer.name, layer.bottoms[0], layer.tops[0]) for layer in parsed.layers
                if layer.name in calibrated and layer.bottoms and layer.tops]

    def layer_weights(self) -> dict[str, int]:
        if self.table.source is None:
            return {}
        return {layer.name: int(w.weight.size) for _, layer, w in self.table.source[0]}

    def rank(self, int8: EngineModel, feeds: Sequence[dict[str, np.ndarray]],
             stats: list[LayerStat]) -> list[str]:
        """Each layer alone in int8 (cheap here: no recalibration), worst output first; a full
        int8 model's blobs blame layers that only amplify earlier errors."""
        param, bin_ = self._files(self.fp32)
        sens = layer_sensitivity(param, bin_, self.table, list(feeds), self.fp32.meta,
                                 self.workdir / "ncnn-sensitivity", margins=self.margins,
                                 score=self.rank_score())
        return sorted(sens, key=lambda k: sens[k])

    def graph(self) -> tuple[list[GraphOp], list[str], Callable[[Sequence[str]], dict[str, float]]]:
        param, bin_ = self._files(self.fp32)
        parsed = NcnnParam.load(param)
        calibrated = set(self.table.layers)
        ops = [GraphOp(layer.name,
                       "conv" if layer.name in calibrated else NCNN_KINDS.get(layer.type, "other"),
                       tuple(layer.bottoms), tuple(layer.tops)) for layer in parsed.layers]
        outputs = [t["blob"] for t in self.fp32.meta["outputs"]]

        def absmax(names: Sequence[str]) -> dict[str, float]:
            vals: dict[str, float] = {}
            for feed in self.calib[:2]:
                for n, v in extract_blobs(param, bin_, feed, self.fp32.meta, list(names)).items():
                    vals[n] = max(vals.get(n, 0.0), float(np.abs(v).max()) if v.size else 0.0)
            return vals

        return ops, outputs, absmax

    def dump(self, model: EngineModel, feed: dict[str, np.ndarray], names: Sequence[str]) -> dict[str, Any]:
        param, bin_ = self._files(model)
        return extract_blobs(param, bin_, feed, model.meta, list(names))


def extract_blobs(
    param: Path,
    bin: Path,
    feeds: dict[str, np.ndarray],
    meta: dict[str, Any],
    names: Sequence[str] | None = None,
    *,
    threads: int | None = None,
) -> dict[str, np.ndarray]:
    """The fp32 value of each named blob (every blob when ``names`` is None) for one feed.

    Works on fp32 and int8 models alike (our int8 layers dequantize their outputs, so every
    blob is fp32). Shapes are ncnn's (batch axis dropped: ``c, h, w``).
    """
    parsed = NcnnParam.load(param)
    wanted = list(names) if names is not None else parsed.blob_names()
    known = set(parsed.blob_names())
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise QuantizeError(f"no blob(s) {', '.join(unknown[:5])} in {Path(param).name}")
    (values,) = run_blobs(param, bin, [feeds], meta, wanted, threads=threads)
    return dict(zip(wanted, values, strict=True))


def layer_sensitivity(
    param: Path,
    bin: Path,
    table: CalibrationTable,
    feeds: Sequence[dict[str, np.ndarray]],
    meta: dict[str, Any],
    workdir: Path,
    *,
    layers: Sequence[str] | None = None,
    threads: int | None = None,
    margins: Collection[str] = (),
    score: Callable[[list[list[np.ndarray]], list[list[np.ndarray]]], float] | None = None,
) -> dict[str, float]:
    """For each layer, the worst output cosine vs fp32 when *only* that layer is int8.

    The ranking mixed precision needs: the layers whose own quantization hurts the outputs
    most (the blob-by-blob cosine of a fully int8 model blames layers that merely amplify
    their inputs' error). ``feeds`` should be a few held-out samples; each layer costs one
    model rewrite and ``len(feeds)`` runs. Sorted worst first. Outputs named in ``margins``
    (softmax class scores) are compared on their decision margins over all feeds pooled;
    ``score`` (refs, gots: per feed, per output), when given, replaces that figure (the task's,
    :func:`sdk.quantize.task.rank_score`).
    """
    from sdk.quantize.metrics import output_cosine

    names = list(layers) if layers is not None else list(table.layers)
    outputs = [t["blob"] for t in meta["outputs"]]
    ref = blob_runs(param, bin, feeds, meta, outputs, threads=threads, int8=False)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    one_param, one_bin = workdir / "one.ncnn.param", workdir / "one.ncnn.bin"
    all_layers = set(table.layers)
    result: dict[str, float] = {}
    for name in names:
        write_int8_model(param, bin, table, one_param, one_bin, skip=all_layers - {name})
        got = blob_runs(one_param, one_bin, feeds, meta, outputs, threads=threads)
        if score is not None:
            result[name] = score(ref, got)
            continue
        result[name] = min(output_cosine([rs[i] for rs in ref], [gs[i] for gs in got],
                                         margins=t["name"] in margins, worst=True)
                           for i, t in enumerate(meta["outputs"]))
    return dict(sorted(result.items(), key=lambda kv: kv[1]))
