"""The board's numpy geometry (sdk/device/geometry.py, the OCR app's DB post-processing on
boards without OpenCV) against OpenCV on the host."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sdk.device import geometry as g

SEED = 14


def _blobs(rng: np.random.Generator, h: int = 61, w: int = 87) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    for _ in range(9):  # rotated bars, some touching only at a corner
        c = (float(rng.uniform(0, w)), float(rng.uniform(0, h)))
        size = (float(rng.uniform(2, 30)), float(rng.uniform(1, 9)))
        box = cv2.boxPoints((c, size, float(rng.uniform(0, 180))))
        cv2.fillPoly(mask, [box.astype(np.int32)], 255)
    mask[rng.random((h, w)) < 0.01] = 255  # single pixels
    mask[5, 5] = mask[6, 6] = 255  # diagonal neighbours: one 8-connected component
    return mask


@pytest.mark.parametrize("seed", range(SEED, SEED + 5))
def test_components_are_opencv_8_connected_components(seed: int) -> None:
    mask = _blobs(np.random.default_rng(seed))
    n, labels = cv2.connectedComponents(mask, connectivity=8)
    comps = g.components(mask)
    assert len(comps) == n - 1, f"seed {seed}"
    for pts in comps:  # every run end point lies in one OpenCV component, and covers all of it
        lab = {int(labels[int(y), int(x)]) for x, y in pts}
        assert len(lab) == 1 and 0 not in lab, f"seed {seed}"
        ys, xs = np.nonzero(labels == lab.pop())
        assert pts[:, 1].min() == ys.min() and pts[:, 1].max() == ys.max()
        assert pts[:, 0].min() == xs.min() and pts[:, 0].max() == xs.max()


@pytest.mark.parametrize("seed", range(SEED, SEED + 5))
def test_min_area_rect_matches_opencv(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for n in (1, 2, 3, 7, 40):
        pts = rng.integers(0, 200, (n, 2)).astype(np.float64)
        corners, side = g.min_area_rect(pts)
        (cx, cy), (w, h), _ = cv2.minAreaRect(pts.astype(np.float32))
        assert abs(side - min(w, h)) < 1e-3 * max(1.0, min(w, h)) + 1e-3, f"seed {seed} n {n}"
        ours = np.linalg.norm(corners[1] - corners[0]) * np.linalg.norm(corners[3] - corners[0])
        assert abs(ours - w * h) <= 1e-3 * max(1.0, w * h), f"seed {seed} n {n}"
        assert np.allclose(corners.mean(0), (cx, cy), atol=1e-2), f"seed {seed} n {n}"


def test_polygon_mean_differs_from_fillpoly_only_on_the_edges() -> None:
    """Inside pixels all counted, nothing outside the polygon's 1-pixel rim: the DB box score
    (mean probability >= 0.5 over a text blob) is decided by the inside."""
    rng = np.random.default_rng(SEED)
    ys, xs = np.mgrid[0:50, 0:70]
    for _ in range(20):
        centre = (float(rng.uniform(10, 60)), float(rng.uniform(10, 40)))
        size = (float(rng.uniform(3, 30)), float(rng.uniform(3, 12)))
        box = cv2.boxPoints((centre, size, float(rng.uniform(0, 90))))
        ref = np.zeros((50, 70), np.uint8)
        cv2.fillPoly(ref, [box.astype(np.int32)], 1)
        inside, rim = cv2.erode(ref, np.ones((3, 3))), cv2.dilate(ref, np.ones((3, 3)))
        for probe in zip(*np.nonzero(inside), strict=True):  # each inside pixel is counted
            one = np.zeros((50, 70), np.float32)
            one[probe] = 1.0
            assert g.polygon_mean(one, box) > 0, (box, probe)
        outside = (rim == 0).astype(np.float32)  # nothing beyond the rim
        assert g.polygon_mean(outside, box) == 0.0, box
        smooth = (np.sin(xs / 7.0) * np.cos(ys / 5.0)).astype(np.float32)
        assert abs(g.polygon_mean(smooth, box) - cv2.mean(smooth, ref)[0]) < 0.1


def test_warp_quad_matches_warp_perspective() -> None:
    rng = np.random.default_rng(SEED)
    img = cv2.GaussianBlur(rng.integers(0, 256, (60, 90, 3), dtype=np.uint8), (5, 5), 0)
    quad = np.array([[10.0, 12.0], [70.0, 8.0], [73.0, 40.0], [12.0, 45.0]], np.float32)
    w, h = 61, 34
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    ref = cv2.warpPerspective(img, cv2.getPerspectiveTransform(quad, dst), (w, h),
                              borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    ours = g.warp_quad(img, quad, w, h)
    diff = np.abs(ours.astype(int) - ref.astype(int))
    assert diff.max() <= 3 and diff.mean() < 0.5, (diff.max(), diff.mean())


def test_round_offset_has_pyclipper_hull() -> None:
    """Upright, slightly tilted and tilted boxes: the hull of our round-offset points is
    pyclipper's (integer points), so the unclipped rectangle is rapidocr's to the pixel."""
    pyclipper = pytest.importorskip("pyclipper")
    rng = np.random.default_rng(3)
    for k in range(200):
        (cx, cy), (w, h) = rng.uniform(20, 500, 2), rng.uniform(3, 400, 2)
        angle = (0.0, float(rng.uniform(-1, 1)), float(rng.uniform(-90, 90)))[k % 3]
        box = g.order_box(cv2.boxPoints(((cx, cy), (w, h), angle)).astype(np.float32))
        area, perimeter = g.polygon_area_perimeter(box)
        d = area * 1.6 / perimeter
        off = pyclipper.PyclipperOffset()
        off.AddPath(box.tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
        ref = np.array(off.Execute(d)).reshape(-1, 2).astype(np.float32)
        ours = g.round_offset(box, d).astype(np.float32)
        hull = {tuple(p) for p in g.convex_hull(ours).astype(int).tolist()}
        assert hull == {tuple(p) for p in g.convex_hull(ref).astype(int).tolist()}, (k, box.tolist(), d)


def test_expand_rect_is_pyclipper_round_offset_min_rect() -> None:
    pyclipper = pytest.importorskip("pyclipper")
    box = cv2.boxPoints(((50.0, 40.0), (60.0, 14.0), 12.0)).astype(np.float32)
    box = g.order_box(box)
    off = pyclipper.PyclipperOffset()
    off.AddPath(box.tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    expanded = np.array(off.Execute(7.5)).reshape(-1, 2).astype(np.float32)
    (_, (w, h), _) = cv2.minAreaRect(expanded)
    ours = g.expand_rect(box, 7.5)
    lw, lh = np.linalg.norm(ours[1] - ours[0]), np.linalg.norm(ours[3] - ours[0])
    assert sorted((lw, lh)) == pytest.approx(sorted((w, h)), abs=1.5)
