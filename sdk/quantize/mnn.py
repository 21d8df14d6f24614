"""int8 for MNN: MNN's compiled offline quantizer, fed with the SDK's own preprocessing.

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
quantizer is ``_tools.mnnquant`` run in a child Python: a crash in C++ (it segfaults on
some models) cannot kill the caller and becomes a one-line :class:`QuantizeError`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sdk.convert.tool import run_tool
from sdk.errors import QuantizeError

__all__ = [
    "MNN_FEATURE_METHODS",
    "MNN_METHODS",
    "MNN_WEIGHT_METHODS",
    "MnnOp",
    "QuantizeError",
    "dump_mnn_tensors",
    "mnn_json",
    "mnn_op_names",
    "mnn_ops",
    "quantize_mnn",
]

MNNQUANT_TIMEOUT_S = 3600
MNNDUMP_TIMEOUT_S = 300

# the SDK's --method -> MNN's feature_quantize_method
MNN_METHODS: dict[str, str] = {"kl": "KL", "admm": "ADMM", "ema": "EMA", "minmax": "EMA"}
MNN_FEATURE_METHODS = ("KL", "ADMM", "EMA")
MNN_WEIGHT_METHODS = ("MAX_ABS", "ADMM")
# methods other engines have and MNN's quantizer does not
_NOT_IN_MNN = ("percentile", "aciq", "mse", "entropy")
# ops whose weights MNN's quantizer turns into int8 (the ones skip lists name)
QUANTIZABLE_TYPES = ("Convolution", "ConvolutionDepthwise", "Deconvolution")

# Runs in the child: only the compiled extension, never MNN.tools.
_QUANT_CHILD = "import sys\nimport _tools\n_tools.mnnquant(sys.argv[1:])\n"
_CONVERT_CHILD = "import sys\nimport _tools\n_tools.mnnconvert(sys.argv[1:])\n"


@dataclass(frozen=True)
class MnnOp:
    """One op of an MNN model: its name, type and the names of its input/output tensors."""

    name: str
    type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def quantizable(self) -> bool:
        return self.type in QUANTIZABLE_TYPES


def _one_line(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


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
            return _one_line(m.group(0))
    return None


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
    returncode, log = run_tool(
        [sys.executable, "-c", _QUANT_CHILD, *argv], cwd=out_dir, timeout=timeout_s,
        log_name="mnnquant.log",
        on_timeout=lambda: QuantizeError(
            f"MNN's quantizer did not finish {src.name} in {timeout_s:.0f}s",
            fix="use fewer calibration samples or --method kl",
        ),
    )
    if returncode < 0:
        raise QuantizeError(
            f"MNN's quantizer crashed ({_signal_name(returncode)}) on {src.name} "
            f"with method {feature_method}",
            found=_quant_failure(log) or _last_line(log),
            fix=f"try another --method (kl, admm, ema) or --engine ncnn; log in {out_dir / 'mnnquant.log'}",
        )
    failure = _quant_failure(log)
    if returncode != 0 or failure or not dst.is_file() or dst.stat().st_size == 0:
        what = failure or (
            f"exited with code {returncode}" if returncode else "wrote no model"
        )
        raise QuantizeError(
            f"MNN's quantizer failed on {src.name}: {what}",
            found=_last_line(log),
            fix="see " + str(out_dir / "mnnquant.log"),
        )
    shutil.rmtree(calib_dir, ignore_errors=True)  # large text files, no longer needed
    return dst


def _last_line(log: str) -> str:
    lines = [ln for ln in log.splitlines() if ln.strip() and not ln.startswith("The device supports")]
    return _one_line(lines[-1]) if lines else "(no output)"


def mnn_json(mnn_model: Path) -> dict[str, Any]:
    """MNN's own JSON dump of a model (ops, tensor names, weights, quantization parameters)."""
    import tempfile

    src = Path(mnn_model)
    if not src.is_file():
        raise QuantizeError(f"MNN model {src} does not exist", fix="convert the model for MNN first")
    with tempfile.TemporaryDirectory(prefix="sdk-mnn-json-") as tmp:
        out = Path(tmp) / "model.json"
        argv = ["mnnconvert", "-f", "MNN", "--modelFile", str(src.resolve()), "--JsonFile", str(out)]
        returncode, log = run_tool(
            [sys.executable, "-c", _CONVERT_CHILD, *argv], cwd=Path(tmp), timeout=MNNDUMP_TIMEOUT_S,
            on_timeout=lambda: QuantizeError(f"MNN did not dump {src.name} in {MNNDUMP_TIMEOUT_S}s"),
        )
        if returncode != 0 or not out.is_file():
            why = _signal_name(returncode) if returncode < 0 else _last_line(log)
            raise QuantizeError(f"MNN cannot read {src.name}", found=why, fix="convert the model again")
        # MNN prints non-finite floats (e.g. int8 buffers read as floats) as bare nan/inf
        text = re.sub(r"(?<=[\[\s,:])(-?)(nan|inf)\b",
                      lambda m: "NaN" if m.group(2) == "nan" else f"{m.group(1)}Infinity", out.read_text())
        doc: dict[str, Any] = json.loads(text)
    return doc


