"""The ocr app's pipeline ON THE BOARD: PP-OCRv4 detection -> DB boxes -> crops -> direction
classifier -> recogniser -> CTC decode.

Shipped in the bundle as ``runtime/sdk/app_ocr.py`` and run with the bundle's offline venv
(stdlib + numpy + the engines' runners + ``sdk._kernels``; the board has no OpenCV, so the
contours, minimum-area rectangles, unclip and perspective crops are numpy, in
:mod:`sdk.device.geometry`)::

    python -m sdk.app_ocr BUNDLE --frame frame.npy --out result.json [--threads 2]
        [--cpus 4,5] [--runs 3] [--frames N]

The steps and constants follow rapidocr_onnxruntime 1.4.4 (its config.yaml): the detector's
input is the frame resized to the bundle's fixed det shape (the host picks it as rapidocr
does: short side to ``limit_side_len``, multiples of 32), ``(x / 255 - 0.5) / 0.5``; the
probability map binarised at 0.3 by the DB kernel, dilated 2x2; per component the
minimum-area rectangle (short side >= 3), its mean probability (>= 0.5), unclipped by
``area * 1.6 / perimeter`` (short side >= 5), scaled to the frame; boxes sorted top to bottom,
left to right; each cut out upright, turned a quarter if 1.5x taller than wide, turned 180
degrees when the classifier says so with > 0.9; the recogniser's input 48 high, its width
fixed by the bundle (rapidocr's 320 for lines up to 6.67:1), padded with zeros; greedy CTC
with the dictionary from the model's metadata; lines with mean confidence < 0.5 dropped.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from sdk import _kernels  # type: ignore[attr-defined]
from sdk.device import geometry as g
from sdk.device.app import main as app_main
from sdk.device.app import parser
from sdk.engines.base import open_runner
from sdk.records import BundledModel, Manifest

BGR = 0  # sdk._kernels source format id
MEAN, NORM = (127.5, 127.5, 127.5), (1 / 127.5, 1 / 127.5, 1 / 127.5)
THRESH, BOX_THRESH, UNCLIP, MIN_SIZE, MAX_CANDIDATES = 0.3, 0.5, 1.6, 3, 1000
CLS_THRESH, TEXT_SCORE = 0.9, 0.5


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1e3


class _Model:
    """One engine runner with its input and output names and the input shape."""

    def __init__(self, engine: str, d: Path, meta: dict[str, Any], spec: dict[str, Any],
                 threads: int) -> None:
        self.runner = open_runner(engine, d, meta, threads)
        self.input, self.output = spec["inputs"][0]["name"], spec["outputs"][0]["name"]
        self.shape = spec["inputs"][0]["shape"]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.runner.run({self.input: x})[self.output]


def sort_boxes(boxes: list[np.ndarray]) -> list[np.ndarray]:
    """rapidocr's reading order: by top-left y then x, neighbours within 10 px by x."""
    out = sorted(boxes, key=lambda b: (b[0][1], b[0][0]))
    for i in range(len(out) - 1):
        for j in range(i, -1, -1):
            if abs(out[j + 1][0][1] - out[j][0][1]) < 10 and out[j + 1][0][0] < out[j][0][0]:
                out[j], out[j + 1] = out[j + 1], out[j]
            else:
                break
    return out


def clockwise(pts: np.ndarray) -> np.ndarray:
    xs = pts[np.argsort(pts[:, 0], kind="stable")]
    left, right = xs[:2][np.argsort(xs[:2, 1], kind="stable")], xs[2:][np.argsort(xs[2:, 1], kind="stable")]
    return np.array([left[0], right[0], right[1], left[1]], dtype=np.float32)


def db_boxes(prob: np.ndarray, size: tuple[int, int]) -> list[np.ndarray]:
    """Text boxes (4 x 2 int corners in frame pixels) from the (H, W) probability map."""
    mask = _kernels.binarize(prob, THRESH)
    dil = mask.copy()  # cv2.dilate with a 2x2 kernel: max of the pixel, its left, top, top-left
    dil[:, 1:] |= mask[:, :-1]
    dil[1:, :] |= mask[:-1, :]
    dil[1:, 1:] |= mask[:-1, :-1]
    h, w = prob.shape
    boxes = []
    for pts in g.components(dil)[:MAX_CANDIDATES]:
        rect, side = g.min_area_rect(pts)
        if side < MIN_SIZE:
            continue
        box = g.order_box(rect)
        if g.polygon_mean(prob, box) < BOX_THRESH:
            continue
        area, perimeter = g.polygon_area_perimeter(box)
        big, side = g.min_area_rect(g.expand_rect(box, area * UNCLIP / perimeter))
        if side < MIN_SIZE + 2:
            continue
        big = g.order_box(big)
        big[:, 0] = np.clip(np.round(big[:, 0] / w * size[0]), 0, size[0])
        big[:, 1] = np.clip(np.round(big[:, 1] / h * size[1]), 0, size[1])
        box = clockwise(big.astype(np.int32).astype(np.float32))
        box[:, 0] = np.clip(box[:, 0], 0, size[0] - 1).astype(np.int32)
        box[:, 1] = np.clip(box[:, 1], 0, size[1] - 1).astype(np.int32)
        if int(np.hypot(*(box[0] - box[1]))) <= 3 or int(np.hypot(*(box[0] - box[3]))) <= 3:
            continue
        boxes.append(box)
    return sort_boxes(boxes)


