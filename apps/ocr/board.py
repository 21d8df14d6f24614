"""The ocr app's pipeline ON THE BOARD: PP-OCRv4 detection -> DB boxes -> crops -> direction
classifier -> recogniser -> CTC decode.

Shipped in the bundle as ``runtime/sdk/app_ocr.py`` and run with the bundle's offline venv
(stdlib + numpy + the engines' runners + ``sdk._kernels``; the board has no OpenCV, so the
contours, minimum-area rectangles, unclip and perspective crops are numpy, in
:mod:`sdk.device.geometry`)::

    python -m sdk.app_ocr BUNDLE --frame frame.npy --out result.json [--threads 2]
        [--cpus 4,5] [--runs 3] [--frames N]

The steps and constants follow rapidocr_onnxruntime 1.4.4 (its config.yaml and main.py):
the frame's long side reduced to 2000 and its short side raised to 30 (both sides then
multiples of 32), black rows added above and below when it is at most 30 high or wider than
8:1 (:func:`plan`); the detector's input is that image resized to the bundle's fixed det
shape (the host picks it as rapidocr does: short side to ``limit_side_len``, multiples of
32), ``(x / 255 - 0.5) / 0.5``; the probability map binarised at 0.3 by the DB kernel,
dilated 2x2; per component the minimum-area rectangle (short side >= 3), its mean
probability (>= 0.5), unclipped by ``area * 1.6 / perimeter`` (pyclipper's integer round
offset, short side >= 5), scaled to the resized, padded image; boxes sorted top to bottom,
left to right; each cut out of that image upright, turned a quarter if 1.5x taller than
wide, turned 180 degrees when the classifier says so with > 0.9; the recogniser's input 48
high and as wide as rapidocr's batch makes it (:func:`rec_widths`: lines by aspect ratio in
batches of 6, each batch as wide as its widest line, at least 320), zero-padded, on a
recogniser whose width is free; greedy CTC with the dictionary from the model's metadata;
lines with mean confidence < 0.5 dropped; boxes mapped back to the frame.
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
MAX_SIDE, MIN_SIDE, MIN_HEIGHT, MAX_RATIO = 2000, 30, 30, 8  # rapidocr's Global limits
REC_HEIGHT, REC_WIDTH, REC_BATCH = 48, 320, 6  # rapidocr's rec_img_shape and rec_batch_num


def _resized(h: int, w: int, ratio: float) -> tuple[int, int]:
    return round(int(h * ratio) / 32) * 32, round(int(w * ratio) / 32) * 32


def plan(h: int, w: int) -> tuple[list[tuple[int, int]], tuple[float, float], int]:
    """What rapidocr 1.4.4 does to an h x w frame before its detector: the sizes (h, w) it
    resizes to in turn (long side down to 2000, then short side up to 30, multiples of 32),
    the ratios that map the last image's pixels back (rapidocr keeps only the last resize's),
    and the black rows added above and below (when at most 30 high or wider than 8:1)."""
    sizes: list[tuple[int, int]] = []
    ratios = (1.0, 1.0)
    if max(h, w) > MAX_SIDE:  # reduce_max_side
        sizes.append(_resized(h, w, MAX_SIDE / (h if h > w else w)))
        ratios = (h / sizes[-1][0], w / sizes[-1][1]) if min(sizes[-1]) > 0 else ratios
        h, w = sizes[-1]
    if min(h, w) < MIN_SIDE and min(h, w) > 0:  # increase_min_side
        sizes.append(_resized(h, w, MIN_SIDE / (h if h < w else w)))
        ratios = (h / sizes[-1][0], w / sizes[-1][1]) if min(sizes[-1]) > 0 else ratios
        h, w = sizes[-1]
    pad = 0
    if h > 0 and w > 0 and (h <= MIN_HEIGHT or w / h > MAX_RATIO):  # maybe_add_letterbox
        pad = int(abs(max(int(w / MAX_RATIO), MIN_HEIGHT) * 2 - h) / 2)
    return sizes, ratios, pad


def resize_u8(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """``img`` (H, W, 3) BGR u8 resized bilinearly to w x h by the resize kernel."""
    x, _ = _kernels.preprocess_f32(img, BGR, w, h, False, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), False, 0)
    return np.ascontiguousarray(np.clip(np.rint(x), 0, 255).astype(np.uint8).transpose(1, 2, 0))


def limited(frame: np.ndarray) -> tuple[np.ndarray, tuple[float, float], int]:
    """The image rapidocr's detector and crops see (:func:`plan` applied), the ratios, the pad."""
    sizes, ratios, pad = plan(*frame.shape[:2])
    img = frame
    for h, w in sizes:
        if min(h, w) <= 0:
            raise ValueError(f"a {frame.shape[1]}x{frame.shape[0]} frame shrinks to {w}x{h} at "
                             f"rapidocr's limits")
        img = resize_u8(img, w, h)
    if pad:
        img = np.pad(img, ((pad, pad), (0, 0), (0, 0)))
    return img, ratios, pad


