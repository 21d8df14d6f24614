"""The held-out images int8 is judged on: which calibration images are held out, and for a
detector, enough detections in them for recall and precision to mean something.

Every model: every fifth calibration image is held out (:func:`split_feeds`), at most
:data:`MAX_EVAL_FEEDS`. A detector's recall and precision rest on the fp32 detections found
there, and every fifth of 60 photo views held 2 people for the YOLOv8 fall detector: one
missed person moved recall by 0.5, one by 0.05 at 20, so the search read noise and returned
31 layers to fp32. :func:`detection_split` gives a detector's search more to go on, from
held-out material only (never a calibration image or a view of one):

1. more of the images the fp32 model finds objects in move from calibration to the held-out
   set (every second one, while calibration keeps >= :data:`MIN_CALIB_SHARE` of the images);
2. views of the held-out images with detections (mirrored, turned a quarter, zoomed in on the
   objects, zoomed out) join it until fp32 finds :data:`TARGET_DETECTIONS` there or it holds
   :data:`MAX_EVAL_FEEDS` images; a quarter turn also shows the detector lying objects, as a
   fall detector's second class needs.

The every-fifth images stay held out in both, so a caller that only knows :func:`split_feeds`
(the deploy's board check) still judges on images calibration never saw.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from sdk.errors import QuantizeError

if TYPE_CHECKING:
    from sdk.device.tasks import TaskSpec

__all__ = ["FEW_HELD_OUT", "MAX_EVAL_FEEDS", "MIN_CALIB_SHARE", "MIN_HELD_OUT", "TARGET_DETECTIONS",
           "Feeds", "detection_split", "feed_views", "held_out_warning", "split_feeds"]

Feeds = list[dict[str, np.ndarray]]
MIN_HELD_OUT = 2  # below this the budget rests on nothing: an error
FEW_HELD_OUT = 8  # below this the report warns
MAX_EVAL_FEEDS = 40  # every candidate of the search runs them all
# a detector's held-out set is grown until fp32 finds this many there: one missed object
# then moves recall by under 2%, against a 5% budget margin
TARGET_DETECTIONS = 60
MIN_CALIB_SHARE = 0.6  # images with objects leave calibration only while it keeps this share


def split_feeds(feeds: Feeds) -> tuple[Feeds, Feeds]:
    """Calibration and held-out evaluation feeds: every fifth image is held out (at most
    :data:`MAX_EVAL_FEEDS`: the method choice and mixed precision are only as good as this set).
    Fewer than :data:`MIN_HELD_OUT` held-out images is an error: a budget on one image (or on
    the calibration images themselves) says nothing."""
    held = feeds[4::5][:MAX_EVAL_FEEDS]
    if len(held) < MIN_HELD_OUT:
        need = 5 * (MIN_HELD_OUT - 1) + 5
        raise QuantizeError(f"{len(feeds)} calibration images leave {len(held)} held out (every fifth) "
                            "to judge int8 by", expected=f">= {need} images ({MIN_HELD_OUT} held out)",
                            found=f"{len(feeds)} images", fix=f"add calibration images: at least {need}, "
                            f"{5 * FEW_HELD_OUT} or more for {FEW_HELD_OUT} held out")
    ids = {id(f) for f in held}
    return [f for f in feeds if id(f) not in ids], held


def held_out_warning(n: int) -> str | None:
    if n >= FEW_HELD_OUT:
        return None
    return (f"int8 judged on only {n} held-out images (every fifth calibration image): the figures are "
            f"coarse; {5 * FEW_HELD_OUT} or more calibration images give {FEW_HELD_OUT}+")


# ------------------------------------------------------------------------- a detector's


def _resize(x: np.ndarray, h: int, w: int) -> np.ndarray:
    """``x`` ``[1, C, H, W]`` resized to ``h x w`` (bilinear)."""
    import cv2

    hwc = np.ascontiguousarray(x[0].transpose(1, 2, 0))
    r = cv2.resize(hwc, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(r.reshape(h, w, -1).transpose(2, 0, 1)[None])


def _zoom_in(x: np.ndarray, boxes: np.ndarray, factor: float = 1.6) -> np.ndarray:
    """The region around ``boxes`` (``x1 y1 x2 y2`` in input pixels), ``factor`` times larger."""
    _, _, h, w = x.shape
    ch, cw = max(8, int(h / factor)), max(8, int(w / factor))
    cy = float((boxes[:, 1].min() + boxes[:, 3].max()) / 2)
    cx = float((boxes[:, 0].min() + boxes[:, 2].max()) / 2)
    y0 = int(np.clip(cy - ch / 2, 0, h - ch))
    x0 = int(np.clip(cx - cw / 2, 0, w - cw))
    return _resize(x[:, :, y0:y0 + ch, x0:x0 + cw], h, w)


def _zoom_out(x: np.ndarray, factor: float = 0.6) -> np.ndarray:
    """``x`` shrunk by ``factor`` onto the middle of a canvas of its border's colour."""
    _, _, h, w = x.shape
    sh, sw = max(4, int(h * factor)), max(4, int(w * factor))
    fill = np.median(np.concatenate([x[0, :, 0, :], x[0, :, -1, :]], axis=1), axis=1)
    out = np.empty_like(x)
    out[0] = fill[:, None, None]
    y0, x0 = (h - sh) // 2, (w - sw) // 2
    out[:, :, y0:y0 + sh, x0:x0 + sw] = _resize(x, sh, sw)
    return out


