"""Image geometry in numpy for boards without OpenCV: what text detection needs.

The board's rootfs has numpy and the engines but no OpenCV, so the OCR app's DB
post-processing uses these instead of ``cv2.findContours``, ``cv2.minAreaRect`` +
``cv2.boxPoints``, ``cv2.fillPoly`` + ``cv2.mean``, pyclipper's round offset and
``cv2.getPerspectiveTransform`` + ``cv2.warpPerspective``:

- :func:`components`: 8-connected foreground components of a mask, found on row runs with a
  union-find; each as the end points of its runs (their convex hull is the hull of the
  component's pixels, which is the hull of its outer contour: what minAreaRect sees). Holes
  (``RETR_LIST``'s inner contours) are not reported.
- :func:`min_area_rect`: the convex hull (monotone chain) and rotating calipers.
- :func:`expand_rect`: a rectangle offset by ``d`` with round joins has, as its minimum-area
  rectangle, the same rectangle grown by ``d`` on each side (the rounded corners stay inside).
- :func:`round_offset`: the points of pyclipper's own round-join offset (Clipper 6 on integer
  points: corners truncated, each offset point rounded, arcs in Clipper's steps), whose
  minimum-area rectangle is rapidocr's unclipped box to the pixel, where the exact
  rectangle is a pixel off for a tilted line.
- :func:`polygon_mean`: the mean of a map inside a convex polygon (pixel centres inside or on
  an edge).
- :func:`warp_quad`: a quadrilateral cut out to an upright w x h image, bicubic (a = -0.75)
  with replicated borders.

Standard library and numpy only.
"""

from __future__ import annotations

import numpy as np


