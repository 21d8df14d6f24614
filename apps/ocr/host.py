"""The ocr app's host reference: rapidocr_onnxruntime's own pipeline (``RapidOCR``).

Independent of the project's kernels and of the board's numpy geometry: OpenCV contours,
``cv2.minAreaRect``, shapely + pyclipper unclip, ``cv2.warpPerspective`` crops, onnxruntime
for the three PP-OCR models. The comparison: the board's lines, in reading order, have the
same texts as the host's.

The detector runs a fixed shape: its input is what rapidocr would make of this frame (long
side to at most 2000, short side to at least 30, black rows when at most 30 high or wider
than 8:1, then short side to ``--det-side``, default rapidocr's 736, multiples of 32), so a
new frame size converts the detector again (cached per size); the direction classifier
48x192 as rapidocr; the recogniser is converted with its width free (validated against
onnxruntime at 160 to 1024) and the board feeds each line at the width rapidocr's batch
gives it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sdk.device.preprocess import ImageSpec
from sdk.errors import ModelError, SdkError

PKG, DIST = "rapidocr_onnxruntime", "rapidocr_onnxruntime==1.4.4"
DEFAULT_MODEL = (PKG, "models/ch_PP-OCRv4_det_infer.onnx", DIST)
REFERENCE = "rapidocr_onnxruntime.RapidOCR"
ANNOTATED = ".png"  # text on a white page: lossless
FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")  # fonts-wqy-microhei (setup.sh)
REC_WIDTHS = (640, 160, 1024)  # the free-width recogniser is traced at 320 and 640, checked at all


SECONDARY: dict[str, tuple[Any, ...]] = {
    "cls": (PKG, "models/ch_ppocr_mobile_v2.0_cls_infer.onnx", DIST, {"x": [1, 3, 48, 192]}),
    "rec": (PKG, "models/ch_PP-OCRv4_rec_infer.onnx", DIST, {"x": [1, 3, 48, 320]},
            [{"x": [1, 3, 48, w]} for w in REC_WIDTHS]),
}


def det_size(h: int, w: int, side: int) -> tuple[int, int]:
    """rapidocr's detector input size (height, width) for an h x w frame (limit_type min)."""
    ratio = side / min(h, w) if min(h, w) < side else 1.0
    return max(32, round(int(h * ratio) / 32) * 32), max(32, round(int(w * ratio) / 32) * 32)


def limited_size(h: int, w: int) -> tuple[int, int]:
    """The (height, width) rapidocr's detector sizes from: the board pipeline's :func:`plan`
    (long side <= 2000, short side >= 30, black rows when at most 30 high or wider than 8:1)."""
    from sdk.apps import app_module

    sizes, _, pad = app_module("ocr", "board").plan(h, w)
    lh, lw = sizes[-1] if sizes else (h, w)
    if min(lh, lw) <= 0:
        raise SdkError(f"a {w}x{h} frame shrinks to {lw}x{lh} at rapidocr's limits (long side 2000, "
                       "multiples of 32), which rapidocr refuses too", fix="crop the frame to its text")
    return lh + 2 * pad, lw


def input_shapes(img: np.ndarray, opts: Any) -> dict[str, list[int]]:
    dh, dw = det_size(*limited_size(*img.shape[:2]), opts.det_side)
    return {"x": [1, 3, dh, dw]}


def check_model(prepared: Any) -> tuple[list[str], ImageSpec]:
    outs, ins = prepared.outputs, prepared.inputs
    if len(outs) != 1 or len(outs[0].shape) != 4 or outs[0].shape[1] != 1 or len(ins) != 1:
        raise ModelError(f"{prepared.source.name} is not a DB text detector",
                         expected="one output [1, 1, H, W]",
                         found=", ".join(f"{o.name} {list(o.shape)}" for o in outs))
    _, _, h, w = ins[0].shape
    return [], ImageSpec(width=int(w), height=int(h), color="bgr", mean=(127.5,), norm=(1 / 127.5,))


def board_args(opts: Any) -> list[str]:
    return []


def reference(model: Path, img: np.ndarray, opts: Any) -> dict[str, Any]:
    """rapidocr's lines on the BGR ``img``: quadrilateral, text, score, in reading order."""
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR(det_model_path=str(model), det_limit_side_len=opts.det_side)
    res, _ = engine(img)
    return {"lines": [{"box": np.asarray(b).round().astype(int).tolist(), "text": t, "score": float(s)}
                      for b, t, s in (res or [])]}


