"""ONNX -> ncnn with the pnnx binary.

pnnx is located without importing the ``pnnx`` package (which imports torch). Its side
outputs (pnnx param/bin/py/onnx, ncnn py) all go into the engine's work directory. Weights
are always written in fp32 (``fp16=0``): pnnx's fp16 weights silently break real models
(PP-OCRv4 det at 1x3x320x320: cosine 0.015 with ``fp16=1``, 0.99985 with ``fp16=0`` and fp16
at run time). For ncnn, fp16 is a runtime choice (``opt.use_fp16_storage``/``_arithmetic``)
recorded in meta, so an fp16 ncnn model is as large on disk as an fp32 one.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import Any

from sdk.convert.prepare import PreparedModel
from sdk.convert.tool import run_tool
from sdk.engines.ncnn.pnnx_input import pnnx_input
from sdk.errors import ConvertError
from sdk.records import EngineModel

PNNX_TIMEOUT_S = 600

_PNNX_DTYPES = {
    "float32": "f32",
    "float16": "f16",
    "float64": "f64",
    "int32": "i32",
    "int64": "i64",
    "int8": "i8",
    "uint8": "u8",
    "bool": "b",
}


def pnnx_binary() -> Path:
    """Path of the pnnx executable shipped by the ``pnnx`` wheel (found without importing it)."""
    spec = importlib.util.find_spec("pnnx")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        exe = Path(loc) / "pnnx"
        if exe.is_file():
            return exe
    if not os.environ.get("SDK_NO_PROVISION"):  # fetched into the SDK cache (sdk.provision)
        from sdk.provision import provision_pnnx

        return provision_pnnx()
    raise ConvertError(
        "the pnnx converter is not installed",
        expected="the pnnx binary in site-packages/pnnx/",
        found="no pnnx package" if not locations else f"nothing at {locations[0]}/pnnx",
        fix="pip install --no-deps pnnx",
    )


def _shape_arg(prepared: PreparedModel, example: dict[str, list[int]] | None = None) -> str:
    parts = []
    for t in prepared.inputs:
        suffix = _PNNX_DTYPES.get(t.dtype, "f32")
        shape = example[t.name] if example is not None else t.shape
        parts.append("[" + ",".join(str(d) for d in shape) + "]" + suffix)
    return ",".join(parts)


def _shape_args(prepared: PreparedModel) -> list[str]:
    """pnnx's input shapes; a model with free dims (-1) is traced at two of its example shapes
    (``inputshape`` + ``inputshape2``), which makes those dims free in the ncnn model."""
    if not any(d < 0 for t in prepared.inputs for d in t.shape):
        return [f"inputshape={_shape_arg(prepared)}"]
    if len(prepared.examples) < 2:
        raise ConvertError(f"{prepared.source.name} has free input dims but no two example shapes",
                           fix="prepare it with sdk.convert.prepare.prepare_free")
    return [f"inputshape={_shape_arg(prepared, prepared.examples[0])}",
            f"inputshape2={_shape_arg(prepared, prepared.examples[1])}"]


def _param_layers(param: Path) -> list[tuple[str, str]]:
    """(type, name) of every layer in an ncnn .param file."""
    lines = param.read_text().splitlines()
    layers = []
    for line in lines[2:]:
        fields = line.split()
        if len(fields) >= 2:
            layers.append((fields[0], fields[1]))
    return layers


def _param_blobs(param: Path) -> set[str]:
    blobs: set[str] = set()
    for line in param.read_text().splitlines()[2:]:
        f = line.split()
        if len(f) < 4:
            continue
        n_in, n_out = int(f[2]), int(f[3])
        blobs.update(f[4 : 4 + n_in + n_out])
    return blobs


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# pnnx's own reason lines, most telling first (the whole log is kept in pnnx/pnnx.log)
_PNNX_REASONS = (
    r"max supported IR version",
    r"input_?shape expect",
    r"not supported|unsupported|not exists",
    r"(?<!ort CreateSession )failed|error",
)


def _shorten_ort(line: str) -> str:
    """pnnx's onnxruntime errors carry a C++ signature; the reason is what follows it."""
    if "onnxruntime::" in line and "&) " in line:
        head = line.split(" ", 3)[:3] if line.startswith("ort ") else []
        return " ".join([*head, line.rsplit("&) ", 1)[-1]]).strip()
    return line


def _last_relevant(text: str) -> str:
    return _shorten_ort(_last_relevant_line(text))[:400]


def _last_relevant_line(text: str) -> str:
    text = _ANSI.sub("", text)
    keep = [
        ln.strip()
        for ln in text.splitlines()
        if ln.strip() and not ln.startswith("#############") and "pass_" not in ln
    ]
    for pat in _PNNX_REASONS[:2]:
        for ln in reversed(keep):
            if re.search(pat, ln, re.I):
                return " ".join(ln.split())[:4000]
    for ln in reversed(keep):
        if re.search(r"not support|unsupported|not exists", ln, re.I):
            return " ".join(ln.split())[:4000]
    for ln in reversed(keep):
        if re.search(r"error|fail|not support|unsupported|invalid|abort", ln, re.I):
            return " ".join(ln.split())[:4000]
    return " ".join(keep[-1].split())[:4000] if keep else "(no output)"


