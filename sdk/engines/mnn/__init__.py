"""MNN: converted by MNN's compiled converter; int8 from the SDK's calibration through the
converter's compression parameters, or by MNN's own quantizer (``--method mnn-*``).

    convert.py     ONNX -> MNN with the converter (``_tools.mnnconvert`` in a child process)
    runner.py      the runner host and board share (board code: stdlib + numpy + MNN)
    tools.py       MNN's compiled tools in a child process; the model's JSON dump and ops
    params.py      the compression-params writer: SDK calibration -> int8 via the converter
    quantizer.py   MNN's own offline quantizer, fed with the SDK's preprocessing
    int8.py        the adapters the engine-neutral int8 flow drives

Nothing here imports ``MNN.tools``: its logging runs ``pip install`` and sends usage data.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sdk.engines.base import WHEEL, Backend, Capabilities

if TYPE_CHECKING:
    from sdk.convert.prepare import PreparedModel
    from sdk.quantize.engine import Int8Engine
    from sdk.records import EngineModel

# MNN's own quantizer's feature methods, as --method names
QUANTIZER_METHODS = ("mnn-kl", "mnn-admm", "mnn-ema")


class MnnBackend(Backend):
    caps = Capabilities(
        name="mnn", label="MNN", runtime_package="MNN", converter_package="MNN",
        board_install={"aarch64": WHEEL},  # no armv7 wheel on PyPI
        precisions=("fp32", "fp16", "int8"),
        layer_timing=True, intermediate_tensors=True, int8_methods=QUANTIZER_METHODS,
    )

    def convert(self, prepared: PreparedModel, workdir: Path, precision: str) -> EngineModel:
        from sdk.engines.mnn.convert import convert_mnn

        return convert_mnn(prepared, workdir, precision)

    def conversion_code(self) -> list[Path]:
        return [Path(__file__).with_name("convert.py"), Path(__file__).parents[2] / "convert" / "lower.py"]

    def int8(self, method: str) -> type[Int8Engine]:
        from sdk.engines.mnn.int8 import MnnInt8, MnnQuantizer

        return MnnQuantizer if method in QUANTIZER_METHODS else MnnInt8


BACKEND = MnnBackend()