def mnn_ops(mnn_model: Path) -> list[MnnOp]:
    """The ops of an MNN model in execution order, read from MNN's own JSON dump of it."""
    doc = mnn_json(mnn_model)
    names: list[str] = doc.get("tensorName", [])

    def tensor(i: int) -> str:
        return names[i] if 0 <= i < len(names) else f"#{i}"

    return [
        MnnOp(
            name=str(op.get("name", "")),
            type=str(op.get("type", "")),
            inputs=tuple(tensor(i) for i in op.get("inputIndexes", [])),
            outputs=tuple(tensor(i) for i in op.get("outputIndexes", [])),
        )
        for op in doc.get("oplists", [])
    ]


def mnn_op_names(mnn_model: Path) -> list[str]:
    """Names of the quantizable ops (convolutions), in execution order: what ``skip`` takes."""
    return [op.name for op in mnn_ops(mnn_model) if op.quantizable]


def load_module(model: Path, inputs: Sequence[str], outputs: Sequence[str], threads: int = 2) -> Any:
    """``model`` through MNN's Module API with ``outputs`` (any tensors) as its outputs."""
    import MNN.nn as mnn_nn

    rt = mnn_nn.create_runtime_manager(({"backend": "CPU", "precision": "high", "numThread": int(threads)},))
    net = mnn_nn.load_module_from_file(str(model), list(inputs), list(outputs), runtime_manager=rt)
    if net is None:
        raise QuantizeError(f"MNN cannot load {Path(model).name} with outputs {list(outputs)[:3]}...")
    return net


def module_forward(net: Any, inputs: Sequence[str], feed: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """One run of a :func:`load_module` net: its outputs as float32 NCHW arrays."""
    import MNN.expr as F

    args = []
    for n in inputs:
        if n not in feed:
            raise QuantizeError(f"feed has no input {n!r}", found=", ".join(sorted(feed)) or "no inputs")
        arr = np.ascontiguousarray(feed[n], dtype=np.float32)
        args.append(F.const(arr, list(arr.shape), F.NCHW, F.float))
    outs = net.forward(args)
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    res = []
    for v in outs:
        if v.data_format == F.NC4HW4:
            v = F.convert(v, F.NCHW)
        res.append(np.array(v.read(), dtype=np.float32, copy=True))
    return res


def dump_mnn_tensors(
    mnn_model: Path, feeds: Mapping[str, np.ndarray], names: Sequence[str], *, threads: int = 1
) -> dict[str, np.ndarray]:
    """Run ``mnn_model`` on ``feeds`` and return the tensors ``names`` (float32, NCHW).

    The model is loaded with those tensors as its outputs (MNN's Module API), so any
    intermediate tensor can be read, in a float or an int8 model alike.
    """
    inputs = list(feeds)
    outs = module_forward(load_module(mnn_model, inputs, names, threads), inputs, feeds)
    return dict(zip(names, outs, strict=True))