def row_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, start, end) of every run of non-zero pixels, end exclusive, row-major order."""
    m = (mask != 0).astype(np.int8)
    padded = np.zeros((m.shape[0], m.shape[1] + 2), np.int8)
    padded[:, 1:-1] = m
    d = np.diff(padded, axis=1)
    rs, starts = np.nonzero(d == 1)
    _, ends = np.nonzero(d == -1)
    return rs, starts, ends


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def components(mask: np.ndarray) -> list[np.ndarray]:
    """8-connected components of ``mask``: for each, the (x, y) end points of its runs
    (float64, (2 * runs, 2)), in the order of their first pixel (top to bottom, left to right)."""
    rows, starts, ends = row_runs(mask)
    n = len(rows)
    parent = list(range(n))
    row_begin = np.searchsorted(rows, np.arange(mask.shape[0] + 1))
    for r in range(1, mask.shape[0]):
        a0, a1 = row_begin[r], row_begin[r + 1]
        b0, b1 = row_begin[r - 1], row_begin[r]
        i, j = a0, b0
        while i < a1 and j < b1:  # runs of rows r and r - 1 touch (8-connected) when they overlap by +-1
            if starts[i] <= ends[j] and starts[j] <= ends[i]:
                ri, rj = _find(parent, i), _find(parent, j)
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
            if ends[i] < ends[j]:
                i += 1
            else:
                j += 1
    roots = np.array([_find(parent, i) for i in range(n)], dtype=np.int64)
    out = []
    for root in np.unique(roots):  # a root is its component's first run
        sel = roots == root
        y = rows[sel].astype(np.float64)
        pts = np.concatenate([np.stack([starts[sel], y], 1), np.stack([ends[sel] - 1, y], 1)])
        out.append(pts.astype(np.float64))
    return out


def convex_hull(points: np.ndarray) -> np.ndarray:
    """Convex hull (counter-clockwise, no collinear points) of (N, 2) points."""
    pts = np.unique(points, axis=0)
    if len(pts) < 3:
        return pts

    def half(seq: np.ndarray) -> list[np.ndarray]:
        h: list[np.ndarray] = []
        for p in seq:
            while len(h) >= 2 and (h[-1][0] - h[-2][0]) * (p[1] - h[-2][1]) \
                    - (h[-1][1] - h[-2][1]) * (p[0] - h[-2][0]) <= 0:
                h.pop()
            h.append(p)
        return h

    lower, upper = half(pts), half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1])


def min_area_rect(points: np.ndarray) -> tuple[np.ndarray, float]:
    """The four corners (float32, (4, 2)) of the minimum-area rectangle around ``points``
    and its shorter side."""
    hull = convex_hull(points)
    if len(hull) == 1:
        return np.repeat(hull.astype(np.float32), 4, 0), 0.0
    if len(hull) == 2:
        hull = np.concatenate([hull, hull[::-1]])
    edges = np.roll(hull, -1, 0) - hull
    lens = np.hypot(edges[:, 0], edges[:, 1])
    keep = lens > 0
    u = edges[keep] / lens[keep, None]  # (m, 2) edge directions
    v = np.stack([-u[:, 1], u[:, 0]], 1)
    pu, pv = hull @ u.T, hull @ v.T  # (n, m)
    area = (pu.max(0) - pu.min(0)) * (pv.max(0) - pv.min(0))
    k = int(np.argmin(area))
    a0, a1, b0, b1 = pu[:, k].min(), pu[:, k].max(), pv[:, k].min(), pv[:, k].max()
    corners = np.array([a0 * u[k] + b0 * v[k], a1 * u[k] + b0 * v[k], a1 * u[k] + b1 * v[k],
                        a0 * u[k] + b1 * v[k]])
    return corners.astype(np.float32), float(min(a1 - a0, b1 - b0))


def order_box(corners: np.ndarray) -> np.ndarray:
    """Corners as PaddleOCR's ``get_mini_boxes`` orders them: by x, then each pair by y
    (top-left, top-right, bottom-right, bottom-left)."""
    p = corners[np.argsort(corners[:, 0], kind="stable")]
    i1, i4 = (0, 1) if p[1][1] > p[0][1] else (1, 0)
    i2, i3 = (2, 3) if p[3][1] > p[2][1] else (3, 2)
    return np.array([p[i1], p[i2], p[i3], p[i4]], dtype=np.float32)


def expand_rect(box: np.ndarray, distance: float) -> np.ndarray:
    """The rectangle ``box`` (4 corners in order around it) grown by ``distance`` per side."""
    c = box.mean(0)
    u = box[1] - box[0]
    v = box[3] - box[0]
    lu, lv = float(np.hypot(*u)), float(np.hypot(*v))
    u = u / lu if lu > 0 else np.array([1.0, 0.0])
    v = v / lv if lv > 0 else np.array([-u[1], u[0]])
    hu, hv = lu / 2 + distance, lv / 2 + distance
    return np.array([c - hu * u - hv * v, c + hu * u - hv * v, c + hu * u + hv * v, c - hu * u + hv * v],
                    dtype=np.float32)


ARC_TOLERANCE = 0.25  # Clipper's def_arc_tolerance (pyclipper's default ArcTolerance)


def _clipper_round(v: np.ndarray) -> np.ndarray:
    """Clipper's Round: half away from zero."""
    return np.where(v < 0, np.ceil(v - 0.5), np.floor(v + 0.5))


def round_offset(poly: np.ndarray, delta: float) -> np.ndarray:
    """The vertices of pyclipper's ``JT_ROUND`` / ``ET_CLOSEDPOLYGON`` offset of the convex
    polygon ``poly`` by ``delta`` > 0 (Clipper 6's ``DoRound``; the point set, not its order)."""
    pts = np.trunc(np.asarray(poly, np.float64))  # pyclipper makes integer points by truncation
    area2 = float(np.sum(pts[:, 0] * np.roll(pts[:, 1], -1) - np.roll(pts[:, 0], -1) * pts[:, 1]))
    if area2 < 0:  # Clipper offsets positively oriented outer polygons outwards
        pts = pts[::-1]
    n = len(pts)
    d = np.roll(pts, -1, 0) - pts
    length = np.hypot(d[:, 0], d[:, 1])
    length[length == 0] = 1.0
    normals = np.stack([d[:, 1], -d[:, 0]], 1) / length[:, None]  # Clipper's GetUnitNormal
    y = min(ARC_TOLERANCE, abs(delta) * ARC_TOLERANCE)
    steps = min(np.pi / np.arccos(1 - y / abs(delta)), abs(delta) * np.pi)
    sin, cos, per_rad = np.sin(2 * np.pi / steps), np.cos(2 * np.pi / steps), steps / (2 * np.pi)
    out = []
    for j in range(n):
        k = (j - 1) % n
        nk, nj = normals[k], normals[j]
        sin_a = nk[0] * nj[1] - nj[0] * nk[1]
        a = np.arctan2(sin_a, nk[0] * nj[0] + nk[1] * nj[1])
        x, yy = nk
        for _ in range(max(int(_clipper_round(np.array(per_rad * abs(a)))), 1)):
            out.append((pts[j][0] + x * delta, pts[j][1] + yy * delta))
            x, yy = x * cos - sin * yy, x * sin + yy * cos
        out.append((pts[j][0] + nj[0] * delta, pts[j][1] + nj[1] * delta))
    return _clipper_round(np.array(out))


