"""Baseline workloads for `sdk kernels bench`, run by an aarch64 python3 under QEMU + insn_plugin.

    python3 baseline.py <lib> <case> <calls>

    lib   opencv | ncnn | numpy
    case  bgr           BGR u8 -> blobFromImage / from_pixels_resize + mean/std
          nv12          full frame: cvtColor(NV12 -> RGB) of all 2 Mpx, then resize + mean/std
          nv12-planes   the cheapest equal-output OpenCV pipeline: resize the Y plane to 224x224
                        and the interleaved UV plane to 112x112 first, then cvtColorTwoPlane on
                        the small planes, then mean/std (the kernel's own model: it never
                        converts the full frame, and interpolates chroma on the half plane)
          nms           decode + cv2.dnn.NMSBoxesBatched (one O(N^2) pass over all classes)
          nms-per-class decode + a per-class loop of cv2.dnn.NMSBoxes (what users write)
          yolov8n, yolov8-fall   a YOLOv8 head [1, 4 + C, 8400] ($SDK_BENCH_DATA/<case>.f32,
                        written by sdk/kernels/bench_detect.py): the numpy decode users write
                        (transposed view, argmax / max over the classes, threshold, cx cy w h
                        -> x y w h) + cv2.dnn.NMSBoxesBatched, the kept boxes mapped back to
                        the source image and clipped, at most 300
          yolov8n-per-class, yolov8-fall-per-class   the same with the per-class NMSBoxes loop
    numpy: yolov8n, yolov8-fall: the numpy decode alone (no NMS, no OpenCV: a lower bound of
           every decode + NMS pipeline built on it, and the only baseline on armv7)

Same inputs as kernel_bench.cc (1920x1080 -> 224x224 RGB float CHW, ImageNet mean/std;
8000 boxes / 80 classes). Setup is identical whatever <calls> is, so the differential count
(N calls - 0 calls) / N is the cost of one call, Python call overhead included.

Every library is pinned to one thread (OMP_NUM_THREADS=1 and friends before any import,
cv2.setNumThreads(1), ncnn.set_omp_num_threads(1)), and that is checked: the threads of
this process (/proc/self/task, which under QEMU user mode lists the emulator's host threads,
one per guest thread) are counted before the first library import and after the workload;
more threads after than before is exit 4. The last stdout line is JSON: thread counts,
library versions, and the self-checks (NMS: both NMS variants keep the identical set, or
exit 5; NV12: the planes pipeline's difference from the full-frame one on a smooth frame).

Exit code 3: this baseline has no implementation of that case.
"""

import json
import os
import sys

PIN_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "OPENCV_FOR_THREADS_NUM": "1",
}
MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)
YOLO = ("yolov8n", "yolov8-fall")
CASES = ("bgr", "nv12", "nv12-planes", "nms", "nms-per-class", *YOLO, *(f"{c}-per-class" for c in YOLO))


def thread_count():
    """Threads of this process now (host threads of the emulator under QEMU user mode)."""
    return len(os.listdir("/proc/self/task"))


class ThreadsSpawned(Exception):
    pass


def run_checked(work, before):
    """Run ``work()``; raise ThreadsSpawned if the process has more threads afterwards than
    ``before`` (the count taken before any library was imported)."""
    result = work()
    after = thread_count()
    if after > before:
        raise ThreadsSpawned(f"baseline spawned threads: {before} before, {after} after (must be pinned to one)")
    return result, after


def _nms_inputs(np, rng):
    n, c = 8000, 80
    p = rng.uniform(0, 600, (4, n)).astype(np.float32)
    x1, x2 = np.minimum(p[0], p[1]), np.maximum(p[0], p[1])
    y1, y2 = np.minimum(p[2], p[3]), np.maximum(p[2], p[3])
    scores = rng.uniform(0, 1, (c, n)).astype(np.float32)
    return x1, y1, x2, y2, scores


def smooth_nv12(np, cv2, w, h):
    """A w x h NV12 frame of slow colour gradients (BGR -> I420 by OpenCV, U/V interleaved)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bgr = np.stack(
        [
            128 + 100 * np.sin(xx / 97.0),
            128 + 100 * np.cos(yy / 71.0),
            128 + 100 * np.sin((xx + yy) / 143.0),
        ],
        -1,
    ).astype(np.uint8)
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).ravel()
    q = w * h // 4
    u, v = i420[w * h : w * h + q], i420[w * h + q :]
    return np.concatenate([i420[: w * h], np.stack([u, v], 1).ravel()]).reshape(h * 3 // 2, w)


def read_head(np, case):
    """The YOLOv8 head [1, 4 + C, N] and its letterbox (scale, offset x, offset y, width,
    height) from the bench's data file (32-byte header, sdk/kernels/bench_detect.py)."""
    raw = np.fromfile(os.path.join(os.environ.get("SDK_BENCH_DATA", "."), case + ".f32"), np.float32)
    rows, anchors = (int(v) for v in raw[:2].view(np.int32))
    return raw[8:].reshape(1, rows, anchors), [float(v) for v in raw[2:7]]