def feed_views(x: np.ndarray, boxes: np.ndarray) -> list[np.ndarray]:
    """Other views of one preprocessed image ``x`` ``[1, C, H, W]`` whose objects are at
    ``boxes``: mirrored, a quarter turn (square inputs only), zoomed in on the objects,
    zoomed out, the quarter turn the other way."""
    views = [np.ascontiguousarray(x[..., ::-1])]
    square = x.shape[-1] == x.shape[-2]
    if square:
        views.append(np.ascontiguousarray(np.rot90(x, 1, axes=(2, 3))))
    if len(boxes):
        views.append(_zoom_in(x, boxes))
    views.append(_zoom_out(x))
    if square:
        views.append(np.ascontiguousarray(np.rot90(x[..., ::-1], 1, axes=(2, 3))))
    return [v.astype(x.dtype, copy=False) for v in views]


def detection_split(feeds: Feeds, spec: TaskSpec,
                    run: Callable[[Sequence[Mapping[str, np.ndarray]]], list[dict[str, np.ndarray]]],
                    ) -> tuple[Feeds, Feeds, str]:
    """A detector's calibration and held-out feeds (the module's rules 1 and 2), with a note
    of what was held out. ``run``: the fp32 model over feeds (its outputs by name)."""
    from sdk.device.tasks import SCORE_THRESHOLD, decode

    calib, held = split_feeds(feeds)
    if spec.output is None:
        return calib, held, ""
    lay, out = spec.layout or "yolov8", spec.output
    thr = SCORE_THRESHOLD if spec.threshold is None else spec.threshold
    dets = {id(f): decode(np.asarray(r[out]), lay, thr) for f, r in zip(feeds, run(feeds), strict=True)}
    n_dets = sum(len(dets[id(f)]) for f in held)
    n_moved = n_views = 0
    with_objects = [f for f in calib if len(dets[id(f)])]
    for f in with_objects[1::2]:
        if n_dets >= TARGET_DETECTIONS or len(held) >= MAX_EVAL_FEEDS or \
                len(calib) - 1 < MIN_CALIB_SHARE * len(feeds):
            break
        calib = [c for c in calib if c is not f]
        held.append(f)
        n_dets += len(dets[id(f)])
        n_moved += 1
    key = next(iter(feeds[0]))
    queues = [feed_views(f[key], dets[id(f)].boxes) for f in held if len(dets[id(f)])]
    views = [q[k] for k in range(max((len(q) for q in queues), default=0)) for q in queues if k < len(q)]
    step = max(1, len(queues))
    while views and n_dets < TARGET_DETECTIONS and len(held) < MAX_EVAL_FEEDS:
        batch = [{key: v} for v in views[:min(step, MAX_EVAL_FEEDS - len(held))]]
        views = views[len(batch):]
        n_dets += sum(len(decode(np.asarray(r[out]), lay, thr)) for r in run(batch))
        held += batch
        n_views += len(batch)
    note = (f"{len(held)} held-out images ({len(held) - n_moved - n_views} every fifth, {n_moved} more with "
            f"objects, {n_views} views of those) with {n_dets} fp32 detections (score >= {thr}); "
            f"{len(calib)} calibrate")
    return calib, held, note
