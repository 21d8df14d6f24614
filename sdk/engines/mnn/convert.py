"""ONNX -> MNN with MNN's compiled converter.

Never imports ``MNN.tools`` (its logging runs ``pip install`` and sends usage data over the
network). The converter is the top-level extension module ``_tools``; it runs in a child
Python process (:func:`sdk.engines.mnn.tools.run_mnn_tool`) so a crash in C++ cannot kill
the caller and its output is captured.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sdk.convert.lower import converter_input, split_variadic
from sdk.convert.prepare import PreparedModel
from sdk.engines.mnn.tools import run_mnn_tool
from sdk.errors import ConvertError
from sdk.records import EngineModel

MNNCONVERT_TIMEOUT_S = 600


def _last_relevant(text: str) -> str:
    keep = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("The device supports")]
    for ln in reversed(keep):
        if re.search(r"not support|unsupported|not exists", ln, re.I):
            return ln[:200]
    for ln in reversed(keep):
        if re.search(r"error|fail|not support|unsupported|invalid|abort|can't|cannot", ln, re.I):
            return ln[:200]
    return keep[-1][:200] if keep else "(no output)"


def _unsupported_from_log(text: str) -> list[str]:
    ops: list[str] = []
    for m in re.finditer(r"These Op Not Support:\s*(.*)", text):
        for name in m.group(1).replace(",", " ").split():
            name = name.split("::")[-1].strip()
            if name and name not in ops:
                ops.append(name)
    for m in re.finditer(r"(?:Don't|Do not|Can't|Cannot) support (?:op\s*)?[:]?\s*([\w:]+)", text, re.I):
        name = m.group(1).split("::")[-1]
        if name not in ops:
            ops.append(name)
    return ops


def convert_mnn(prepared: PreparedModel, workdir: Path, precision: str = "fp32") -> EngineModel:
    """Convert ``prepared`` to MNN (``model.mnn``) in ``workdir``; fp16 stores fp16 weights.

    Raises :class:`ConvertError` naming the op(s) the converter reports as unsupported, or
    with its last relevant line when it fails otherwise.
    """
    if precision not in ("fp32", "fp16"):
        raise ConvertError(
            f"unknown precision {precision!r} for MNN",
            expected="fp32 or fp16",
            found=precision,
            fix="pass --precision fp32 or fp16",
        )
    out_dir = Path(workdir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = out_dir / "model.mnn"
    model.unlink(missing_ok=True)
    # MNN's converter reads any opset, but ReduceL2-18's axes input as "all axes"
    source, rewrites = converter_input(prepared, out_dir / "model.mnn-input.onnx", None, (split_variadic,))
    argv = [
        "mnnconvert",
        "-f",
        "ONNX",
        "--modelFile",
        str(source),
        "--MNNModel",
        str(model),
        "--bizCode",
        "sdk",
    ]
    if precision == "fp16":
        argv.append("--fp16")
    returncode, log = run_mnn_tool(
        "mnnconvert", argv, cwd=out_dir, timeout=MNNCONVERT_TIMEOUT_S,
        log_name="mnnconvert.log",
        on_timeout=lambda: ConvertError(
            f"MNN's converter did not finish {prepared.source.name} in {MNNCONVERT_TIMEOUT_S}s",
            fix="simplify the model or report it",
        ),
    )
    ops = _unsupported_from_log(log)
    ok = returncode == 0 and model.is_file() and "Converted Success" in log
    if ops or not ok:
        if ops:
            what = f"unsupported op(s) {', '.join(ops)}"
        elif returncode != 0:
            what = f"converter exited with code {returncode}"
        else:
            what = "no model written"
        raise ConvertError(
            f"MNN cannot convert {prepared.source.name}: {what}",
            found=_last_relevant(log),
            fix="replace the op(s) in the model or try --engine ncnn",
        )

    meta: dict[str, Any] = {
        "engine": "mnn",
        "precision": precision,
        "files": {"model": model.name},
        "inputs": [
            {"name": t.name, "blob": t.name, "shape": list(t.shape), "dtype": t.dtype}
            for t in prepared.inputs
        ],
        "outputs": [
            {"name": t.name, "blob": t.name, "shape": list(t.shape), "dtype": t.dtype}
            for t in prepared.outputs
        ],
        "onnx_rewrites": rewrites,
        "source_sha256": prepared.sha256,
    }
    return EngineModel("mnn", precision, [model], meta)
