"""The detect app's pipeline ON THE BOARD: frame -> letterbox -> engine -> decode + NMS.

Shipped in the bundle as ``runtime/sdk/app_detect.py`` and run with the bundle's offline
venv. Imports only the standard library, numpy, the engines' runners and ``sdk._kernels``
(the fused letterbox preprocessing and the YOLOv8 decode + class-aware NMS)::

    python -m sdk.app_detect BUNDLE --frame frame.npy --out result.json [--threads 2]
        [--cpus 4,5] [--runs 3] [--score 0.25] [--iou 0.45] [--frames N]

The engine's output (1, 4 + C, N) goes to the decode kernel in its own layout (no transpose
copy). Boxes come back in source-image pixels. The stage timing and ``--frames`` are the
harness's (:mod:`sdk.device.app`).
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


class Detector(MainModel):
    def __init__(self, root: Path, model: BundledModel, threads: int, opts: argparse.Namespace) -> None:
        super().__init__(root, model, threads)
        self.score, self.iou = opts.score, opts.iou

    def preprocess(self, frame: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float, float]]:
        x, info = _kernels.preprocess_f32(frame, BGR, self.w, self.h, True, (0.0, 0.0, 0.0),
                                          (1 / 255, 1 / 255, 1 / 255), True, 114)
        return x[None], (info[0], info[1], float(info[2]), float(info[3]))

    def postprocess(self, out: np.ndarray, lb: tuple[float, float, float, float],
                    frame: np.ndarray) -> dict[str, Any]:
        # (1, 4 + C, N) in the engine's own layout: the kernel reads it in place
        boxes, scores, classes = _kernels.decode_nms(out[0], self.score, self.iou, 300, lb,
                                                     (float(frame.shape[1]), float(frame.shape[0])))
        return {"detections": [{"box": [float(v) for v in b], "score": float(s), "class": int(c)}
                               for b, s, c in zip(boxes, scores, classes, strict=True)],
                "output_layout": "(1, 4 + C, N) read in place"}


def main(argv: list[str] | None = None) -> int:
    ap = parser("sdk.app_detect")
    ap.add_argument("--score", type=float, default=0.25)
    ap.add_argument("--iou", type=float, default=0.45)
    return app_main("detect", Detector, ap, argv, lambda r: f"{len(r['detections'])} detections")


if __name__ == "__main__":
    sys.exit(main())
