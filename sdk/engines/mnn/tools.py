"""MNN's compiled tools, run in a child Python process, and what they tell about a model.

The converter and the quantizer are the top-level extension module ``_tools`` that the
``MNN`` wheel ships. They run in a child process: a crash in C++ cannot kill the caller,
and everything they print is captured. Never ``MNN.tools``: its logging runs ``pip
install`` and sends usage data over the network.
"""

from __future__ import annotations

import json
import re
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sdk.convert.tool import run_tool
from sdk.engines.mnn.runner import MnnRunner
from sdk.errors import QuantizeError, SdkError

__all__ = ["MnnOp", "dump_mnn_tensors", "last_line", "mnn_json", "mnn_op_names", "mnn_ops", "one_line",
           "run_mnn_tool", "signal_name"]

MNNDUMP_TIMEOUT_S = 300
# ops whose weights MNN turns into int8 (the ones skip lists name)
QUANTIZABLE_TYPES = ("Convolution", "ConvolutionDepthwise", "Deconvolution")
# Runs in the child: only the compiled extension, never MNN.tools.
_CHILD = "import sys\nimport _tools\ngetattr(_tools, sys.argv[1])(sys.argv[2:])\n"


def run_mnn_tool(tool: str, argv: Sequence[str], *, cwd: Path, timeout: float,
                 on_timeout: Callable[[], SdkError], log_name: str | None = None) -> tuple[int, str]:
    """Run MNN's ``tool`` (``mnnconvert`` or ``mnnquant``) with ``argv`` (its own argv, program
    name first) in a child Python; (exit code, output), as :func:`sdk.convert.tool.run_tool`."""
    if tool not in ("mnnconvert", "mnnquant"):
        raise ValueError(f"not an MNN tool: {tool!r}")
    return run_tool([sys.executable, "-c", _CHILD, tool, *argv], cwd=cwd, timeout=timeout,
                    on_timeout=on_timeout, log_name=log_name)


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


def one_line(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]


def signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def last_line(log: str) -> str:
    lines = [ln for ln in log.splitlines() if ln.strip() and not ln.startswith("The device supports")]
    return one_line(lines[-1]) if lines else "(no output)"


def mnn_json(mnn_model: Path) -> dict[str, Any]:
    """MNN's own JSON dump of a model (ops, tensor names, weights, quantization parameters)."""
    import tempfile

    src = Path(mnn_model)
    if not src.is_file():
        raise QuantizeError(f"MNN model {src} does not exist", fix="convert the model for MNN first")
    with tempfile.TemporaryDirectory(prefix="sdk-mnn-json-") as tmp:
        out = Path(tmp) / "model.json"
        argv = ["mnnconvert", "-f", "MNN", "--modelFile", str(src.resolve()), "--JsonFile", str(out)]
        returncode, log = run_mnn_tool(
            "mnnconvert", argv, cwd=Path(tmp), timeout=MNNDUMP_TIMEOUT_S,
            on_timeout=lambda: QuantizeError(f"MNN did not dump {src.name} in {MNNDUMP_TIMEOUT_S}s"),
        )
        if returncode != 0 or not out.is_file():
            why = signal_name(returncode) if returncode < 0 else last_line(log)
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


def dump_mnn_tensors(
    mnn_model: Path, feeds: Mapping[str, np.ndarray], names: Sequence[str], *, threads: int = 1
) -> dict[str, np.ndarray]:
    """Run ``mnn_model`` on ``feeds`` and return the tensors ``names`` (float32, NCHW).

    The model is loaded with those tensors as its outputs (MNN's Module API), so any
    intermediate tensor can be read, in a float or an int8 model alike.
    """
    with MnnRunner.from_file(mnn_model, list(feeds), names, threads) as runner:
        return dict(zip(names, runner.forward(feeds), strict=True))
