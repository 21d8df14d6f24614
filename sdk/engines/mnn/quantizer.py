"""MNN's own offline quantizer (``--method mnn-kl|mnn-admm|mnn-ema``), fed with the SDK's own preprocessing.

MNN's quantizer can read images and preprocess them itself (resize + mean/normal), but that
is not the preprocessing the deployment runs (:func:`sdk.device.preprocess.preprocess`:
letterbox, half-pixel bilinear, our colour handling). So the SDK always uses the quantizer's
``"input_type": "sequence"`` mode: one sub-directory per calibration sample holding
``<input name>.txt`` (the preprocessed tensor as whitespace-separated floats, NCHW) and an
``input.json`` with the input's shape. The feeds are exactly what the board will see.

What MNN's quantizer (``tools/quantization/calibration.cpp``, MNN 3.x) offers:

- feature (activation) scales: ``KL``, ``ADMM``, ``EMA`` (moving average of min/max,
  asymmetric). It switches to ``EMA`` by itself when the model still has BatchNorm ops.
- weights: ``MAX_ABS`` or ``ADMM``, always per output channel, symmetric.
- ``skip_quant_op_names``: ops left in float; ``feature_clamp_value``/``weight_clamp_value``.

Never imports ``MNN.tools`` (its logging runs ``pip install`` and sends usage data). The
quantizer is ``_tools.mnnquant`` run in a child Python (:mod:`sdk.engines.mnn.tools`): a
crash in C++ (it segfaults on some models) cannot kill the caller and becomes a one-line
:class:`QuantizeError`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from sdk.engines.mnn.tools import last_line, mnn_ops, one_line, run_mnn_tool, signal_name
from sdk.errors import QuantizeError

__all__ = ["MNN_FEATURE_METHODS", "MNN_METHODS", "MNN_WEIGHT_METHODS", "quantize_mnn"]

MNNQUANT_TIMEOUT_S = 3600

# the SDK's --method -> MNN's feature_quantize_method
MNN_METHODS: dict[str, str] = {"kl": "KL", "admm": "ADMM", "ema": "EMA", "minmax": "EMA"}
MNN_FEATURE_METHODS = ("KL", "ADMM", "EMA")
MNN_WEIGHT_METHODS = ("MAX_ABS", "ADMM")
# methods other engines have and MNN's quantizer does not
_NOT_IN_MNN = ("percentile", "aciq", "mse", "entropy")


def _mnn_method(method: str) -> str:
    m = method.lower()
    if m in MNN_METHODS:
        return MNN_METHODS[m]
    supported = ", ".join(f"{k} ({v})" for k, v in MNN_METHODS.items())
    if m in _NOT_IN_MNN:
        raise QuantizeError(
            f"MNN's quantizer has no {method!r} calibration method",
            expected=f"one of {supported}",
            found=method,
            fix="pick one of those for --engine mnn, or use --engine ncnn for percentile/aciq",
        )
    import difflib

    close = difflib.get_close_matches(m, list(MNN_METHODS), n=1)
    raise QuantizeError(
        f"unknown calibration method {method!r} for MNN",
        expected=f"one of {supported}",
        found=method,
        fix=f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(MNN_METHODS)}",
    )


def _write_sequence_dir(
    feeds: Sequence[Mapping[str, np.ndarray]],
    out: Path,
    input_name: str,
    input_shape: tuple[int, ...],
) -> None:
    """One sub-directory per sample: ``<input_name>.txt`` + ``input.json`` (MNN's sequence format)."""
    if os.sep in input_name or input_name in ("", ".", "..", "input"):
        raise QuantizeError(
            f"input name {input_name!r} cannot name a calibration file for MNN's quantizer",
            expected="an input name usable as a file name",
            found=input_name,
            fix="rename the model input",
        )
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shape = tuple(int(d) for d in input_shape)
    meta = json.dumps({"inputs": [{"name": input_name, "shape": list(shape)}]})
    for k, feed in enumerate(feeds):
        if input_name not in feed:
            raise QuantizeError(
                f"calibration sample {k} has no input {input_name!r}",
                expected=input_name,
                found=", ".join(sorted(feed)) or "no inputs",
                fix="load the calibration data for this model's input",
            )
        x = np.asarray(feed[input_name], dtype=np.float32)
        if x.shape != shape:
            raise QuantizeError(
                f"calibration sample {k} does not fit input {input_name!r}",
                expected=str(shape),
                found=str(x.shape),
                fix="preprocess the calibration images to the model's input size",
            )
        sample = out / f"{k:06d}"
        sample.mkdir()
        (sample / "input.json").write_text(meta)
        # %.9g round-trips float32 exactly: MNN reads back the very values the SDK produced
        np.ascontiguousarray(x).tofile(str(sample / f"{input_name}.txt"), sep=" ", format="%.9g")


def _quant_failure(log: str) -> str | None:
    pats = (
        r"not supported (?:feature|weight) quantization method.*",
        r"calibration data path not set.*",
        r"(?:feature|weight)_clamp_value should be.*",
        r"open .* failed!?.*",
        r"TESTERROR.*",
        r"Invalid json.*",
        r"Error:.*",
    )
    for p in pats:
        m = re.search(p, log)
        if m:
            return one_line(m.group(0))
    return None


def _check_args(src: Path, feeds: Sequence[Mapping[str, np.ndarray]], method: str, per_channel: bool,
                skip: Sequence[str], weight_method: str, feature_clamp: int) -> str:
    """Refuse what MNN's quantizer cannot do, in one line each; MNN's feature method name."""
    if not src.is_file():
        raise QuantizeError(
            f"MNN model {src} does not exist",
            expected="the fp32 .mnn written by the conversion",
            found="no file",
            fix="convert the model for MNN first",
        )
    feature_method = _mnn_method(method)
    if not per_channel:
        raise QuantizeError(
            "MNN's quantizer has no per-tensor weight quantization",
            expected="per-channel weights (MNN quantizes each output channel)",
            found="per_channel=False",
            fix="drop --per-tensor for --engine mnn",
        )
    if weight_method not in MNN_WEIGHT_METHODS:
        raise QuantizeError(
            f"unknown MNN weight quantization method {weight_method!r}",
            expected=" or ".join(MNN_WEIGHT_METHODS),
            found=weight_method,
            fix=f"use one of {', '.join(MNN_WEIGHT_METHODS)}",
        )
    if not 1 <= int(feature_clamp) <= 127:
        raise QuantizeError(
            "feature clamp value out of range", expected="1..127", found=str(feature_clamp), fix="use 127"
        )
    if not feeds:
        raise QuantizeError(
            "no calibration samples for MNN's quantizer",
            expected="at least 1 (typically 50-500)",
            found="0",
            fix="pass --calib DIR with calibration images",
        )
    if skip:
        known = {op.name for op in mnn_ops(src)}
        unknown = [s for s in skip if s not in known]
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
            raise QuantizeError(
                f"cannot skip unknown op(s) {', '.join(map(repr, unknown[:5]))} in {src.name}",
                expected="names of ops in the MNN model",
                found=f"{len(unknown)} unknown",
                fix=f"did you mean {close[0]!r}?" if close else "list them with mnn_op_names()",
            )

    return feature_method


def quantize_mnn(
    fp32_mnn: Path,
    feeds: Sequence[Mapping[str, np.ndarray]],
    workdir: Path,
    *,
    method: str = "kl",
    per_channel: bool = True,
    skip: Sequence[str] = (),
    input_name: str,
    input_shape: tuple[int, ...],
    weight_method: str = "MAX_ABS",
    feature_clamp: int = 127,
    timeout_s: float = MNNQUANT_TIMEOUT_S,
) -> Path:
    """Quantize ``fp32_mnn`` to int8 with MNN's quantizer, calibrated on ``feeds``.

    ``feeds`` are model inputs already preprocessed by the SDK (see
    :func:`sdk.quantize.calib.load_calibration`). ``method``: ``kl``, ``admm``, ``ema``, or
    ``minmax`` (MNN has no plain min/max for activations: its closest, ``EMA``, a moving
    average of min/max, is used). ``skip`` names ops to keep in float (see
    :func:`mnn_op_names`). Returns ``workdir/model.int8.mnn``; the quantizer's log is
    ``workdir/mnnquant.log``. Raises :class:`QuantizeError` (one line).
    """
    src = Path(fp32_mnn)
    feature_method = _check_args(src, feeds, method, per_channel, skip, weight_method, feature_clamp)
    out_dir = Path(workdir)
    out_dir.mkdir(parents=True, exist_ok=True)
    calib_dir = out_dir / "mnn_calib"
    _write_sequence_dir(feeds, calib_dir, input_name, tuple(input_shape))
    dst = out_dir / "model.int8.mnn"
    dst.unlink(missing_ok=True)
    config = {
        "input_type": "sequence",
        "path": str(calib_dir),
        "used_sample_num": len(feeds),
        "inputs": [{"name": input_name, "shape": [int(d) for d in input_shape]}],
        "feature_quantize_method": feature_method,
        "weight_quantize_method": weight_method,
        "feature_clamp_value": int(feature_clamp),
        "weight_clamp_value": 127,
        "quant_bits": 8,
        "skip_quant_op_names": list(skip),
        "debug": False,
    }
    cfg = out_dir / "mnnquant.json"
    cfg.write_text(json.dumps(config, indent=2))
    argv = ["quantized.out", str(src.resolve()), str(dst.resolve()), str(cfg.resolve())]
    returncode, log = run_mnn_tool(
        "mnnquant", argv, cwd=out_dir, timeout=timeout_s,
        log_name="mnnquant.log",
        on_timeout=lambda: QuantizeError(
            f"MNN's quantizer did not finish {src.name} in {timeout_s:.0f}s",
            fix="use fewer calibration samples or --method kl",
        ),
    )
    if returncode < 0:
        raise QuantizeError(
            f"MNN's quantizer crashed ({signal_name(returncode)}) on {src.name} "
            f"with method {feature_method}",
            found=_quant_failure(log) or last_line(log),
            fix=f"try another --method (kl, admm, ema) or --engine ncnn; log in {out_dir / 'mnnquant.log'}",
        )
    failure = _quant_failure(log)
    if returncode != 0 or failure or not dst.is_file() or dst.stat().st_size == 0:
        what = failure or (
            f"exited with code {returncode}" if returncode else "wrote no model"
        )
        raise QuantizeError(
            f"MNN's quantizer failed on {src.name}: {what}",
            found=last_line(log),
            fix="see " + str(out_dir / "mnnquant.log"),
        )
    shutil.rmtree(calib_dir, ignore_errors=True)  # large text files, no longer needed
    return dst
