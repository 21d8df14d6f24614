"""The ncnn int8 model written from a calibration table (the job of ncnn2int8).

Every layer in the table and not in ``skip`` gets int8 weights with its per-channel scales
and its input scale (ncnn quantizes the layer's input at run time, runs the int8 kernel and
dequantizes the output: no requantization is fused, so every blob of the int8 model is fp32
and comparable with the fp32 model's). Every other layer is copied byte for byte. Bias
correction (:func:`correct_bias`) is a last polish written into the same rewrite.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sdk.engines.ncnn.format import (
    FloatLayerData,
    NcnnParam,
    int8_layer_chunk,
    iter_quantizable,
    layer_chunks,
    parse_float_chunk,
)
from sdk.engines.ncnn.table import CalibrationTable, blob_runs
from sdk.errors import QuantizeError

__all__ = ["correct_bias", "write_int8_model"]


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


BIAS_CORRECTION_SAMPLES = 32


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
    ref_runs = blob_runs(param, bin, feeds, meta, tops, threads=threads, int8=False)
    ref = {layer.name: [_channel_mean(run[i]) for run in ref_runs] for i, (layer, _) in enumerate(order)}
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cur_p, cur_b = workdir / "bc.ncnn.param", workdir / "bc.ncnn.bin"
    for layer, w in order:
        write_int8_model(param, bin, table, cur_p, cur_b, skip=skip)
        got = [_channel_mean(run[0]) for run in blob_runs(cur_p, cur_b, feeds, meta, [layer.tops[0]],
                                                           threads=threads)]
        shift = np.mean(got, axis=0) - np.mean(ref[layer.name], axis=0)
        assert w.bias is not None
        if shift.shape == w.bias.shape and np.isfinite(shift).all():
            table.bias_shift[layer.name] = shift.astype(np.float32)
    return table.bias_shift