def crop(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    w = int(max(np.hypot(*(box[0] - box[1])), np.hypot(*(box[2] - box[3]))))
    h = int(max(np.hypot(*(box[0] - box[3])), np.hypot(*(box[1] - box[2]))))
    img = g.warp_quad(frame, box, w, h)
    return np.ascontiguousarray(np.rot90(img)) if h / w >= 1.5 else img


def line_input(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """(1, 3, height, width): resized to ``height`` keeping the ratio (at most ``width``),
    normalised by the kernel, zero-padded on the right."""
    rw = min(width, math.ceil(height * img.shape[1] / img.shape[0]))
    x, _ = _kernels.preprocess_f32(img, BGR, rw, height, False, MEAN, NORM, False, 0)
    out = np.zeros((1, 3, height, width), np.float32)
    out[0, :, :, :rw] = x
    return out


class Ocr:
    def __init__(self, root: Path, model: BundledModel, threads: int, opts: argparse.Namespace) -> None:
        manifest = Manifest.load(root)
        self.det = _Model(model.engine, root / model.dir, model.meta, manifest.model, threads)
        side = root / "runtime" / "sdk" / "app_models"
        index = json.loads((side / "models.json").read_text())
        self.cls, self.rec = (_Model(model.engine, side / index[r]["variants"][model.engine]["dir"],
                                     index[r]["variants"][model.engine]["meta"], index[r], threads)
                              for r in ("cls", "rec"))
        chars = index["rec"]["metadata"]["character"].splitlines()
        self.chars = ["blank", *chars, " "]
        self.extra_ms: dict[str, float] = {}

    def preprocess(self, frame: np.ndarray) -> tuple[np.ndarray, None]:
        _, _, h, w = self.det.shape
        x, _ = _kernels.preprocess_f32(frame, BGR, w, h, False, MEAN, NORM, False, 0)
        return x[None], None

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self.det(x)

    def postprocess(self, out: np.ndarray, state: None, frame: np.ndarray) -> dict[str, Any]:
        t0 = time.perf_counter()
        boxes = db_boxes(np.ascontiguousarray(out[0, 0]), (frame.shape[1], frame.shape[0]))
        times = {"boxes": _ms(t0), "crops": 0.0, "cls inference": 0.0, "rec inference": 0.0, "ctc": 0.0}
        lines = []
        for box in boxes:
            t0 = time.perf_counter()
            img = crop(frame, box)
            times["crops"] += _ms(t0)
            t0 = time.perf_counter()
            p = self.cls(line_input(img, self.cls.shape[2], self.cls.shape[3]))[0]
            times["cls inference"] += _ms(t0)
            turned = bool(p.argmax() == 1 and p[1] > CLS_THRESH)
            if turned:
                img = np.ascontiguousarray(img[::-1, ::-1])
            t0 = time.perf_counter()
            probs = self.rec(line_input(img, self.rec.shape[2], self.rec.shape[3]))[0]
            times["rec inference"] += _ms(t0)
            t0 = time.perf_counter()
            text, score = self.ctc(probs)
            times["ctc"] += _ms(t0)
            if score >= TEXT_SCORE:
                lines.append({"box": box.astype(int).tolist(), "text": text, "score": score,
                              "direction": "180" if turned else "0"})
        self.extra_ms = times
        return {"lines": lines}

    def ctc(self, probs: np.ndarray) -> tuple[str, float]:
        """Greedy CTC: best class per step, repeats merged, blanks dropped; the mean of the kept
        steps' probabilities."""
        idx, best = probs.argmax(1), probs.max(1)
        keep = np.ones(len(idx), bool)
        keep[1:] = idx[1:] != idx[:-1]
        keep &= idx != 0
        conf = best[keep]
        return "".join(self.chars[i] for i in idx[keep]), float(conf.mean()) if conf.size else 0.0

    def close(self) -> None:
        for m in (self.det, self.cls, self.rec):
            m.runner.close()


def main(argv: list[str] | None = None) -> int:
    return app_main("ocr", Ocr, parser("sdk.app_ocr"), argv, lambda r: f"{len(r['lines'])} lines")


if __name__ == "__main__":
    sys.exit(main())
