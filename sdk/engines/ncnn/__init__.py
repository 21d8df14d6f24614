"""ncnn: converted by pnnx; int8 by the SDK's own calibration table and model rewrite.

    convert.py   ONNX -> ncnn with the pnnx binary (fp32 weights; fp16 is a runtime option)
    pnnx_input.py  the ONNX pnnx reads: opset lowered, ops ncnn lacks rewritten
    runner.py    the runner host and board share (board code: stdlib + numpy + ncnn)
    format.py    ncnn's param/bin format: parsing, per-layer chunks, int8 layer chunks
    table.py     calibration: blob statistics -> ncnn's int8 table (ncnn2table's job)
    rewrite.py   the int8 model from a table (ncnn2int8's job), and bias correction
    int8.py      the adapter the engine-neutral int8 flow drives; per-layer sensitivity

ncnn ships no int8 tooling on PyPI, so table and rewrite are the SDK's own, split the way
ncnn's own tools split them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sdk.engines.base import WHEEL, WHEEL_NO_DEPS, Backend, Capabilities

if TYPE_CHECKING:
    from sdk.convert.prepare import PreparedModel
    from sdk.quantize.engine import Int8Engine
    from sdk.records import EngineModel


class NcnnBackend(Backend):
    caps = Capabilities(
        name="ncnn", label="ncnn", runtime_package="ncnn", converter_package="pnnx",
        board_install={"aarch64": WHEEL, "armv7": WHEEL_NO_DEPS},
        precisions=("fp32", "fp16", "int8"),
        layer_timing=True, intermediate_tensors=True,
    )

    def convert(self, prepared: PreparedModel, workdir: Path, precision: str) -> EngineModel:
        from sdk.engines.ncnn.convert import convert_ncnn

        return convert_ncnn(prepared, workdir, precision)

    def conversion_code(self) -> list[Path]:
        here = Path(__file__).parent
        return [here / "convert.py", here / "pnnx_input.py", here.parent.parent / "convert" / "lower.py"]

    def int8(self, method: str) -> type[Int8Engine]:
        from sdk.engines.ncnn.int8 import NcnnInt8

        return NcnnInt8


BACKEND = NcnnBackend()
