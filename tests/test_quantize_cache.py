"""int8 results kept by what they depend on: the same model, images and options quantize once.

A YOLOv8s takes the MNN search over half an hour; without this every ``sdk deploy --precision
int8`` and ``sdk app run`` of it ran the search again.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from sdk.convert import prepare
from sdk.device.preprocess import ImageSpec
from sdk.quantize import quantize
from sdk.tools.synth import write_images

SPEC = ImageSpec(width=32, height=32, color="rgb", norm=(1 / 255,))


@pytest.mark.slow
def test_same_inputs_come_from_the_cache_and_any_change_quantizes_again(tiny_classifier: Path,
                                                                        tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    calib = tmp_path / "calib"
    write_images([rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(12)], calib)
    prep = prepare(tiny_classifier, tmp_path, None)
    work = tmp_path / "q"

    def run(**kw: object) -> tuple[dict[str, object], list[str]]:
        lines: list[str] = []
        res = quantize(prep, ["ncnn"], calib, work, spec=SPEC, method="percentile", log=lines.append,
                       **kw)["ncnn"]  # type: ignore[arg-type]
        assert res.ok and res.model is not None and all(f.is_file() for f in res.model.files)
        return res.to_dict(), lines

    first, lines = run()
    assert not any("from the cache" in ln for ln in lines)
    stamp = work / ".int8-ncnn.json"
    assert stamp.is_file()
    again, lines = run()
    assert any("ncnn: int8 model from the cache" in ln for ln in lines), lines
    assert again == first  # the very result: model files, accuracy, search line
    # another option, other images, a damaged stamp, a missing model: quantized again
    _, lines = run(budget=0.5)
    assert not any("from the cache" in ln for ln in lines)
    cv2.imwrite(str(calib / "extra.png"), rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    _, lines = run()
    assert not any("from the cache" in ln for ln in lines)
    stamp.write_text("{not json")
    _, lines = run()
    assert not any("from the cache" in ln for ln in lines)
    last, lines = run()
    assert any("from the cache" in ln for ln in lines)
    Path(last["model"]["files"][0]).unlink()  # type: ignore[index]
    _, lines = run()
    assert not any("from the cache" in ln for ln in lines)
