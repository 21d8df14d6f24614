"""ncnn int8 calibration: blob statistics -> ncnn's int8 table (the job of ncnn2table).

Every Convolution, ConvolutionDepthWise and InnerProduct with plain fp32 weights gets
weight scales per output channel (per group for depthwise), ``127 / absmax``, and one scale
for its input blob, from the statistics of that blob over the calibration feeds and one of
the engine-neutral threshold methods (:mod:`sdk.quantize.stats`). The table is written in
ncnn's own format (``<layer>_param_0 w0 w1 ...`` then ``<layer> s``); the int8 model is
written from it by :mod:`sdk.engines.ncnn.rewrite`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sdk.engines.base import InputMismatch
from sdk.engines.ncnn.format import QUANTIZABLE_TYPES, NcnnParam, iter_quantizable, weight_groups
from sdk.engines.ncnn.runner import NcnnRunner
from sdk.errors import QuantizeError
from sdk.quantize.stats import METHODS, TINY, BlobStats, threshold_from_stats, unknown_method, weight_scales

__all__ = ["CalibrationTable", "blob_runs", "calibrate_ncnn", "quantizable_layers", "rethreshold",
           "run_blobs"]



@dataclass
class CalibrationTable:
    """Per layer: (weight scales, input scale), as ncnn's int8 layers take them."""

    layers: dict[str, tuple[np.ndarray, float]] = field(default_factory=dict)
    method: str = "kl"
    per_channel: bool = True
    thresholds: dict[str, float] = field(default_factory=dict)  # |x| clip per layer input
    seconds: float = 0.0  # calibration wall time
    # (layers, blob statistics) it came from, for :func:`rethreshold`; not saved
    source: tuple[list[Any], dict[str, BlobStats]] | None = field(default=None, repr=False, compare=False)
    # per layer: how much its int8 output's per-channel mean exceeds fp32's (subtracted from
    # its bias when written; see :func:`correct_bias`); not in ncnn's table format
    bias_shift: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def text(self) -> str:
        """ncnn's table format: ``<layer>_param_0 w0 w1 ...`` lines, then ``<layer> s`` lines."""
        lines = [
            f"{name}_param_0 " + " ".join(f"{float(s):g}" for s in ws)
            for name, (ws, _) in self.layers.items()
        ]
        lines += [f"{name} {float(s):g}" for name, (_, s) in self.layers.items()]
        return "\n".join(lines) + "\n"

    def save(self, path: Path) -> Path:
        Path(path).write_text(self.text())
        return Path(path)

    @classmethod
    def parse(cls, text: str) -> CalibrationTable:
        weights: dict[str, np.ndarray] = {}
        inputs: dict[str, float] = {}
        for no, ln in enumerate(text.splitlines(), start=1):
            f = ln.split()
            if not f:
                continue
            try:
                values = [float(v) for v in f[1:]]
            except ValueError as exc:
                raise QuantizeError(
                    f"int8 table line {no}: expected 'name scale...', found {ln[:80]!r}"
                ) from exc
            if not values:
                raise QuantizeError(f"int8 table line {no}: {f[0]!r} has no scale")
            if f[0].endswith("_param_0"):
                weights[f[0][: -len("_param_0")]] = np.array(values, dtype=np.float32)
            elif "_param_" in f[0]:
                continue  # other weight arrays (RNN/LSTM/...): not ours
            else:
                inputs[f[0]] = values[0]
        missing = sorted(set(weights) ^ set(inputs))
        if missing:
            raise QuantizeError(
                "int8 table: every layer needs both a weight line and an input line",
                found=f"unpaired {', '.join(missing[:5])}",
            )
        return cls({n: (weights[n], inputs[n]) for n in weights})

    @classmethod
    def load(cls, path: Path) -> CalibrationTable:
        return cls.parse(Path(path).read_text())

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "per_channel": self.per_channel,
            "seconds": round(self.seconds, 3),
            "layers": {
                n: {"input_scale": s, "weight_scales": len(w), "threshold": self.thresholds.get(n)}
                for n, (w, s) in self.layers.items()
            },
        }


# ---------------------------------------------------------------------------------------------