def _unsupported_from_log(text: str) -> list[str]:
    ops: list[str] = []
    for pat in (
        r"(?:unsupported|not supported)\s+(?:onnx\s+)?op(?:erator)?\s*[:=]?\s*([\w.:]+)",
        r"([\w.:]+)\s+(?:op\s+)?(?:is\s+)?not supported",
        r"layer\s+([\w.:]+)\s+not exists or registered",
    ):
        for m in re.finditer(pat, text, re.I):
            if m.group(1) not in ops:
                ops.append(m.group(1))
    return ops


def _check_param(prepared: PreparedModel, param: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every layer is one ncnn has, and every model input/output has its blob: their specs."""
    import ncnn

    layers = _param_layers(param)
    unknown = sorted({t for t, _ in layers if ncnn.layer_to_index(t) < 0})
    if unknown:
        names = [n for t, n in layers if t in unknown][:3]
        raise ConvertError(
            f"ncnn has no layer for op(s) {', '.join(unknown)} in {prepared.source.name}",
            found="unconverted layer(s) " + ", ".join(names),
            fix="replace the op(s) in the model or try --engine mnn",
        )

    blobs = _param_blobs(param)
    inputs = []
    for i, t in enumerate(prepared.inputs):
        blob = f"in{i}"
        if blob not in blobs:
            raise ConvertError(f"pnnx output has no input blob {blob!r} for input {t.name!r}")
        inputs.append({"name": t.name, "blob": blob, "shape": list(t.shape), "dtype": t.dtype})
    outputs = []
    for i, t in enumerate(prepared.outputs):
        blob = f"out{i}"
        if blob not in blobs:
            raise ConvertError(f"pnnx output has no output blob {blob!r} for output {t.name!r}")
        outputs.append({"name": t.name, "blob": blob, "shape": list(t.shape), "dtype": t.dtype})
    return inputs, outputs


def _refuse_inputs(prepared: PreparedModel) -> None:
    """ncnn runs one image at a time on tensors: refuse what it would get wrong silently."""
    for t in prepared.inputs:
        if len(t.shape) == 0:
            raise ConvertError(
                f"ncnn cannot take the 0-d input {t.name!r} of {prepared.source.name}",
                expected="inputs of rank 1 or more", found="a scalar",
                fix="build the value into the model as a constant, or use --engine mnn",
            )
        if len(t.shape) >= 4 and t.shape[0] > 1:
            raise ConvertError(
                f"ncnn runs batch 1; input {t.name!r} of {prepared.source.name} has batch {t.shape[0]}",
                expected=f"shape [1,{','.join(map(str, t.shape[1:]))}]", found=str(list(t.shape)),
                fix=f"pass --input-shape {t.name}=1,{','.join(map(str, t.shape[1:]))} or use --engine mnn",
            )


def convert_ncnn(prepared: PreparedModel, workdir: Path, precision: str = "fp32") -> EngineModel:
    """Convert ``prepared`` to ncnn (``model.ncnn.param`` + ``model.ncnn.bin``) in ``workdir``.

    Raises :class:`ConvertError` naming the op(s) ncnn cannot run when pnnx leaves them
    unconverted, or with pnnx's last relevant line when it fails.
    """
    if precision not in ("fp32", "fp16"):
        raise ConvertError(
            f"unknown precision {precision!r} for ncnn",
            expected="fp32 or fp16",
            found=precision,
            fix="pass --precision fp32 or fp16",
        )
    _refuse_inputs(prepared)
    out_dir = Path(workdir)
    side = out_dir / "pnnx"
    side.mkdir(parents=True, exist_ok=True)
    param = out_dir / "model.ncnn.param"
    binf = out_dir / "model.ncnn.bin"
    for f in (param, binf):
        f.unlink(missing_ok=True)
    source, rewrites = pnnx_input(prepared, side / "model.ncnn-input.onnx")
    cmd = [
        str(pnnx_binary()),
        str(source),
        *_shape_args(prepared),
        "fp16=0",
        f"ncnnparam={param}",
        f"ncnnbin={binf}",
        f"pnnxparam={side / 'model.pnnx.param'}",
        f"pnnxbin={side / 'model.pnnx.bin'}",
        f"pnnxpy={side / 'model_pnnx.py'}",
        f"pnnxonnx={side / 'model.pnnx.onnx'}",
        f"ncnnpy={side / 'model_ncnn.py'}",
    ]
    returncode, log = run_tool(
        cmd, cwd=side, timeout=PNNX_TIMEOUT_S, log_name="pnnx.log",
        on_timeout=lambda: ConvertError(
            f"pnnx did not finish converting {prepared.source.name} in {PNNX_TIMEOUT_S}s",
            fix="simplify the model or report it",
        ),
    )
    if returncode != 0 or not param.is_file() or not binf.is_file():
        ops = _unsupported_from_log(log)
        what = f"unsupported op(s) {', '.join(ops)}" if ops else f"exit code {returncode}"
        raise ConvertError(
            f"pnnx failed to convert {prepared.source.name} to ncnn: {what}",
            found=_last_relevant(log),
            fix="replace the op(s) in the model or try --engine mnn",
        )

    inputs, outputs = _check_param(prepared, param)
    meta: dict[str, Any] = {
        "engine": "ncnn",
        "precision": precision,
        "files": {"param": param.name, "bin": binf.name},
        "inputs": inputs,
        "outputs": outputs,
        "squeeze_batch": True,
        "onnx_rewrites": rewrites,
        "source_sha256": prepared.sha256,
    }
    return EngineModel("ncnn", precision, [param, binf], meta)
