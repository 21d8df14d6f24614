"""ncnn int8: calibration, the int8 model rewrite and blob-by-blob extraction.

ncnn ships no int8 tooling on PyPI (its ``ncnn2table``/``ncnn2int8`` are C++ programs), so
this is our own implementation of the scheme ncnn's runtime expects (see
:mod:`sdk.quantize.ncnn_format` for the file format):

- every Convolution, ConvolutionDepthWise and InnerProduct with plain fp32 weights gets
  int8 weights quantized per output channel (per group for depthwise) with
  ``scale = 127 / absmax``, and one scale for its input blob found by calibration;
- at run time ncnn quantizes the layer's input with that scale, runs the int8 kernel and
  dequantizes the output to fp32 (we never fuse requantization, so every blob of the int8
  model is fp32 and comparable with the fp32 model's).

Input scales come from activation statistics collected in one pass over the calibration
feeds (abs max, a 2048-bin histogram of |x| that widens itself by merging bins as larger
values arrive, and moments), then one of:

- ``kl``: the threshold whose clipped, 128-level quantized distribution has the smallest
  KL divergence from the observed one (the TensorRT / ncnn2table method);
- ``minmax``: the abs max;
- ``percentile``: the 99.99th percentile of |x|;
- ``aciq``: analytical clipping (Banner et al.) under a Laplace or Gaussian assumption,
  whichever fits the blob's kurtosis better, capped at the abs max;
- ``mse``: the threshold with the least expected squared quantization error (rounding
  error inside the range, clipping error outside), from the histogram.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sdk.errors import QuantizeError
from sdk.quantize.ncnn_format import (
    QUANTIZABLE_TYPES,
    FloatLayerData,
    NcnnParam,
    int8_layer_chunk,
    iter_quantizable,
    layer_chunks,
    parse_float_chunk,
    weight_groups,
)

METHODS = ("kl", "minmax", "percentile", "aciq", "mse")
NUM_BINS = 2048
TARGET_BINS = 128
PERCENTILE = 99.99
_TINY = 1e-30  # below this an abs max is treated as 0 (127 / it would overflow float32)

__all__ = [
    "METHODS",
    "BlobStats",
    "CalibrationTable",
    "QuantizeError",
    "calibrate_ncnn",
    "correct_bias",
    "extract_blobs",
    "layer_sensitivity",
    "quantizable_layers",
    "quantize_ncnn",
    "rethreshold",
    "threshold_from_stats",
    "weight_scales",
    "write_int8_model",
]




# ---------------------------------------------------------------------------------------------
# statistics


@dataclass
class BlobStats:
    """Running statistics of one blob's values over the calibration feeds.

    The histogram covers ``[0, hist_max)`` in :data:`NUM_BINS` bins of |x| (zeros skipped, as
    ncnn2table does: they are exact in int8 and dominate ReLU outputs). When a larger value
    arrives the range doubles (as often as needed) and adjacent bins merge, so one pass is
    enough and counts are never re-spread.
    """

    absmax: float = 0.0
    hist_max: float = 0.0
    hist: np.ndarray = field(default_factory=lambda: np.zeros(NUM_BINS, dtype=np.int64))
    count: int = 0
    total: int = 0
    sum: float = 0.0
    sum_sq: float = 0.0
    sum_q: float = 0.0  # sum of (x - batch mean)^4
    sum_absdev: float = 0.0  # sum of |x - batch mean|

    def update(self, x: np.ndarray, moments: bool = True) -> None:
        """Add ``x``'s values; ``moments=False`` skips what only ``aciq`` needs (faster)."""
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        self.total += x.size
        if x.size == 0:
            return
        if moments:
            mean = float(x.mean(dtype=np.float64))
            dev = x - np.float32(mean)
            self.sum += mean * x.size
            self.sum_sq += float(np.dot(x, x))
            self.sum_absdev += float(np.abs(dev).sum(dtype=np.float64))
            d2 = dev * dev
            self.sum_q += float(np.dot(d2, d2))
            self.count += x.size
        a = np.abs(x)
        m = float(a.max())
        if m == 0.0:
            return
        self.absmax = max(self.absmax, m)
        if self.hist_max == 0.0:
            self.hist_max = m
        elif m > self.hist_max:
            factor = 2 ** math.ceil(math.log2(m / self.hist_max))
            merged = np.zeros(NUM_BINS, dtype=np.int64)
            if factor >= NUM_BINS:
                merged[0] = self.hist.sum()
            else:
                merged[: NUM_BINS // factor] = self.hist.reshape(-1, factor).sum(axis=1)
            self.hist = merged
            self.hist_max *= factor
        a *= np.float32(NUM_BINS / self.hist_max)
        idx = a.astype(np.int32)
        np.minimum(idx, NUM_BINS - 1, out=idx)
        counts = np.bincount(idx, minlength=NUM_BINS)
        counts[0] -= x.size - np.count_nonzero(x)  # exact zeros are not counted
        self.hist += counts


def _kl_divergence(hist: np.ndarray, threshold_bin: int) -> float:
    """KL(P || Q) for one clipping threshold (in bins).

    P is the histogram clipped at ``threshold_bin`` with the clipped mass folded into its
    last bin; Q is the histogram *without* that mass, merged into :data:`TARGET_BINS`
    levels and spread back evenly over each level's non-empty bins. Leaving the outliers out
    of Q is what penalises a threshold that clips too much.
    """
    raw = hist[:threshold_bin].astype(np.float64)
    p = raw.copy()
    p[-1] += hist[threshold_bin:].sum()
    nonzero = raw > 0
    # integer split of the bins into TARGET_BINS levels (the remainder joins the last one)
    edges = (np.arange(TARGET_BINS) * (threshold_bin // TARGET_BINS)).astype(np.int64)
    sums = np.add.reduceat(raw, edges)
    counts = np.add.reduceat(nonzero.astype(np.int64), edges)
    sizes = np.diff(np.append(edges, threshold_bin))
    per_bin = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    q = np.repeat(per_bin, sizes) * nonzero
    ps, qs = p.sum(), q.sum()
    if ps <= 0 or qs <= 0:
        return math.inf
    p /= ps
    q /= qs
    mask = p > 0
    qm = np.maximum(q[mask], 1e-10)  # P has mass where Q has none: a large finite penalty
    return float(np.sum(p[mask] * np.log(p[mask] / qm)))


def _kl_threshold(stats: BlobStats) -> float:
    hist = stats.hist
    if hist.sum() == 0:
        return stats.absmax
    bin_width = stats.hist_max / NUM_BINS
    last = int(np.nonzero(hist)[0][-1]) + 1  # beyond this every threshold sees the same P
    stop = max(TARGET_BINS, min(NUM_BINS, last))
    if stop <= TARGET_BINS:
        return stats.absmax
    # coarse scan, then every bin around the best (the curve is smooth at this scale)
    step = 16
    candidates = list(range(TARGET_BINS, stop + 1, step))
    if candidates[-1] != stop:
        candidates.append(stop)
    kls = [_kl_divergence(hist, t) for t in candidates]
    best = candidates[int(np.argmin(kls))]
    fine = range(max(TARGET_BINS, best - step + 1), min(stop, best + step - 1) + 1)
    best_kl = min(kls)
    for t in fine:
        kl = _kl_divergence(hist, t)
        if kl < best_kl:
            best, best_kl = t, kl
    return min(stats.absmax, (best + 0.5) * bin_width)


# Optimal clipping value / distribution scale for 8 bits (Banner et al., ACIQ): Laplace b, Gaussian sigma.
_ACIQ_LAPLACE_8BIT = 9.89
_ACIQ_GAUSS_8BIT = 3.92


def _aciq_threshold(stats: BlobStats) -> float:
    if stats.count == 0:
        return stats.absmax
    mean = stats.sum / stats.count
    var = max(stats.sum_sq / stats.count - mean * mean, 0.0)
    if var <= 0:
        return stats.absmax
    kurtosis = stats.sum_q / stats.count / (var * var)  # about 3 Gaussian, 6 Laplace
    if kurtosis >= 4.5:
        b = stats.sum_absdev / stats.count
        alpha = _ACIQ_LAPLACE_8BIT * b
    else:
        alpha = _ACIQ_GAUSS_8BIT * math.sqrt(var)
    return min(stats.absmax, abs(mean) + alpha)


def _percentile_threshold(stats: BlobStats, q: float = PERCENTILE) -> float:
    total = int(stats.hist.sum())
    if total == 0:
        return stats.absmax
    cdf = np.cumsum(stats.hist)
    k = int(np.searchsorted(cdf, total * q / 100.0))
    return min(stats.absmax, (k + 1) * stats.hist_max / NUM_BINS)


def _mse_threshold(stats: BlobStats) -> float:
    """The threshold with the least expected squared error: rounding inside, clipping outside."""
    total = stats.hist.sum()
    if total == 0:
        return stats.absmax
    width = stats.hist_max / NUM_BINS
    centres = (np.arange(NUM_BINS) + 0.5) * width
    counts = stats.hist.astype(np.float64)
    last = int(np.nonzero(counts)[0][-1]) + 1
    cands = np.arange(1, last + 1) * width  # candidate thresholds: every bin edge up to the max
    # inside [0, T]: uniform rounding error step^2 / 12; beyond T: (x - T)^2
    inside = np.cumsum(counts)[: last] * (cands / 127.0) ** 2 / 12.0
    c1 = np.cumsum((counts * centres)[::-1])[::-1]  # sum over bins >= k of n*x
    c2 = np.cumsum((counts * centres**2)[::-1])[::-1]
    c0 = np.cumsum(counts[::-1])[::-1]
    k = np.arange(1, last + 1)
    beyond = np.zeros(last)
    ok = k < NUM_BINS
    kk = k[ok]
    beyond[ok] = c2[kk] - 2 * cands[ok] * c1[kk] + cands[ok] ** 2 * c0[kk]
    best = int(np.argmin(inside + np.maximum(beyond, 0.0)))
    return float(min(stats.absmax, cands[best]))


def threshold_from_stats(stats: BlobStats, method: str) -> float:
    """The clipping threshold of |x| for ``method`` (one of :data:`METHODS`)."""
    if method == "kl":
        return _kl_threshold(stats)
    if method == "minmax":
        return stats.absmax
    if method == "percentile":
        return _percentile_threshold(stats)
    if method == "aciq":
        return _aciq_threshold(stats)
    if method == "mse":
        return _mse_threshold(stats)
    raise _unknown_method(method)


def _unknown_method(method: str) -> QuantizeError:
    import difflib

    close = difflib.get_close_matches(method, METHODS, n=1)
    return QuantizeError(
        f"unknown calibration method {method!r}",
        expected=" or ".join(METHODS),
        found=method,
        fix=f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(METHODS)}",
    )


def weight_scales(weight: np.ndarray, groups: int, per_channel: bool = True) -> np.ndarray:
    """``127 / absmax`` of each of ``groups`` equal slices of ``weight`` (or of all of it).

    A slice of zeros (or of values so small that 127 / absmax overflows float32) gets scale 1:
    its int8 weights are zeros whatever the scale.
    """
    w = np.abs(np.asarray(weight, dtype=np.float64).reshape(groups, -1))
    absmax = w.max(axis=1) if per_channel else np.full(groups, w.max())
    usable = absmax > _TINY
    return np.where(usable, 127.0 / np.where(usable, absmax, 1.0), 1.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# the table


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
# running ncnn


def _open_net(param: Path, bin: Path, threads: int | None, int8: bool = True) -> Any:
    import os

    import ncnn

    net = ncnn.Net()
    opt = net.opt
    opt.num_threads = int(threads or os.cpu_count() or 1)
    opt.use_vulkan_compute = False
    opt.use_fp16_storage = False
    opt.use_fp16_packed = False
    opt.use_fp16_arithmetic = False
    opt.use_int8_inference = int8
    opt.lightmode = False  # keep every blob: we extract many from one run
    for what, rc in (("param", net.load_param(str(param))), ("bin", net.load_model(str(bin)))):
        if rc != 0:
            net.clear()
            name = Path(param if what == "param" else bin).name
            raise QuantizeError(f"ncnn failed to load the {what} file {name}", found=f"code {rc}")
    return net


def _feed(ex: Any, meta: Mapping[str, Any], feeds: Mapping[str, np.ndarray]) -> None:
    import ncnn

    squeeze = bool(meta.get("squeeze_batch", True))
    for t in meta["inputs"]:
        if t["name"] not in feeds:
            raise QuantizeError(
                f"calibration feed has no input {t['name']!r}",
                expected=", ".join(x["name"] for x in meta["inputs"]),
                found=", ".join(sorted(feeds)) or "nothing",
            )
        arr = np.asarray(feeds[t["name"]], dtype=np.float32)
        if tuple(arr.shape) != tuple(t["shape"]):
            raise QuantizeError(
                f"calibration feed {t['name']!r} has the wrong shape",
                expected=str(tuple(t["shape"])),
                found=str(tuple(arr.shape)),
            )
        if squeeze and arr.ndim > 1 and arr.shape[0] == 1:
            arr = arr[0]
        rc = ex.input(t["blob"], ncnn.Mat(np.ascontiguousarray(arr)).clone())
        if rc != 0:
            raise QuantizeError(f"ncnn rejected input blob {t['blob']!r}", found=f"code {rc}")


def _extract(ex: Any, name: str) -> np.ndarray:
    rc, mat = ex.extract(name)
    if rc != 0:
        raise QuantizeError(f"ncnn failed to compute blob {name!r}", found=f"code {rc}")
    return np.array(mat, dtype=np.float32, copy=True)


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
    net = _open_net(param, bin, threads)
    try:
        ex = net.create_extractor()
        _feed(ex, meta, feeds)
        out = {n: _extract(ex, n) for n in wanted}
        ex.clear()
    finally:
        net.clear()
    return out


# ---------------------------------------------------------------------------------------------
# calibration and rewrite


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
        raise _unknown_method(method)
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
    net = _open_net(param, bin, threads, int8=False)
    n = 0
    try:
        for feed in feeds:
            ex = net.create_extractor()
            _feed(ex, meta, feed)
            for b in bottoms:
                stats[b].update(_extract(ex, b), moments=method == "aciq")
            ex.clear()
            n += 1
    finally:
        net.clear()
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
        input_scale = 127.0 / threshold if threshold > _TINY else 1.0
        ws = weight_scales(weights.weight, weight_groups(layer), per_channel)
        table.layers[layer.name] = (ws, float(input_scale))
        table.thresholds[layer.name] = float(threshold)
    table.source = (targets, stats)
    return table


def rethreshold(table: CalibrationTable, method: str) -> CalibrationTable:
    """The same calibration with another threshold method (no new pass over the images)."""
    if method not in METHODS:
        raise _unknown_method(method)
    if table.source is None:
        raise QuantizeError("this int8 table has no statistics (loaded from a file): calibrate again")
    targets, stats = table.source
    if method == "aciq" and not any(st.count for st in stats.values()):
        raise QuantizeError("aciq needs moments these statistics lack", fix="calibrate with method aciq")
    out = _table(targets, stats, method, table.per_channel)
    out.seconds = table.seconds
    return out


def _int8_scale_term(layer_type: str) -> str:
    # Convolution/InnerProduct load num_output weight scales for any non-zero term;
    # ConvolutionDepthWise loads `group` of them for term 1 (one for term 2).
    return "1" if layer_type == "ConvolutionDepthWise" else "2"


def write_int8_model(
    param: Path,
    bin: Path,
    table: CalibrationTable,
    out_param: Path,
    out_bin: Path,
    *,
    skip: Iterable[str] = frozenset(),
) -> list[str]:
    """Write the int8 model: every layer in ``table`` and not in ``skip`` is quantized.

    Returns the names of the layers written as int8. Every other layer (other types, fp16
    or already-int8 weights, the ``skip`` set) is copied unchanged, param and bytes.
    """
    skip = set(skip)
    parsed = NcnnParam.load(param)
    data = Path(bin).read_bytes()
    unknown = sorted(skip - {layer.name for layer in parsed.layers})
    if unknown:
        raise QuantizeError(f"cannot skip layer(s) {', '.join(unknown[:5])}: not in {Path(param).name}")
    out = bytearray()
    done: list[str] = []
    for layer, (off, size) in zip(parsed.layers, layer_chunks(parsed, data), strict=True):
        chunk = data[off : off + size]
        entry = table.layers.get(layer.name)
        weights = parse_float_chunk(layer, chunk) if entry is not None and layer.name not in skip else None
        if entry is None or weights is None:
            out += chunk
            continue
        ws, input_scale = entry
        shift = table.bias_shift.get(layer.name)
        if shift is not None and weights.bias is not None:
            weights = FloatLayerData(weights.weight, (weights.bias - shift).astype(np.float32))
        out += int8_layer_chunk(layer, weights, ws, input_scale)
        layer.params[8] = _int8_scale_term(layer.type)
        done.append(layer.name)
    Path(out_param).parent.mkdir(parents=True, exist_ok=True)
    parsed.save(out_param)
    Path(out_bin).write_bytes(bytes(out))
    return done


def quantize_ncnn(
    fp32: Any,
    feeds: Iterable[dict[str, np.ndarray]],
    workdir: Path,
    *,
    method: str = "kl",
    per_channel: bool = True,
    skip: Iterable[str] = (),
    threads: int | None = None,
    table: CalibrationTable | None = None,
) -> tuple[Any, CalibrationTable]:
    """Calibrate ``fp32`` (an :class:`~sdk.convert.EngineModel` for ncnn) and write its int8 model.

    Writes ``model.ncnn.param``, ``model.ncnn.bin`` and ``model.ncnn.table`` (ncnn's table
    format) into ``workdir``; returns an EngineModel with precision ``"int8"`` (same inputs
    and outputs, ``meta["int8"]`` says how it was made) and the table. Pass ``table`` to
    reuse a calibration (e.g. to try another ``skip`` set without running the images again).
    """
    from sdk.convert.prepare import EngineModel

    meta = dict(fp32.meta)
    src_dir = Path(fp32.model_dir)
    param = src_dir / meta["files"]["param"]
    binf = src_dir / meta["files"]["bin"]
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if table is None:
        table = calibrate_ncnn(param, binf, feeds, meta, method=method, per_channel=per_channel,
                               threads=threads)
    out_param, out_bin = workdir / "model.ncnn.param", workdir / "model.ncnn.bin"
    if out_param.resolve() == param.resolve() or out_bin.resolve() == binf.resolve():
        raise QuantizeError("the int8 workdir must differ from the fp32 model's directory",
                            found=str(workdir))
    skip = sorted(set(skip))
    done = write_int8_model(param, binf, table, out_param, out_bin, skip=skip)
    table_path = table.save(workdir / "model.ncnn.table")
    meta.update(
        precision="int8",
        files={"param": out_param.name, "bin": out_bin.name},
        int8={
            "method": table.method,
            "per_channel": table.per_channel,
            "table": table_path.name,
            "layers": len(done),
            "skip": skip,
            "calibration_seconds": round(table.seconds, 3),
        },
    )
    return EngineModel("ncnn", "int8", [out_param, out_bin], meta), table


BIAS_CORRECTION_SAMPLES = 32


def _run_blobs(
    param: Path, bin: Path, feeds: Sequence[dict[str, np.ndarray]], meta: dict[str, Any],
    blobs: Sequence[str], *, threads: int | None = None, int8: bool = True,
) -> list[list[np.ndarray]]:
    """Per feed, the values of ``blobs`` (one net load for all feeds)."""
    net = _open_net(param, bin, threads, int8)
    try:
        out = []
        for feed in feeds:
            ex = net.create_extractor()
            _feed(ex, meta, feed)
            out.append([_extract(ex, b) for b in blobs])
            ex.clear()
        return out
    finally:
        net.clear()


def _channel_mean(a: np.ndarray) -> np.ndarray:
    """Per-channel mean of an ncnn blob: ``c, h, w`` -> c; ``h, w`` (rows of an InnerProduct) -> w."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 3:
        return a.reshape(a.shape[0], -1).mean(axis=1)
    if a.ndim == 2:
        return a.mean(axis=0)
    return a.reshape(-1)


def correct_bias(
    param: Path,
    bin: Path,
    table: CalibrationTable,
    feeds: Sequence[dict[str, np.ndarray]],
    meta: dict[str, Any],
    workdir: Path,
    *,
    skip: Iterable[str] = (),
    threads: int | None = None,
) -> dict[str, np.ndarray]:
    """Empirical bias correction (Nagel et al., 2019), layer by layer in network order.

    int8 errors are not only noise: rounded weights and clipped inputs shift each layer's
    output mean, and the shifts add up along the network (PP-OCR rec lost chars mostly to
    this). For every int8 layer with a bias and no fused activation, the per-channel mean of
    its output in the int8 model (earlier layers already corrected) minus fp32's is stored
    in ``table.bias_shift`` and subtracted from its bias. ``skip``: the layers the model keeps
    in fp32 (mixed precision), for which the shifts are measured. Costs one partial run per
    layer and feed (ncnn computes only what the extracted blob needs). Returns the shifts.
    """
    parsed = NcnnParam.load(param)
    data = Path(bin).read_bytes()
    order = [(layer, w) for _, layer, w in iter_quantizable(parsed, data)
             if layer.name in table.layers and w.bias is not None and not layer.get_int(9)]
    skip = set(skip)
    order = [(layer, w) for layer, w in order if layer.name not in skip]
    feeds = list(feeds)[:BIAS_CORRECTION_SAMPLES]
    table.bias_shift = {}
    if not order or not feeds:
        return table.bias_shift
    tops = [layer.tops[0] for layer, _ in order]
    ref_runs = _run_blobs(param, bin, feeds, meta, tops, threads=threads, int8=False)
    ref = {layer.name: [_channel_mean(run[i]) for run in ref_runs] for i, (layer, _) in enumerate(order)}
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cur_p, cur_b = workdir / "bc.ncnn.param", workdir / "bc.ncnn.bin"
    for layer, w in order:
        write_int8_model(param, bin, table, cur_p, cur_b, skip=skip)
        got = [_channel_mean(run[0]) for run in _run_blobs(cur_p, cur_b, feeds, meta, [layer.tops[0]],
                                                           threads=threads)]
        shift = np.mean(got, axis=0) - np.mean(ref[layer.name], axis=0)
        assert w.bias is not None
        if shift.shape == w.bias.shape and np.isfinite(shift).all():
            table.bias_shift[layer.name] = shift.astype(np.float32)
    return table.bias_shift


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
) -> dict[str, float]:
    """For each layer, the worst output cosine vs fp32 when *only* that layer is int8.

    The ranking mixed precision needs: the layers whose own quantization hurts the outputs
    most (the blob-by-blob cosine of a fully int8 model blames layers that merely amplify
    their inputs' error). ``feeds`` should be a few held-out samples; each layer costs one
    model rewrite and ``len(feeds)`` runs. Sorted worst first. Outputs named in ``margins``
    (softmax class scores) are compared on their decision margins over all feeds pooled.
    """
    from sdk.quantize.metrics import output_cosine

    names = list(layers) if layers is not None else list(table.layers)
    outputs = [t["blob"] for t in meta["outputs"]]
    ref = _run_blobs(param, bin, feeds, meta, outputs, threads=threads, int8=False)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    one_param, one_bin = workdir / "one.ncnn.param", workdir / "one.ncnn.bin"
    all_layers = set(table.layers)
    result: dict[str, float] = {}
    for name in names:
        write_int8_model(param, bin, table, one_param, one_bin, skip=all_layers - {name})
        got = _run_blobs(one_param, one_bin, feeds, meta, outputs, threads=threads)
        result[name] = min(output_cosine([rs[i] for rs in ref], [gs[i] for gs in got],
                                         margins=t["name"] in margins, worst=True)
                           for i, t in enumerate(meta["outputs"]))
    return dict(sorted(result.items(), key=lambda kv: kv[1]))
