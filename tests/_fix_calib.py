"""Fixtures: calibration data and fp32 MNN models of the real PP-OCR networks.

Synthetic text lines and pages come from :mod:`sdk.tools.synth` (seeded); the fp32 MNN
models are converted once per session with the SDK's own converter.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from sdk.device.preprocess import ImageSpec

CALIB_SEED = 1  # calibration images
HELDOUT_SEED = 2  # evaluation images: never seen by calibration
DET_SIZE = 320  # det runs at 320x320 in tests (4x faster than 640x640, same network)


@dataclass(frozen=True)
class Fp32Mnn:
    """A converted fp32 MNN model with what calibration needs to know about it."""

    path: Path
    input_name: str
    input_shape: tuple[int, ...]
    output_name: str  # the MNN tensor name of its (only) output
    output_shape: tuple[int, ...]
    spec: ImageSpec

    def meta(self, model_file: str | None = None) -> dict[str, object]:
        """``meta`` for :class:`sdk.engines.mnn.runner.MnnRunner` over this model or ``model_file``."""
        return {
            "engine": "mnn",
            "precision": "fp32",
            "files": {"model": model_file or self.path.name},
            "inputs": [{"name": self.input_name, "blob": self.input_name, "shape": list(self.input_shape)}],
            "outputs": [{"name": "out", "blob": self.output_name, "shape": list(self.output_shape)}],
        }


def _fp32_mnn(onnx_path: Path, workdir: Path, shape: tuple[int, ...], spec: ImageSpec) -> Fp32Mnn:
    import sdk.convert as C
    from sdk.engines.mnn.convert import convert_mnn

    prepared = C.prepare(onnx_path, workdir, {"x": shape})
    model = convert_mnn(prepared, workdir / "mnn")
    out = prepared.outputs[0]
    return Fp32Mnn(model.files[0], "x", tuple(shape), out.name, tuple(out.shape), spec)


@pytest.fixture(scope="session")
def cls_mnn(cls_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Fp32Mnn:
    from sdk.tools.synth import PPOCR_SPECS

    return _fp32_mnn(cls_model, tmp_path_factory.mktemp("cls_mnn"), (1, 3, 48, 192), PPOCR_SPECS["cls"])


@pytest.fixture(scope="session")
def rec_mnn(rec_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Fp32Mnn:
    from sdk.tools.synth import PPOCR_SPECS

    return _fp32_mnn(rec_model, tmp_path_factory.mktemp("rec_mnn"), (1, 3, 48, 320), PPOCR_SPECS["rec"])


@pytest.fixture(scope="session")
def det_mnn(det_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Fp32Mnn:
    from sdk.tools.synth import PPOCR_SPECS

    spec = replace(PPOCR_SPECS["det"], width=DET_SIZE, height=DET_SIZE)
    return _fp32_mnn(det_model, tmp_path_factory.mktemp("det_mnn"), (1, 3, DET_SIZE, DET_SIZE), spec)


@pytest.fixture(scope="session")
def calib_lines_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """50 rendered text lines (PNG), seed CALIB_SEED."""
    from sdk.tools.synth import render_text_lines, write_images

    d = tmp_path_factory.mktemp("calib_lines")
    write_images(render_text_lines(50, CALIB_SEED), d)
    return d


@pytest.fixture(scope="session")
def heldout_lines() -> list[np.ndarray]:
    """100 rendered text lines, seed HELDOUT_SEED."""
    from sdk.tools.synth import render_text_lines

    return render_text_lines(100, HELDOUT_SEED)


@pytest.fixture(scope="session")
def calib_pages_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 rendered pages (PNG, 640x640), seed CALIB_SEED."""
    from sdk.tools.synth import render_pages, write_images

    d = tmp_path_factory.mktemp("calib_pages")
    write_images(render_pages(40, CALIB_SEED), d)
    return d
