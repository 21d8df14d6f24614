"""sdk.kernels.preprocess against OpenCV/numpy references on the host.

Tolerances (u8 units, multiplied by |norm|):
- packed formats vs ``(cv2.resize(img, INTER_LINEAR) - mean) * norm``: 1.25. The kernel keeps
  the bilinear result unrounded with 8-bit vertical / 15-bit horizontal weights (<= 0.5 LSB);
  OpenCV rounds to u8 (0.5) with 11-bit weights (~0.1).
- NV12/NV21: the equal-output OpenCV pipeline is ``cv2.resize(cv2.cvtColor(img,
  COLOR_YUV2RGB_NV12), INTER_LINEAR)`` (convert every pixel with the chroma of its 2x2 block,
  clamp, then resize). Resizing the planes first and converting the small planes (the bench's
  cheapest OpenCV row) is not equal: it differs from this by 15-134 u8 steps (max per photo)
  at colour edges of these photos. On real photos (scikit-image's colour photos as NV12) the kernel is
  within TOL_NV12_CV2 = 2.0 of it (measured max 1.45-1.67, mean 0.18-0.27 per photo).
- NV12/NV21 vs ``_nv12_model``, a float64 model of that OpenCV pipeline written independently
  of the kernel, on any image, limited and full range: 1.09 (derived in
  kernels/test/preprocess_test.cc: u8 rounding of each converted tap 0.5, fixed-point
  conversion 0.04, 8-bit vertical weight 0.498, horizontal 0.012, float positions 0.031).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import sdk.kernels as k

MEAN = (123.675, 116.28, 103.53)
NORM = (1 / 58.395, 1 / 57.12, 1 / 57.375)
TOL_PACKED = 1.25
TOL_NV12_CV2 = 2.0
TOL_NV12_MODEL = 1.09
# CY, CVR, CUG, CVG, CUB: OpenCV's BT.601 limited range (color_yuv.simd.hpp, ITUR_BT_601_* /
# 2^20) and BT.601 full range (JFIF).
YUV_COEFFS = {
    "limited": tuple(c / 2**20 for c in (1220542, 1673527, -409993, -852492, 2116026)),
    "full": (1.0, 1.402, -0.344136, -0.714136, 1.772),
}
PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "rocket.jpg",
          "hubble_deep_field.jpg", "retina.jpg", "color.png")


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


def _taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """cv2 INTER_LINEAR along one axis, float64: left index, right index, weight of the right."""
    s = (np.arange(dst, dtype=np.float64) + 0.5) * src / dst - 0.5
    i0 = np.floor(s).astype(np.int64)
    left, right = s <= 0, i0 >= src - 1
    f = np.where(left | right, 0.0, s - i0)
    i0 = np.where(left, 0, np.where(right, src - 1, i0))
    return i0, np.minimum(i0 + 1, src - 1), f


def _nv12_model(
    img: np.ndarray, fmt: str, info: k.LetterboxInfo, out_hw: tuple[int, int], pad: int,
    yuv_range: str = "limited",
) -> np.ndarray:
    """R, G, B planes (u8 units, float64) of the network input as OpenCV computes them: every
    source pixel converted with the chroma of its 2x2 block and clamped, then bilinear
    (cv2 INTER_LINEAR positions); ``pad`` outside."""
    h = img.shape[0] * 2 // 3
    rw, rh = info.resized_width, info.resized_height
    cy, cvr, cug, cvg, cub = YUV_COEFFS[yuv_range]
    x0, x1, fx = _taps(img.shape[1], rw)
    y0, y1, fy = _taps(h, rh)
    first, second = img[h:, 0::2].astype(np.float64) - 128, img[h:, 1::2].astype(np.float64) - 128
    u, v = (second, first) if fmt == "nv21" else (first, second)
    rgb = np.zeros((3, rh, rw))
    for ys, wy in ((y0, 1 - fy), (y1, fy)):
        for xs, wx in ((x0, 1 - fx), (x1, fx)):
            luma = img[:h][np.ix_(ys, xs)].astype(np.float64)
            uu, vv = u[np.ix_(ys // 2, xs // 2)], v[np.ix_(ys // 2, xs // 2)]
            lum = cy * (luma if yuv_range == "full" else np.maximum(luma - 16, 0))
            tap = np.clip(np.stack([lum + cvr * vv, lum + cug * uu + cvg * vv, lum + cub * uu]), 0, 255)
            rgb += tap * (wy[:, None] * wx[None, :])
    out = np.full((3, *out_hw), float(pad))
    out[:, info.offset_y : info.offset_y + rh, info.offset_x : info.offset_x + rw] = rgb
    return out


@pytest.mark.parametrize("fmt", ["nv12", "nv21"])
@pytest.mark.parametrize("extremes", [False, True], ids=["random", "0-255"])
@pytest.mark.parametrize(
    ("src", "dst", "letterbox", "swap_rb", "extra"),
    [
        pytest.param((2, 2), (7, 11), False, False, 0, id="2x2-7x11"),
        pytest.param((8, 6), (1, 1), False, True, 3, id="8x6-1x1-rgb-stride"),
        pytest.param((38, 22), (223, 161), True, False, 0, id="38x22-223x161-letterbox"),
        pytest.param((222, 30), (17, 4), False, True, 6, id="222x30-17x4-rgb-stride"),
        pytest.param((640, 480), (224, 224), True, True, 0, id="640x480-224x224-letterbox-rgb"),
        pytest.param((1918, 8), (224, 9), False, False, 10, id="1918x8-224x9-stride"),
    ],
)
@pytest.mark.parametrize("yuv_range", ["limited", "full"])
def test_nv12_matches_float64_model(
    fmt: k.PixelFormat,
    yuv_range: k.YuvRange,
    extremes: bool,
    src: tuple[int, int],
    dst: tuple[int, int],
    letterbox: bool,
    swap_rb: bool,
    extra: int,
) -> None:
    w, h = src
    rng = np.random.default_rng(w * 31 + dst[0] + extremes)
    big = rng.integers(0, 256, (h * 3 // 2, w + extra), dtype=np.uint8)
    if extremes:  # neighbour differences of 255: the largest weight-rounding errors
        big = (big & 1) * np.uint8(255)
    img = big[:, :w]  # row stride w + extra
    out, info = k.preprocess(
        img, fmt, dst, MEAN, NORM, letterbox=letterbox, pad=114, swap_rb=swap_rb, yuv_range=yuv_range
    )
    rgb = _nv12_model(img, fmt, info, (dst[1], dst[0]), 114, yuv_range)
    order = [0, 1, 2] if swap_rb else [2, 1, 0]  # output channels are BGR unless swap_rb
    mean = np.float32(MEAN).astype(np.float64).reshape(3, 1, 1)
    norm = np.float32(NORM).astype(np.float64).reshape(3, 1, 1)
    want = (rgb[order] - mean) * norm
    err = np.abs(out - want) / norm  # u8 LSB
    worst = err.reshape(3, -1).max(1)
    assert (worst <= TOL_NV12_MODEL).all(), f"worst error per output channel {worst} LSB > {TOL_NV12_MODEL}"


@pytest.mark.parametrize("fmt", ["nv12", "nv21"])
def test_nv12_agrees_with_opencv_on_real_photos(fmt: k.PixelFormat) -> None:
    """Colour photos as NV12/NV21 (OpenCV's BGR -> I420, chroma interleaved): the kernel vs
    cv2.resize(cv2.cvtColor(img, COLOR_YUV2RGB_NV12)), within 2 u8 steps everywhere."""
    from sdk.tools.photos import load_photos

    code = cv2.COLOR_YUV2RGB_NV21 if fmt == "nv21" else cv2.COLOR_YUV2RGB_NV12
    worst = []
    photos = load_photos(tuple(("skimage", f"data/{p}") for p in PHOTOS))
    for name, bgr in zip(PHOTOS, photos, strict=True):
        h, w = bgr.shape[0] // 2 * 2, bgr.shape[1] // 2 * 2
        img = _nv12(np.ascontiguousarray(bgr[:h, :w]), fmt == "nv21")
        for size in ((224, 224), (320, 240)):
            out, _ = k.preprocess(img, fmt, size, 0.0, 1.0, swap_rb=True)  # RGB, u8 units
            ref = cv2.resize(cv2.cvtColor(img, code), size, interpolation=cv2.INTER_LINEAR)
            err = np.abs(out - ref.transpose(2, 0, 1).astype(np.float32))
            worst.append((float(err.max()), name, size))
            assert err.max() <= TOL_NV12_CV2, f"{name} {size}: max {err.max():.2f}, mean {err.mean():.3f} u8"
    assert max(worst)[0] > 0.5  # the photos do reach colour edges (not a vacuous check)


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