def quantizable_layers(param: Path, bin: Path | None = None) -> list[str]:
    """Names of the Convolution/ConvolutionDepthWise/InnerProduct layers we can quantize.

    Without ``bin`` this judges by the param alone (static weights, no int8 scale term yet);
    with it, also that the weights are stored as plain fp32.
    """
    parsed = NcnnParam.load(param)
    if bin is not None:
        return [layer.name for _, layer, _ in iter_quantizable(parsed, Path(bin).read_bytes())]
    return [
        layer.name
        for layer in parsed.layers
        if layer.type in QUANTIZABLE_TYPES and not layer.get_int(19) and not layer.get_int(8)
    ]


def calibrate_ncnn(
    param: Path,
    bin: Path,
    feeds: Iterable[dict[str, np.ndarray]],
    meta: dict[str, Any],
    *,
    method: str = "kl",
    per_channel: bool = True,
    threads: int | None = None,
) -> CalibrationTable:
    """Run the fp32 model over ``feeds`` and compute every quantizable layer's scales.

    ``feeds`` are dicts keyed by the ONNX input names of ``meta`` (batch 1, NCHW float32),
    preprocessed exactly as the deployment does.
    """
    if method not in METHODS:
        raise unknown_method(method)
    t0 = time.perf_counter()
    parsed = NcnnParam.load(param)
    data = Path(bin).read_bytes()
    targets = list(iter_quantizable(parsed, data))
    if not targets:
        raise QuantizeError(
            f"{Path(param).name} has no layer ncnn can run in int8",
            expected="Convolution, ConvolutionDepthWise or InnerProduct with fp32 weights",
        )
    bottoms = list(dict.fromkeys(layer.bottoms[0] for _, layer, _ in targets))
    stats = {b: BlobStats() for b in bottoms}
    n = 0
    for values in run_blobs(param, bin, feeds, meta, bottoms, threads=threads, int8=False):
        for b, v in zip(bottoms, values, strict=True):
            stats[b].update(v, moments=method == "aciq")
        n += 1
    if n == 0:
        raise QuantizeError("no calibration feeds", fix="pass at least one preprocessed image")
    table = _table(targets, stats, method, per_channel)
    table.seconds = time.perf_counter() - t0
    return table


def _table(targets: list[Any], stats: dict[str, BlobStats], method: str,
           per_channel: bool) -> CalibrationTable:
    table = CalibrationTable(method=method, per_channel=per_channel)
    for _, layer, weights in targets:
        st = stats[layer.bottoms[0]]
        threshold = threshold_from_stats(st, method)
        input_scale = 127.0 / threshold if threshold > TINY else 1.0
        ws = weight_scales(weights.weight, weight_groups(layer), per_channel)
        table.layers[layer.name] = (ws, float(input_scale))
        table.thresholds[layer.name] = float(threshold)
    table.source = (targets, stats)
    return table


def rethreshold(table: CalibrationTable, method: str) -> CalibrationTable:
    """The same calibration with another threshold method (no new pass over the images)."""
    if method not in METHODS:
        raise unknown_method(method)
    if table.source is None:
        raise QuantizeError("this int8 table has no statistics (loaded from a file): calibrate again")
    targets, stats = table.source
    if method == "aciq" and not any(st.count for st in stats.values()):
        raise QuantizeError("aciq needs moments these statistics lack", fix="calibrate with method aciq")
    out = _table(targets, stats, method, table.per_channel)
    out.seconds = table.seconds
    return out


def run_blobs(
    param: Path, bin: Path, feeds: Iterable[Mapping[str, np.ndarray]], meta: Mapping[str, Any],
    blobs: Sequence[str], *, threads: int | None = None, int8: bool = True,
) -> Iterator[list[np.ndarray]]:
    """Per feed, the values of ``blobs`` (ncnn names; one net load for all feeds)."""
    try:
        runner = NcnnRunner.from_files(param, bin, meta, threads, int8=int8, keep_blobs=True)
    except RuntimeError as exc:
        raise QuantizeError(str(exc)) from None
    with runner:
        for feed in feeds:
            try:
                got = runner.tensors(feed, blobs)
            except InputMismatch as exc:
                raise QuantizeError(f"calibration feed: {exc}") from None
            except RuntimeError as exc:
                raise QuantizeError(str(exc)) from None
            yield [got[b] for b in blobs]


def blob_runs(
    param: Path, bin: Path, feeds: Sequence[Mapping[str, np.ndarray]], meta: Mapping[str, Any],
    blobs: Sequence[str], *, threads: int | None = None, int8: bool = True,
) -> list[list[np.ndarray]]:
    """:func:`run_blobs` for a few feeds, as a list."""
    return list(run_blobs(param, bin, feeds, meta, blobs, threads=threads, int8=int8))
