"""Synthetic data, calibration loading and task metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sdk.device.preprocess import ImageSpec, preprocess
from sdk.errors import SdkError
from sdk.quantize import metrics as M
from sdk.quantize.calib import CalibrationError, calibration_sha, load_calibration
from sdk.tools.synth import (
    PPOCR_SPECS,
    is_chinese,
    render_pages,
    render_text_lines,
    render_text_lines_with_labels,
    write_images,
)

# --- synth ---------------------------------------------------------------------------------


def test_text_lines_deterministic_by_seed() -> None:
    a = render_text_lines_with_labels(12, seed=7)
    b = render_text_lines_with_labels(12, seed=7)
    assert [s for _, s in a] == [s for _, s in b]
    for (x, _), (y, _) in zip(a, b, strict=True):
        assert x.dtype == np.uint8 and x.ndim == 3 and x.shape[0] == 48 and x.shape[2] == 3
        assert x.tobytes() == y.tobytes()
    c = render_text_lines(12, seed=8)
    assert sum(x.shape == y.shape and np.array_equal(x, y) for (x, _), y in zip(a, c, strict=True)) == 0


def test_text_lines_prefix_stable_and_varied() -> None:
    few = render_text_lines(3, seed=3)
    many = render_text_lines_with_labels(40, seed=3)
    for x, (y, _) in zip(few, many, strict=False):
        assert np.array_equal(x, y)  # asking for more never changes the first ones
    widths = [im.shape[1] for im, _ in many]
    assert min(widths) >= 100 and max(widths) <= 450 and len(set(widths)) > 10
    assert len({s for _, s in many}) > 35 and all(s.strip() for _, s in many)
    assert all(im.shape[0] == 32 for im in render_text_lines(3, seed=3, height=32))


def test_chinese_lines_are_real_text_the_recogniser_reads() -> None:
    """cjk=0.5: about half the lines Chinese (GB2312 hanzi in a Debian CJK font), the Latin
    ones byte-identical to cjk=0; PP-OCRv4 rec (fp32, onnxruntime) reads the Chinese ones."""
    import onnx
    import onnxruntime as ort

    from sdk.tools.demo_models import ppocr_model

    latin = render_text_lines_with_labels(40, seed=21)
    mixed = render_text_lines_with_labels(40, seed=21, cjk=0.5)
    is_zh = [is_chinese(t) for _, t in mixed]
    zh = [line for line, z in zip(mixed, is_zh, strict=True) if z]
    assert 10 <= len(zh) <= 30
    for (a, ta), (b, tb), z in zip(latin, mixed, is_zh, strict=True):
        if not z:
            assert ta == tb and np.array_equal(a, b)
    model = ppocr_model("rec")
    meta = onnx.load(str(model), load_external_data=False).metadata_props
    chars = ["", *next(p.value for p in meta if p.key == "character").splitlines(), " "]
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    acc = []
    for im, text in zh[:12]:
        (out,) = sess.run(None, {"x": preprocess(im, PPOCR_SPECS["rec"])[0]})
        read = "".join(chars[k] for k in M.ctc_decode(out)[0])
        acc.append(1.0 - M.levenshtein(list(read), list(text)) / len(text))
    assert float(np.mean(acc)) >= 0.85, acc  # measured 0.96 on 20 lines: glyphs, not tofu boxes


def test_pages_deterministic_and_sized() -> None:
    a = render_pages(3, seed=11, size=(320, 240))
    b = render_pages(3, seed=11, size=(320, 240))
    assert all(x.shape == (240, 320, 3) and x.dtype == np.uint8 for x in a)
    assert all(x.tobytes() == y.tobytes() for x, y in zip(a, b, strict=True))
    c = render_pages(3, seed=12, size=(320, 240))
    assert not any(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_write_images_roundtrip(tmp_path: Path) -> None:
    import cv2

    imgs = render_text_lines(3, seed=1)
    paths = write_images(imgs, tmp_path / "out")
    assert [p.name for p in paths] == ["00000.png", "00001.png", "00002.png"]
    for p, im in zip(paths, imgs, strict=True):
        assert np.array_equal(cv2.imread(str(p)), im)


def test_ppocr_specs() -> None:
    assert (PPOCR_SPECS["det"].width, PPOCR_SPECS["det"].height) == (640, 640)
    assert (PPOCR_SPECS["rec"].width, PPOCR_SPECS["rec"].height) == (320, 48)
    assert (PPOCR_SPECS["cls"].width, PPOCR_SPECS["cls"].height) == (192, 48)
    x, _ = preprocess(np.full((48, 100, 3), 255, np.uint8), PPOCR_SPECS["rec"])
    assert x.shape == (1, 3, 48, 320) and np.allclose(x[..., :100], 1.0) and np.allclose(x[..., 100:], 0.0)


# --- calibration loading ---------------------------------------------------------------------


def _one_line_error(exc: BaseException) -> str:
    text = str(exc)
    assert isinstance(exc, SdkError) and "\n" not in text and text
    return text


def test_calib_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError) as ei:
        load_calibration(tmp_path / "nope", "x", (1, 3, 48, 192), PPOCR_SPECS["cls"])
    assert "does not exist" in _one_line_error(ei.value)


def test_calib_not_a_dir(tmp_path: Path) -> None:
    f = tmp_path / "file.png"
    f.write_bytes(b"x")
    with pytest.raises(CalibrationError) as ei:
        load_calibration(f, "x", (1, 3, 48, 192), PPOCR_SPECS["cls"])
    assert "not a directory" in _one_line_error(ei.value)


def test_calib_empty_dir_lists_suffixes(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CalibrationError) as ei:
        load_calibration(tmp_path, "x", (1, 3, 48, 192), PPOCR_SPECS["cls"])
    msg = _one_line_error(ei.value)
    assert "no usable files" in msg and ".png" in msg and ".npy" in msg


def test_calib_corrupt_image_named(tmp_path: Path) -> None:
    write_images(render_text_lines(2, seed=1), tmp_path)
    (tmp_path / "00001b.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(CalibrationError) as ei:
        load_calibration(tmp_path, "x", (1, 3, 48, 192), PPOCR_SPECS["cls"])
    assert "00001b.jpg" in _one_line_error(ei.value)


def test_calib_wrong_size_without_spec(tmp_path: Path) -> None:
    write_images(render_text_lines(1, seed=1), tmp_path)
    w = render_text_lines(1, seed=1)[0].shape[1]
    with pytest.raises(CalibrationError) as ei:
        load_calibration(tmp_path, "x", (1, 3, 48, 192), None)
    msg = _one_line_error(ei.value)
    assert "wrong size" in msg and "00000.png" in msg and "192x48" in msg and f"{w}x48" in msg
    assert "--preprocess size=192x48" in msg


def test_calib_wrong_npy_shape(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros((1, 3, 32, 32), np.float32))
    with pytest.raises(CalibrationError) as ei:
        load_calibration(tmp_path, "x", (1, 3, 48, 192), None)
    msg = _one_line_error(ei.value)
    assert "a.npy" in msg and "(1, 3, 48, 192)" in msg and "(1, 3, 32, 32)" in msg


def test_calib_wrong_npy_dtype(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros((1, 3, 48, 192), np.int64))
    with pytest.raises(CalibrationError) as ei:
        load_calibration(tmp_path, "x", (1, 3, 48, 192), None)
    assert "int64" in _one_line_error(ei.value)


def test_calib_feeds_are_exactly_sdk_preprocess(tmp_path: Path) -> None:
    imgs = render_text_lines(4, seed=5)
    write_images(imgs, tmp_path)
    spec = PPOCR_SPECS["cls"]
    feeds = load_calibration(tmp_path, "x", (1, 3, 48, 192), spec)
    assert len(feeds) == 4
    for feed, img in zip(feeds, imgs, strict=True):
        assert list(feed) == ["x"]
        ref, _ = preprocess(img, spec, source="bgr")
        assert feed["x"].dtype == np.float32
        np.testing.assert_array_equal(feed["x"], ref)
    assert len(load_calibration(tmp_path, "x", (1, 3, 48, 192), spec, limit=2)) == 2


def test_calib_npy_and_same_size_images_without_spec(tmp_path: Path) -> None:
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    np.save(tmp_path / "b.npy", x)
    img = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    write_images([img], tmp_path)  # 00000.png sorts before b.npy
    feeds = load_calibration(tmp_path, "inp", (1, 3, 8, 8), None)
    np.testing.assert_array_equal(feeds[0]["inp"], img.transpose(2, 0, 1)[None].astype(np.float32))
    np.testing.assert_array_equal(feeds[1]["inp"], x)


def test_calibration_sha_tracks_content(tmp_path: Path) -> None:
    write_images(render_text_lines(2, seed=1), tmp_path)
    a = calibration_sha(tmp_path)
    assert a == calibration_sha(tmp_path) and len(a) == 64
    write_images(render_text_lines(2, seed=2), tmp_path)
    assert calibration_sha(tmp_path) != a


def test_preprocess_spec_size_must_match_input(tmp_path: Path) -> None:
    write_images(render_text_lines(1, seed=1), tmp_path)
    with pytest.raises(CalibrationError) as ei:
        load_calibration(tmp_path, "x", (1, 3, 48, 320), ImageSpec(width=192, height=48, color="bgr"))
    assert "320x48" in _one_line_error(ei.value)


# --- metrics -------------------------------------------------------------------------------


def test_ctc_decode_and_char_agreement() -> None:
    def onehot(seq: list[int], c: int = 5) -> np.ndarray:
        x = np.zeros((len(seq), c), np.float32)
        x[np.arange(len(seq)), seq] = 1
        return x

    a = np.stack([onehot([1, 1, 0, 1, 2, 2, 0]), onehot([0, 3, 3, 3, 0, 4, 0])])
    assert M.ctc_decode(a) == [[1, 1, 2], [3, 4]]
    b = np.stack([onehot([1, 1, 0, 1, 2, 2, 0]), onehot([0, 3, 3, 3, 0, 0, 0])])
    assert M.char_agreement(a, b) == pytest.approx(1 - 1 / 5)
    assert M.char_agreement([a], [a]) == 1.0
    assert M.levenshtein([1, 2, 3], [1, 3]) == 1 and M.levenshtein([], [4, 5]) == 2


def test_mask_iou_top1_cosine() -> None:
    p = np.zeros((1, 1, 4, 4), np.float32)
    q = p.copy()
    p[..., :2, :] = 0.9
    q[..., :1, :] = 0.9
    assert M.mask_iou(p, q) == pytest.approx(0.5)
    assert M.mask_iou(np.zeros(4), np.zeros(4)) == 1.0
    assert M.top1_agreement(np.array([[1, 0], [0, 1]]), np.array([[1, 0], [1, 0]])) == 0.5
    assert M.top1_agreement([np.array([[1.0, 0.0]])], [np.array([[0.7, 0.3]])]) == 1.0
    assert M.cosine(np.ones(3), 2 * np.ones(3)) == pytest.approx(1.0)


def _softmax(logits: list[list[float]]) -> np.ndarray:
    x = np.asarray(logits, np.float64)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def test_decision_margins_are_the_logit_lead_and_flip_sign() -> None:
    ref = _softmax([[12.0, 0.0], [0.0, 3.0]])
    got = _softmax([[7.0, 0.0], [0.5, 0.0]])  # the second row flips
    a, b = M.decision_margins(ref, got)
    np.testing.assert_allclose(a, [12.0, 3.0], rtol=1e-4)
    np.testing.assert_allclose(b, [7.0, -0.5], rtol=1e-4)
    # three classes: the lead over the best *other* class, fp32's top class in both
    a, b = M.decision_margins(_softmax([[1.0, 5.0, 2.0]]), _softmax([[1.0, 2.0, 4.0]]))
    np.testing.assert_allclose(a, [3.0], rtol=1e-4)
    np.testing.assert_allclose(b, [-2.0], rtol=1e-4)
    with pytest.raises(ValueError, match="decision_margins"):
        M.decision_margins(np.ones((2, 3)), np.ones((3, 2)))


def test_margin_cosine_sees_logit_drift_that_saturated_probabilities_hide() -> None:
    """Every sample keeps its class and the probabilities barely move, but the logits drifted
    by several units: the next near-tie would flip. Only the margins show it."""
    ref = [_softmax([[d, 0.0]]) for d in (12.0, 10.0, 11.0, 3.0)]
    got = [_softmax([[d, 0.0]]) for d in (17.0, 5.0, 15.0, 2.5)]
    prob_cos = np.mean([M.cosine(r, g) for r, g in zip(ref, got, strict=True)])
    assert prob_cos > 0.9995  # what a 0.999 budget on the probabilities would accept
    margin_cos = M.margin_cosine(ref, got)
    expected = M.cosine(np.array([12.0, 10.0, 11.0, 3.0]), np.array([17.0, 5.0, 15.0, 2.5]))
    assert margin_cos == pytest.approx(expected, abs=1e-4) and margin_cos < 0.95
    assert M.margin_cosine(ref, ref) == pytest.approx(1.0)
