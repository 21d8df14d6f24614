"""sdk.kernels.preprocess against OpenCV/numpy references on the host.

Tolerances (u8 units, multiplied by |norm|):
- packed formats vs ``(cv2.resize(img, INTER_LINEAR) - mean) * norm``: 1.25. The kernel keeps
  the bilinear result unrounded with 8-bit vertical / 15-bit horizontal weights (<= 0.5 LSB);
  OpenCV rounds to u8 (0.5) with 11-bit weights (~0.1).
- NV12/NV21 vs ``cv2.resize(cv2.cvtColor(img, COLOR_YUV2BGR_NV12))`` on smooth images: 2.5.
  The kernel samples chroma bilinearly on the half-resolution plane and converts after the
  resize (one pass); OpenCV converts first with nearest chroma, so the two agree only where
  the image is smooth. The exact specification is checked by the C++ tests (kernels/test).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import sdk.kernels as k

MEAN = (123.675, 116.28, 103.53)
NORM = (1 / 58.395, 1 / 57.12, 1 / 57.375)
TOL_PACKED = 1.25
TOL_NV12 = 2.5


def _ref_packed(img: np.ndarray, size: tuple[int, int], mean=MEAN, norm=NORM) -> np.ndarray:
    r = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR).astype(np.float32)
    if r.ndim == 2:
        r = r[:, :, None]
    r = r[:, :, :3]
    return ((r - np.float32(mean[: r.shape[2]])) * np.float32(norm[: r.shape[2]])).transpose(2, 0, 1)


def _check(out: np.ndarray, ref: np.ndarray, tol: float, norm=NORM) -> None:
    assert out.shape == ref.shape, (out.shape, ref.shape)
    lim = tol * np.float32(norm[: out.shape[0]]).reshape(-1, 1, 1) + 1e-5
    err = np.abs(out - ref)
    assert (err <= lim).all(), f"max err {err.max()} (u8 LSB: {(err / lim * tol).max():.3f})"


@pytest.mark.parametrize("src", [(1, 1), (7, 15), (17, 7), (223, 17), (640, 480), (1919, 1081)])
@pytest.mark.parametrize("dst", [(1, 1), (7, 9), (224, 224), (223, 127)])
def test_bgr_to_rgb_matches_cv2(src: tuple[int, int], dst: tuple[int, int]) -> None:
    rng = np.random.default_rng(src[0] * 7 + dst[1])
    img = rng.integers(0, 256, (src[1], src[0], 3), dtype=np.uint8)
    out, info = k.preprocess(img, "bgr", dst, MEAN, NORM, swap_rb=True)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    _check(out, _ref_packed(img[:, :, ::-1], dst), TOL_PACKED)
    assert (info.offset_x, info.offset_y) == (0, 0)
    assert (info.resized_width, info.resized_height) == dst


@pytest.mark.parametrize("fmt", ["bgr", "rgb", "rgba", "gray"])
def test_row_stride_bigger_than_width(fmt: k.PixelFormat) -> None:
    rng = np.random.default_rng(3)
    cn = {"bgr": 3, "rgb": 3, "rgba": 4, "gray": 1}[fmt]
    big = rng.integers(0, 256, (101, 333, cn), dtype=np.uint8)
    view = big[5:96, 11:300]  # row stride 333 * cn, width 289
    if fmt == "gray":
        view = view[:, :, 0]  # pixel stride 1, row stride 333
        assert view.strides == (333, 1)
        out, _ = k.preprocess(view, fmt, (65, 47), MEAN[0], NORM[0])
        _check(out, _ref_packed(view, (65, 47), MEAN[:1], NORM[:1]), TOL_PACKED, NORM[:1])
        return
    out, _ = k.preprocess(view, fmt, (65, 47), MEAN, NORM)  # source channel order kept
    _check(out, _ref_packed(np.ascontiguousarray(view), (65, 47)), TOL_PACKED)


def test_letterbox_matches_cv2_and_maps_back() -> None:
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (480, 853, 3), dtype=np.uint8)
    out, info = k.preprocess(img, "bgr", (640, 640), 0.0, 1 / 255, letterbox=True, pad=114)
    assert info.resized_width == 640 and info.resized_height == 360
    assert info.offset_x == 0 and info.offset_y == 140
    canvas = np.full((640, 640, 3), 114, np.uint8)
    canvas[140:500] = cv2.resize(img, (640, 360), interpolation=cv2.INTER_LINEAR)
    ref = canvas.astype(np.float32).transpose(2, 0, 1) / 255
    _check(out, ref, TOL_PACKED, (1 / 255,) * 3)
    back = info.to_source(np.array([[0, 140, 640, 500]], np.float32))
    np.testing.assert_allclose(back, [[0, 0, 853, 480]], atol=1.0)


def _nv12(bgr: np.ndarray, nv21: bool = False) -> np.ndarray:
    h, w = bgr.shape[:2]
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
    y = yuv[:h]
    chroma = yuv[h:].reshape(-1)
    q = (h // 2) * (w // 2)
    u = chroma[:q].reshape(h // 2, w // 2)
    v = chroma[q:].reshape(h // 2, w // 2)
    uv = np.stack([v, u] if nv21 else [u, v], -1).reshape(h // 2, w)
    return np.concatenate([y, uv], 0)


@pytest.mark.parametrize("fmt", ["nv12", "nv21"])
@pytest.mark.parametrize("size", [(640, 480), (38, 22)])
def test_nv12_matches_cv2_on_smooth_images(fmt: k.PixelFormat, size: tuple[int, int]) -> None:
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    step = min(1.0, 255 / w)  # at most ~1 LSB per pixel: "smooth"
    bgr = np.stack([40 + xx * step, 60 + yy * step, 250 - (xx + yy) * step / 5], -1)
    bgr = np.clip(bgr, 0, 255).astype(np.uint8)
    img = _nv12(bgr, fmt == "nv21")
    code = cv2.COLOR_YUV2BGR_NV21 if fmt == "nv21" else cv2.COLOR_YUV2BGR_NV12
    out, _ = k.preprocess(img, fmt, (223, 161), MEAN, NORM)
    _check(out, _ref_packed(cv2.cvtColor(img, code), (223, 161)), TOL_NV12)


def test_nv12_with_row_stride() -> None:
    w, h = 64, 48
    yy, xx = np.mgrid[0:h, 0:w]
    bgr = np.stack([xx * 4, yy * 5, xx + yy], -1).astype(np.uint8)
    img = _nv12(bgr)
    padded = np.zeros((img.shape[0], w + 32), np.uint8)
    padded[:, :w] = img
    a, _ = k.preprocess(img, "nv12", (31, 17))
    b, _ = k.preprocess(padded[:, :w], "nv12", (31, 17))
    np.testing.assert_array_equal(a, b)


def test_int8_variant_quantises_the_float_output() -> None:
    rng = np.random.default_rng(9)
    img = rng.integers(0, 256, (123, 77, 3), dtype=np.uint8)
    f, _ = k.preprocess(img, "bgr", (33, 21), MEAN, NORM, letterbox=True)
    q, _ = k.preprocess_int8(img, "bgr", (33, 21), 40.0, MEAN, NORM, letterbox=True)
    assert q.dtype == np.int8
    v = np.clip(f * np.float32(40.0), -127, 127)
    want = np.trunc(v + np.copysign(np.float32(0.5), v)).astype(np.int8)
    np.testing.assert_array_equal(q, want)


def test_bad_arguments_raise_value_error() -> None:
    img = np.zeros((10, 12, 3), np.uint8)
    with pytest.raises(ValueError, match=r"expected dtype uint8, got dtype float32"):
        k.preprocess(img.astype(np.float32), "bgr", (4, 4))
    with pytest.raises(ValueError, match=r"expected shape \(height, width, 3\), got shape \(10, 12, 4\)"):
        k.preprocess(np.zeros((10, 12, 4), np.uint8), "bgr", (4, 4))
    with pytest.raises(ValueError, match=r"expected contiguous axis"):
        k.preprocess(img[:, ::2], "bgr", (4, 4))
    with pytest.raises(ValueError, match=r"expected contiguous axis"):
        k.preprocess(img[:, :, ::-1], "bgr", (4, 4))
    with pytest.raises(ValueError, match=r"fmt: expected one of"):
        k.preprocess(img, "yuyv", (4, 4))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"even"):
        k.preprocess(np.zeros((15, 7), np.uint8), "nv12", (4, 4))
    with pytest.raises(ValueError, match=r"size: expected positive"):
        k.preprocess(img, "bgr", (0, 4))
    with pytest.raises(ValueError, match=r"mean: expected 1 or 3 values, got 2"):
        k.preprocess(img, "bgr", (4, 4), mean=(1.0, 2.0))