def compare(host: dict[str, Any], result: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    """Board texts identical to the host's, line by line in reading order."""
    ht, bt = [x["text"] for x in host["lines"]], [x["text"] for x in result["lines"]]
    same = sum(a == b for a, b in zip(ht, bt, strict=False))
    diffs = [f"{a!r} vs {b!r}" for a, b in zip(ht, bt, strict=False) if a != b]
    ok = ht == bt and bool(ht)
    return {"ok": ok, "host_lines": len(ht), "board_lines": len(bt), "identical": same, "differences": diffs,
            "summary": f"{same}/{len(ht)} host lines identical, board has {len(bt)}"
                       + (f"; first difference {diffs[0]}" if diffs else "")}


def summary(result: dict[str, Any]) -> list[str]:
    lines = [f"{len(result['lines'])} lines"]
    for x in result["lines"]:
        lines.append(f"  {x['score']:.3f}  {x['text']}  {x['box']}")
    return lines


def annotate(img: np.ndarray, result: dict[str, Any], labels: list[str], path: Path) -> Path:
    """The frame with the board's quadrilaterals, and beside it their texts at their places."""
    from PIL import Image, ImageDraw, ImageFont

    from sdk.apps import write_image

    h, w = img.shape[:2]
    left = img.copy()
    panel = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(panel)
    for x in result["lines"]:
        quad = np.asarray(x["box"], np.int32)
        cv2.polylines(left, [quad.reshape(-1, 1, 2)], True, (0, 0, 255), 2)
        draw.polygon([tuple(p) for p in quad.tolist()], outline=(0, 0, 255))
        size = max(10, int(0.8 * (quad[:, 1].max() - quad[:, 1].min())))
        font = ImageFont.truetype(str(FONT), size) if FONT.is_file() else ImageFont.load_default()
        draw.text((int(quad[0][0]) + 2, int(quad[0][1])), x["text"], fill=(0, 0, 0), font=font)
    right = cv2.cvtColor(np.asarray(panel), cv2.COLOR_RGB2BGR)
    return write_image(path, np.concatenate([left, right], 1))


def render_page(lines: list[str], path: Path, size: int = 32, width: int = 640, margin: int = 24) -> Path:
    """A test page: ``lines`` in black on white, one per row, in the CJK-capable font
    setup.sh installs (WenQuanYi Micro Hei covers Latin and Chinese)."""
    from PIL import Image, ImageDraw, ImageFont

    if not FONT.is_file():
        raise SdkError(f"font not found: {FONT}", fix="apt-get install fonts-wqy-microhei (setup.sh does)")
    font = ImageFont.truetype(str(FONT), size)
    step = int(size * 2)
    page = Image.new("RGB", (width, 2 * margin + step * len(lines)), (255, 255, 255))
    draw = ImageDraw.Draw(page)
    for i, text in enumerate(lines):
        draw.text((margin, margin + i * step), text, fill=(0, 0, 0), font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.save(path)
    return path


def board_replay(img: np.ndarray, engine: str, det_side: int = 736) -> dict[str, Any]:
    """The board pipeline (``board.py``: its kernels, numpy geometry and batch widths) run on
    the host with ``engine``'s runners over the models the app bundles (the recogniser with
    its width free), converted and validated as ``sdk app run`` does: the board's result
    without a board, for checks and tests."""
    from types import SimpleNamespace

    from sdk import convert as cv
    from sdk.apps import _free_models, _metadata, app_module, package_file
    from sdk.deploy import work_dir
    from sdk.report import Steps

    board = app_module("ocr", "board")
    det = input_shapes(img, SimpleNamespace(det_side=det_side))
    roles: dict[str, tuple[Any, ...]] = {"det": (*DEFAULT_MODEL, det), **SECONDARY}
    models = {}
    for role, (pkg, rel, dist, shapes, *more) in roles.items():
        path = package_file(pkg, rel, dist, f"ocr {role} model")
        if more:
            model = _free_models(path, shapes, more[0], [engine], Steps(quiet=True))[1][0]
        else:
            work = work_dir(path)
            prepared = cv.prepare(path, work, shapes)
            feeds, ref = cv.golden_and_reference(prepared, None)
            res = cv.convert(prepared, [engine], "fp32", work / "fp32", feeds=feeds, reference=ref)[engine]
            if not res.ok or res.model is None:
                raise SdkError(f"{engine} cannot run the ocr {role} model: {res.error}")
            model = res.model
        models[role] = board._Model(engine, model.model_dir, model.meta, model.meta, 1)
    ocr = board.Ocr.__new__(board.Ocr)
    ocr.setup(models["det"], models["cls"], models["rec"],
              _metadata(package_file(PKG, SECONDARY["rec"][1], DIST, "ocr rec model"))["character"])
    try:
        x, state = ocr.preprocess(img)
        return dict(ocr.postprocess(ocr.infer(x), state, img))
    finally:
        ocr.close()