def to_frame(box: np.ndarray, ratios: tuple[float, float], pad: int, size: tuple[int, int]) -> np.ndarray:
    """A box of the limited image in frame pixels, clipped to the frame (w, h), as rapidocr's
    ``_get_origin_points``."""
    out = box.astype(np.float32).copy()
    out[:, 1] -= pad
    out[:, 0] *= ratios[1]
    out[:, 1] *= ratios[0]
    out = np.maximum(out, 0)
    out[:, 0] = np.minimum(out[:, 0], size[0])
    out[:, 1] = np.minimum(out[:, 1], size[1])
    return out


def rec_widths(crops: list[np.ndarray]) -> list[int]:
    """The recogniser width of each crop as rapidocr batches them: crops by aspect ratio
    (``np.argsort``), batches of 6, each batch as wide as 48 x its widest ratio (at least 320)."""
    ratios = [c.shape[1] / float(c.shape[0]) for c in crops]
    order = np.argsort(np.array(ratios))
    widths = [0] * len(crops)
    for beg in range(0, len(crops), REC_BATCH):
        batch = order[beg:beg + REC_BATCH]
        widest = max([REC_WIDTH / REC_HEIGHT, *(ratios[i] for i in batch)])
        for i in batch:
            widths[i] = int(REC_HEIGHT * widest)
    return widths


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
        big, side = g.min_area_rect(g.round_offset(box, area * UNCLIP / perimeter))  # pyclipper's points
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
        side = root / "runtime" / "sdk" / "app_models"
        index = json.loads((side / "models.json").read_text())
        cls, rec = (_Model(model.engine, side / index[r]["variants"][model.engine]["dir"],
                           index[r]["variants"][model.engine]["meta"], index[r], threads)
                    for r in ("cls", "rec"))
        self.setup(_Model(model.engine, root / model.dir, model.meta, manifest.model, threads), cls, rec,
                   index["rec"]["metadata"]["character"])

    def setup(self, det: Any, cls: Any, rec: Any, character: str) -> None:
        """The three models (callables with ``shape``, :class:`_Model` on the board) and the
        recogniser's dictionary (its ``character`` metadata)."""
        self.det, self.cls, self.rec = det, cls, rec
        self.chars = ["blank", *character.splitlines(), " "]
        self.extra_ms: dict[str, float] = {}

    def preprocess(self, frame: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, tuple[float, float], int]]:
        _, _, h, w = self.det.shape
        img, ratios, pad = limited(frame)
        x, _ = _kernels.preprocess_f32(img, BGR, w, h, False, MEAN, NORM, False, 0)
        return x[None], (img, ratios, pad)

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self.det(x)

    def postprocess(self, out: np.ndarray, state: tuple[np.ndarray, tuple[float, float], int],
                    frame: np.ndarray) -> dict[str, Any]:
        img, ratios, pad = state
        t0 = time.perf_counter()
        boxes = db_boxes(np.ascontiguousarray(out[0, 0]), (img.shape[1], img.shape[0]))
        times = {"boxes": _ms(t0), "crops": 0.0, "cls inference": 0.0, "rec inference": 0.0, "ctc": 0.0}
        t0 = time.perf_counter()
        crops = [crop(img, box) for box in boxes]
        times["crops"] += _ms(t0)
        turned = []
        for k, c in enumerate(crops):
            t0 = time.perf_counter()
            p = self.cls(line_input(c, self.cls.shape[2], self.cls.shape[3]))[0]
            times["cls inference"] += _ms(t0)
            turned.append(bool(p.argmax() == 1 and p[1] > CLS_THRESH))
            if turned[-1]:
                crops[k] = np.ascontiguousarray(c[::-1, ::-1])
        lines = []
        for box, c, width, turn in zip(boxes, crops, rec_widths(crops), turned, strict=True):
            t0 = time.perf_counter()
            probs = self.rec(line_input(c, self.rec.shape[2], width))[0]
            times["rec inference"] += _ms(t0)
            t0 = time.perf_counter()
            text, score = self.ctc(probs)
            times["ctc"] += _ms(t0)
            if score >= TEXT_SCORE:
                quad = to_frame(box, ratios, pad, (frame.shape[1], frame.shape[0]))
                lines.append({"box": np.round(quad).astype(int).tolist(), "text": text, "score": score,
                              "direction": "180" if turn else "0", "rec_width": width})
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
