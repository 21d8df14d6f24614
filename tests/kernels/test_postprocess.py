"""softmax / top-k, decode + NMS, argmax, DB binarisation against numpy references."""

from __future__ import annotations

import numpy as np
import pytest

import sdk.kernels as k


@pytest.mark.parametrize("n", [1, 7, 17, 1000, 1919])
def test_softmax_and_topk(n: int) -> None:
    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * 5).astype(np.float32)
    e = np.exp(x.astype(np.float64) - x.max())
    np.testing.assert_allclose(k.softmax(x), e / e.sum(), rtol=1e-5, atol=2e-6)
    idx, val = k.topk(x, 5)
    want = np.argsort(-x, kind="stable")[:5]
    np.testing.assert_array_equal(idx, want)
    np.testing.assert_array_equal(val, x[want])


def test_topk_ties_keep_lower_index() -> None:
    x = np.array([1, 3, 3, 2, 3], np.float32)
    idx, _ = k.topk(x, 4)
    assert idx.tolist() == [1, 2, 4, 3]


def _naive_nms(out: np.ndarray, thr: float, iou: float, max_det: int):
    scores = out[4:]
    best, cls = scores.max(0), scores.argmax(0)
    keep = np.nonzero(best > thr)[0]
    order = keep[np.argsort(-best[keep], kind="stable")]
    cx, cy, w, h = out[0], out[1], out[2], out[3]
    x1, y1 = cx - np.float32(0.5) * w, cy - np.float32(0.5) * h
    x2, y2 = cx + np.float32(0.5) * w, cy + np.float32(0.5) * h
    kept: list[int] = []
    dead = set()
    for a, i in enumerate(order):
        if i in dead:
            continue
        kept.append(i)
        for j in order[a + 1 :]:
            if cls[j] != cls[i]:
                continue
            iw = max(min(x2[i], x2[j]) - max(x1[i], x1[j]), 0)
            ih = max(min(y2[i], y2[j]) - max(y1[i], y1[j]), 0)
            inter = np.float32(iw) * np.float32(ih)
            uni = (x2[i] - x1[i]) * (y2[i] - y1[i]) + (x2[j] - x1[j]) * (y2[j] - y1[j]) - inter
            if inter > np.float32(iou) * uni:
                dead.add(j)
    kept.sort(key=lambda i: (-best[i], cls[i], i))
    return kept[:max_det], best, cls, np.stack([x1, y1, x2, y2], 1)


@pytest.mark.parametrize(("n", "c"), [(1, 1), (17, 3), (223, 80), (1919, 5)])
def test_decode_nms_matches_naive(n: int, c: int) -> None:
    rng = np.random.default_rng(n + c)
    big = np.zeros((4 + c, n + 3), np.float32)  # row stride != num_boxes
    big[0:2, :n] = rng.uniform(0, 600, (2, n))
    big[2:4, :n] = rng.uniform(10, 110, (2, n))
    big[4:, :n] = rng.integers(0, 64, (c, n)) / 64
    out = big[:, :n]
    det = k.decode_nms(out, 0.25, 0.45, 100)
    kept, best, cls, boxes = _naive_nms(np.ascontiguousarray(out), 0.25, 0.45, 100)
    assert len(det) == len(kept)
    np.testing.assert_array_equal(det.class_ids, cls[kept])
    np.testing.assert_array_equal(det.scores, best[kept])
    np.testing.assert_allclose(det.boxes, boxes[kept], atol=1e-3)


def _opencv_per_class(out: np.ndarray, thr: float, iou: float):
    """The loop users write: decode in numpy, then cv2.dnn.NMSBoxes once per class."""
    import cv2

    scores = out[4:]
    best, cls = scores.max(0), scores.argmax(0)
    cand = np.nonzero(best > thr)[0]
    cx, cy, w, h = out[0], out[1], out[2], out[3]
    x1, y1 = cx - np.float32(0.5) * w, cy - np.float32(0.5) * h
    x2, y2 = cx + np.float32(0.5) * w, cy + np.float32(0.5) * h
    kept: list[int] = []
    for c in np.unique(cls[cand]):
        idx = cand[cls[cand] == c]  # index order: NMSBoxes' stable sort breaks ties by it
        xywh = np.stack([x1[idx], y1[idx], x2[idx] - x1[idx], y2[idx] - y1[idx]], 1)
        k = np.asarray(cv2.dnn.NMSBoxes(xywh.astype(np.float64), best[idx].tolist(), thr, iou), np.int64)
        kept += idx[k.ravel()].tolist()
    kept.sort(key=lambda i: (-best[i], cls[i], i))
    return kept, best, cls, np.stack([x1, y1, x2, y2], 1)