def polygon_area_perimeter(box: np.ndarray) -> tuple[float, float]:
    x, y = box[:, 0].astype(np.float64), box[:, 1].astype(np.float64)
    area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    d = np.roll(box, -1, 0).astype(np.float64) - box
    return area, float(np.hypot(d[:, 0], d[:, 1]).sum())


def polygon_mean(values: np.ndarray, poly: np.ndarray) -> float:
    """Mean of ``values`` (H, W) over the pixels whose centres are inside or on the convex
    polygon ``poly`` (integer vertices, like ``cv2.fillPoly`` of ``poly.astype(int32)``)."""
    h, w = values.shape
    p = poly.astype(np.int32).astype(np.float64)
    x0, x1 = int(np.clip(np.floor(p[:, 0].min()), 0, w - 1)), int(np.clip(np.ceil(p[:, 0].max()), 0, w - 1))
    y0, y1 = int(np.clip(np.floor(p[:, 1].min()), 0, h - 1)), int(np.clip(np.ceil(p[:, 1].max()), 0, h - 1))
    ys, xs = np.mgrid[y0:y1 + 1, x0:x1 + 1].astype(np.float64)
    e = np.roll(p, -1, 0) - p
    ex, ey = e[:, 0, None, None], e[:, 1, None, None]
    cross = ex * (ys[None] - p[:, 1, None, None]) - ey * (xs[None] - p[:, 0, None, None])
    area2 = float(np.dot(p[:, 0], np.roll(p[:, 1], -1)) - np.dot(p[:, 1], np.roll(p[:, 0], -1)))
    inside = np.all(cross >= -1e-9, 0) if area2 >= 0 else np.all(cross <= 1e-9, 0)
    region = values[y0:y1 + 1, x0:x1 + 1]
    return float(region[inside].mean()) if inside.any() else 0.0


def perspective(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 homography taking the 4 ``src`` points to the 4 ``dst`` points."""
    a = np.zeros((8, 8))
    b = np.zeros(8)
    for i, ((x, y), (u, v)) in enumerate(zip(src.astype(np.float64), dst.astype(np.float64), strict=True)):
        a[i] = [x, y, 1, 0, 0, 0, -u * x, -u * y]
        a[i + 4] = [0, 0, 0, x, y, 1, -v * x, -v * y]
        b[i], b[i + 4] = u, v
    return np.append(np.linalg.solve(a, b), 1.0).reshape(3, 3)


def _cubic(t: np.ndarray, a: float = -0.75) -> np.ndarray:
    t = np.abs(t)
    return np.where(t <= 1, ((a + 2) * t - (a + 3)) * t * t + 1,
                    np.where(t < 2, ((a * t - 5 * a) * t + 8 * a) * t - 4 * a, 0.0))


def warp_quad(img: np.ndarray, quad: np.ndarray, width: int, height: int) -> np.ndarray:
    """``img`` (H, W, C) u8 inside ``quad`` (tl, tr, br, bl) mapped onto a ``width`` x
    ``height`` upright image: bicubic sampling, replicated borders."""
    dst = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)
    inv = np.linalg.inv(perspective(quad, dst))
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    q = inv @ np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
    sx, sy = q[0] / q[2], q[1] / q[2]
    fx, fy = np.floor(sx), np.floor(sy)
    h, w = img.shape[:2]
    out = np.zeros((sx.size, img.shape[2]), np.float64)
    src = img.astype(np.float64)
    for j in range(-1, 3):
        wy = _cubic(sy - (fy + j))
        yy = np.clip(fy + j, 0, h - 1).astype(np.int64)
        for i in range(-1, 3):
            wgt = wy * _cubic(sx - (fx + i))
            xx = np.clip(fx + i, 0, w - 1).astype(np.int64)
            out += wgt[:, None] * src[yy, xx]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(height, width, img.shape[2])
