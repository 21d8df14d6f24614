"""Baseline workloads for `sdk kernels bench`, run by an aarch64 python3 under QEMU + insn_plugin.

    python3 baseline.py <opencv|ncnn> <bgr|nv12|nms> <calls>

Same inputs as kernel_bench.cc (1920x1080 -> 224x224 RGB float CHW, ImageNet mean/std;
8000 boxes / 80 classes). Setup is identical whatever <calls> is, so the differential count
(N calls - 0 calls) / N is the cost of one call, Python call overhead included.
Exit code 3: this baseline has no implementation of that case.
"""

import sys

import numpy as np

MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)


def main() -> int:
    lib, case, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = np.random.default_rng(42)
    w, h = 1920, 1080
    if case == "bgr":
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    elif case == "nv12":
        img = rng.integers(0, 256, (h * 3 // 2, w), dtype=np.uint8)
    else:
        n, c = 8000, 80
        p = rng.uniform(0, 600, (4, n)).astype(np.float32)
        x1, x2 = np.minimum(p[0], p[1]), np.maximum(p[0], p[1])
        y1, y2 = np.minimum(p[2], p[3]), np.maximum(p[2], p[3])
        scores = rng.uniform(0, 1, (c, n)).astype(np.float32)
    if lib == "opencv":
        import cv2

        inv_std = (np.float32(1) / np.float32(STD)).reshape(3, 1, 1)
        if case in ("bgr", "nv12"):
            for _ in range(calls):
                rgb = cv2.cvtColor(img, cv2.COLOR_YUV2RGB_NV12) if case == "nv12" else img
                blob = cv2.dnn.blobFromImage(rgb, 1.0, (224, 224), MEAN, swapRB=case == "bgr")
                blob[0] *= inv_std
        else:
            for _ in range(calls):
                best = scores.max(0)
                cls = scores.argmax(0)
                keep = best > 0.25
                boxes = np.stack([x1, y1, x2 - x1, y2 - y1], 1)[keep]
                cv2.dnn.NMSBoxesBatched(boxes, best[keep], cls[keep].astype(np.int32), 0.25, 0.45)
        return 0
    if lib == "ncnn":
        import ncnn

        norm = [1 / s for s in STD]
        if case == "bgr":
            for _ in range(calls):
                m = ncnn.Mat.from_pixels_resize(img, ncnn.Mat.PixelType.PIXEL_BGR2RGB, w, h, 224, 224)
                m.substract_mean_normalize(list(MEAN), norm)
            return 0
        return 3  # ncnn's Python binding has no NV12 resize or NMS entry point
    return 2


if __name__ == "__main__":
    sys.exit(main())