@pytest.mark.parametrize(
    ("seed", "grid", "iou"), [(1, False, 0.45), (2, False, 0.45), (3, True, 0.5), (4, True, 0.45)]
)
def test_decode_nms_keeps_what_opencv_per_class_nmsboxes_keeps(seed: int, grid: bool, iou: float) -> None:
    """Same kept set and order as cv2.dnn.NMSBoxes per class, with every box kept (max
    detections above the count): score ties (scores on a 1/16 grid) go to the lower index;
    on integer boxes IoU == threshold happens exactly and keeps the box (OpenCV: drop only
    if IoU > threshold); every 7th box has zero width (degenerate pairs overlap fully)."""
    pytest.importorskip("cv2")
    rng = np.random.default_rng(seed)
    n, c = 3000, 6
    out = np.zeros((4 + c, n), np.float32)
    if grid:
        out[0:2] = rng.integers(0, 40, (2, n)) * 4
        out[2:4] = rng.integers(1, 12, (2, n)) * 8
    else:
        out[0:2] = rng.uniform(0, 640, (2, n))
        out[2:4] = rng.uniform(4, 200, (2, n))
    out[2, ::7] = 0
    out[4:] = rng.integers(0, 16, (c, n)) / 16
    det = k.decode_nms(out, 0.25, iou, n)
    kept, best, cls, boxes = _opencv_per_class(out, 0.25, iou)
    assert len(det) == len(kept) > 100
    np.testing.assert_array_equal(det.class_ids, cls[kept])
    np.testing.assert_array_equal(det.scores, best[kept])
    np.testing.assert_array_equal(det.boxes, boxes[kept])
    top = k.decode_nms(out, 0.25, iou, 50)  # the first 50 of the same order
    np.testing.assert_array_equal(top.boxes, boxes[kept[:50]])


def test_decode_nms_letterbox_and_batch_axis() -> None:
    out = np.zeros((1, 6, 2), np.float32)
    out[0, :, 0] = [320, 320, 100, 50, 0.9, 0.1]
    out[0, :, 1] = [100, 200, 20, 20, 0.1, 0.8]
    info = k.LetterboxInfo(0.5, 0.5, 0, 80, 640, 480)
    det = k.decode_nms(out, letterbox=info, clip=(1280, 960))
    assert det.class_ids.tolist() == [0, 1]
    np.testing.assert_allclose(det.boxes[0], [540, 430, 740, 530])


def test_argmax_and_binarize() -> None:
    rng = np.random.default_rng(1)
    x = (rng.integers(0, 8, (19, 33, 47)) / 8).astype(np.float32)
    np.testing.assert_array_equal(k.argmax(x), x.argmax(0).astype(np.uint8))
    view = x[:, 3:30, 5:40]  # strided rows and planes
    np.testing.assert_array_equal(k.argmax(view), view.argmax(0).astype(np.uint8))
    p = x[0, :, 1:46]
    np.testing.assert_array_equal(k.binarize(p, 0.3), np.where(p > 0.3, 255, 0).astype(np.uint8))


def test_postprocess_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"expected dtype float32, got dtype float64"):
        k.softmax(np.zeros(4))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"expected a 1-D array"):
        k.topk(np.zeros((2, 2), np.float32), 1)
    with pytest.raises(ValueError, match=r"expected shape \(4 \+ num_classes, num_boxes\)"):
        k.decode_nms(np.zeros((3, 4, 5, 6), np.float32))
    with pytest.raises(ValueError, match=r"expected shape \(channels, height, width\)"):
        k.argmax(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match=r"expected contiguous axis"):
        k.binarize(np.zeros((4, 8), np.float32)[:, ::2])


def test_variants_name_every_op() -> None:
    v = k.variants()
    assert set(v) >= {"softmax", "topk", "decode_nms", "argmax", "binarize"}
    isa = k.cpu_isa()
    assert all(name.endswith(f"__{isa}") for name in v.values())