def per_class_nms(np, cv2, boxes, best, cls, thr, iou):
    """The cheapest per-class loop found: one stable sort by class, then NMSBoxes per slice."""
    order = np.argsort(cls, kind="stable")
    _, starts = np.unique(cls[order], return_index=True)
    b, s = boxes[order], best[order]
    bounds = [*starts.tolist(), order.size]
    kept = [np.zeros(0, np.int64)]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        k = np.asarray(cv2.dnn.NMSBoxes(b[lo:hi], s[lo:hi], thr, iou), dtype=np.int64).ravel()
        kept.append(order[lo + k])
    return np.concatenate(kept)


def yolo_decode(np, out):
    """The numpy decode users write: a transposed view, argmax / max over the classes,
    threshold, cx cy w h -> x y w h."""
    pred = out[0].T  # (N, 4 + C) view of the channel-major output
    scores = pred[:, 4:]
    cls = scores.argmax(1)
    conf = scores.max(1)
    keep = conf > 0.25
    p, conf, cls = pred[keep], conf[keep], cls[keep]
    boxes = np.stack([p[:, 0] - p[:, 2] / 2, p[:, 1] - p[:, 3] / 2, p[:, 2], p[:, 3]], 1)
    return boxes, conf, cls


def numpy_work(case, calls, info):
    if case not in YOLO:
        return None
    import numpy as np

    info["versions"] = {"numpy": np.__version__}
    out, _ = read_head(np, case)

    def work():
        for _ in range(calls):
            yolo_decode(np, out)

    return work


def yolo_work(np, cv2, case, info):
    """decode + NMS of a YOLOv8 head, the way users write it with numpy and OpenCV."""
    base = case[: -len("-per-class")] if case.endswith("-per-class") else case
    out, (scale, ox, oy, width, height) = read_head(np, base)

    def decode():
        return yolo_decode(np, out)

    def finish(boxes, conf, cls, idx):
        idx = idx[np.argsort(-conf[idx], kind="stable")][:300]
        b = boxes[idx]
        x1 = ((b[:, 0] - ox) / scale).clip(0, width)
        y1 = ((b[:, 1] - oy) / scale).clip(0, height)
        x2 = ((b[:, 0] + b[:, 2] - ox) / scale).clip(0, width)
        y2 = ((b[:, 1] + b[:, 3] - oy) / scale).clip(0, height)
        return np.stack([x1, y1, x2, y2], 1), conf[idx], cls[idx]

    def batched():
        boxes, conf, cls = decode()
        idx = np.asarray(cv2.dnn.NMSBoxesBatched(boxes, conf, cls, 0.25, 0.45), dtype=np.int64).ravel()
        return finish(boxes, conf, cls, idx)

    def per_class():
        boxes, conf, cls = decode()
        return finish(boxes, conf, cls, per_class_nms(np, cv2, boxes, conf, cls, 0.25, 0.45))

    # setup, same whatever <calls>: both NMS variants keep the identical boxes
    a, b = batched(), per_class()
    info["kept"] = int(a[0].shape[0])
    if a[0].shape != b[0].shape or not np.array_equal(np.sort(a[1]), np.sort(b[1])):
        print(f"NMSBoxesBatched keeps {a[0].shape[0]} boxes, the per-class loop {b[0].shape[0]}",
              file=sys.stderr)
        sys.exit(5)
    return per_class if case.endswith("-per-class") else batched


def opencv_work(case, calls, info):
    import cv2
    import numpy as np

    cv2.setNumThreads(1)
    info["versions"] = {"opencv": cv2.__version__, "numpy": np.__version__}
    info["opencv_threads"] = cv2.getNumThreads()
    rng = np.random.default_rng(42)
    w, h = 1920, 1080
    inv_std = (np.float32(1) / np.float32(STD)).reshape(3, 1, 1)

    def bgr(img):
        blob = cv2.dnn.blobFromImage(img, 1.0, (224, 224), MEAN, swapRB=True)
        blob[0] *= inv_std
        return blob

    def nv12_full(img):
        rgb = cv2.cvtColor(img, cv2.COLOR_YUV2RGB_NV12)
        blob = cv2.dnn.blobFromImage(rgb, 1.0, (224, 224), MEAN, swapRB=False)
        blob[0] *= inv_std
        return blob

    def nv12_planes(img):
        y = cv2.resize(img[:h], (224, 224), interpolation=cv2.INTER_LINEAR)
        uv = cv2.resize(img[h:].reshape(h // 2, w // 2, 2), (112, 112), interpolation=cv2.INTER_LINEAR)
        rgb = cv2.cvtColorTwoPlane(y, uv, cv2.COLOR_YUV2RGB_NV12)
        blob = cv2.dnn.blobFromImage(rgb, 1.0, (224, 224), MEAN, swapRB=False)
        blob[0] *= inv_std
        return blob

    if case.startswith(YOLO):
        fn, img = yolo_work(np, cv2, case, info), None
    elif case == "bgr":
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        fn = bgr
    elif case in ("nv12", "nv12-planes"):
        img = rng.integers(0, 256, (h * 3 // 2, w), dtype=np.uint8)
        fn = nv12_full if case == "nv12" else nv12_planes
        # setup, same whatever <calls>: how far the planes-first pipeline is from the full-frame
        # one, in u8 steps of the RGB image before mean/std, on a smooth synthetic frame (on
        # the random frame the two sample different pixels of noise and differ by anything)
        smooth = smooth_nv12(np, cv2, w, h)
        d = np.abs(nv12_full(smooth)[0] - nv12_planes(smooth)[0]) * np.float32(STD).reshape(3, 1, 1)
        info["planes_vs_full_frame_u8"] = {"max": round(float(d.max()), 2), "mean": round(float(d.mean()), 3)}
    else:
        x1, y1, x2, y2, scores = _nms_inputs(np, rng)

        def decode():
            best = scores.max(0)
            cls = scores.argmax(0).astype(np.int32)
            keep = best > 0.25
            boxes = np.stack([x1, y1, x2 - x1, y2 - y1], 1)[keep]
            return boxes, best[keep], cls[keep]

        def batched():
            boxes, best, cls = decode()
            return np.asarray(cv2.dnn.NMSBoxesBatched(boxes, best, cls, 0.25, 0.45), dtype=np.int64).ravel()

        def per_class():
            boxes, best, cls = decode()
            return per_class_nms(np, cv2, boxes, best, cls, 0.25, 0.45)

        # setup, same whatever <calls>: the two variants keep the identical set of boxes
        a, b = np.sort(batched()), np.sort(per_class())
        info["kept"] = int(a.size)
        if a.size != b.size or not np.array_equal(a, b):
            print(f"NMSBoxesBatched keeps {a.size} boxes, the per-class NMSBoxes loop {b.size}: "
                  f"{np.setxor1d(a, b).size} differ", file=sys.stderr)
            sys.exit(5)
        fn = batched if case == "nms" else per_class
        img = None

    def work():
        for _ in range(calls):
            fn() if img is None else fn(img)

    return work


def ncnn_work(case, calls, info):
    if case != "bgr":
        return None  # ncnn's Python binding has no NV12 resize or NMS entry point
    import ncnn
    import numpy as np

    ncnn.set_omp_num_threads(1)
    info["versions"] = {"ncnn": getattr(ncnn, "__version__", "?"), "numpy": np.__version__}
    info["ncnn_threads"] = ncnn.get_omp_num_threads()
    rng = np.random.default_rng(42)
    w, h = 1920, 1080
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    norm = [1 / s for s in STD]

    def work():
        for _ in range(calls):
            m = ncnn.Mat.from_pixels_resize(img, ncnn.Mat.PixelType.PIXEL_BGR2RGB, w, h, 224, 224)
            m.substract_mean_normalize(list(MEAN), norm)

    return work


def main():
    lib, case, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for k, v in PIN_ENV.items():  # before any library is imported
        os.environ[k] = v
    before = thread_count()
    info = {"threads_before": before}
    if case not in CASES:
        return 2
    if lib == "opencv":
        work = opencv_work(case, calls, info)
    elif lib == "ncnn":
        work = ncnn_work(case, calls, info)
    elif lib == "numpy":
        work = numpy_work(case, calls, info)
    else:
        return 2
    if work is None:
        return 3
    try:
        _, info["threads_after"] = run_checked(work, before)
    except ThreadsSpawned as exc:
        print(str(exc), file=sys.stderr)
        return 4
    info["python"] = ".".join(map(str, sys.version_info[:3]))
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
