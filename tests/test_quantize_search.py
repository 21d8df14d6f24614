"""The mixed-precision search's steps on a real ncnn model (the YOLOv8-shaped tiny detector):
the greedy step stops at the first set of float layers that meets the budget, the prune pass
puts back to int8 the float layers the budget does not need; and a detector's held-out set
grows from held-out material only until it holds enough objects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from _fix_models import DET_SIZE

from sdk.convert import convert_engine, prepare
from sdk.deploy import synthetic_image
from sdk.device.preprocess import ImageSpec, preprocess
from sdk.device.tasks import TaskSpec, decode
from sdk.engines.ncnn.int8 import NcnnInt8
from sdk.quantize import accuracy, run_model, split_feeds
from sdk.quantize.heldout import MIN_CALIB_SHARE, TARGET_DETECTIONS, detection_split, feed_views
from sdk.quantize.search import Search
from sdk.quantize.task import find_task
from sdk.records import EngineModel, LayerStat, QuantResult

THR = 0.8
DET_SPEC = ImageSpec(width=DET_SIZE, height=DET_SIZE, color="rgb", norm=(1 / 255,), letterbox=True)


def _feeds(seeds: range) -> list[dict[str, np.ndarray]]:
    return [{"images": preprocess(synthetic_image(s, (256, 192)), DET_SPEC, "bgr")[0]} for s in seeds]


class _Ranked(NcnnInt8):
    """ncnn's int8 adapter with the sensitivity ranking the test plants (everything else real)."""

    order: ClassVar[list[str]] = []

    def rank(self, int8: EngineModel, feeds: Sequence[dict[str, np.ndarray]],
             stats: list[LayerStat]) -> list[str]:
        return list(self.order)


def test_greedy_stops_at_the_first_set_meeting_the_budget_and_prune_returns_layers_to_int8(
        tiny_detector: Path, tmp_path: Path) -> None:
    prep = prepare(tiny_detector, tmp_path, None)
    fp32 = convert_engine("ncnn", prep, tmp_path / "ncnn-fp32", "fp32")
    calib, held = _feeds(range(100, 124)), _feeds(range(500, 508))
    adapter = _Ranked(fp32, calib, tmp_path / "int8", "kl", True, prep)
    raw = TaskSpec("raw", None)  # the plain cosine: continuous, so the planted budget is exact
    ref = run_model(fp32, held)

    def fig(skip: list[str]) -> float:
        return accuracy(ref, run_model(adapter.build(skip), held), task=raw).value

    names = [n for n, _, _ in adapter.layers()]
    assert len(names) >= 4
    alone = {n: fig([n]) for n in names}
    b = max(alone, key=lambda n: alone[n])  # the float layer the budget needs
    a = min(alone, key=lambda n: alone[n])  # one it does not: ranked first, so greedy takes it too
    budget = min(fig([a, b]), alone[b])
    assert fig([]) < budget and alone[a] < budget, (fig([]), alone, budget)
    rest = [n for n in names if n not in (a, b)]
    _Ranked.order = [a, b, *rest]

    res = QuantResult(engine="ncnn", ok=False, method="kl", per_channel=True, budget=budget)
    log: list[str] = []
    search = Search(adapter, held, res, log.append, raw, max_fp32=len(names))
    search.choose_method(["kl"])
    assert search.acc is not None and not search.met(search.acc)
    search.mixed_precision(len(names))
    greedy = [t["fp32_layers"] for t in res.trajectory if t.get("step") == "greedy"]
    assert greedy == [[a], [a, b]]  # stopped at the first set that meets it: no later layer tried
    assert search.greedy_met_at == 2 and search.best_skip == [a, b]
    search.prune()
    tries = {t["int8"]: t["metric"] >= budget for t in res.trajectory if t.get("step") == "prune"}
    assert tries == {a: True, b: False}  # a back to int8 holds the budget; b back does not
    assert search.best_skip == [b] and search.pruned == [a]
    search.finish()
    assert res.met and res.fp32_layers == [b] and res.accuracy is not None
    assert res.accuracy.value == pytest.approx(alone[b])
    assert "1 float layers pruned back to int8" in res.search and "at 2 ranked layers" in res.search
    # the returned model really has only b in float: no int8 scale term (8=) on its line
    assert res.model is not None
    param = next(f for f in res.model.files if f.suffix == ".param").read_text().splitlines()
    line = {ln.split()[1]: ln for ln in param[2:] if len(ln.split()) > 1}
    assert " 8=" not in f" {line[b]}" and " 8=" in f" {line[a]}"
    assert res.int8_bytes < res.fp32_bytes


def test_detection_split_grows_the_held_out_set_from_held_out_material(tiny_detector: Path,
                                                                      tmp_path: Path) -> None:
    prep = prepare(tiny_detector, tmp_path, None)
    fp32 = convert_engine("ncnn", prep, tmp_path / "ncnn-fp32", "fp32")
    # judged at score >= 0.8, where these pictures hold few detections (5 in the every-fifth six)
    spec = replace(find_task(prep), threshold=THR)
    feeds = _feeds(range(100, 130))
    runs: list[int] = []

    def run(fs: Sequence[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
        runs.append(len(fs))
        return run_model(fp32, fs)

    def dets(fs: Sequence[dict[str, np.ndarray]]) -> int:
        return sum(len(decode(r["output0"], "yolov8", THR)) for r in run_model(fp32, fs))

    _, fifth = split_feeds(feeds)
    calib, held, note = detection_split(feeds, spec, run)
    assert dets(fifth) < TARGET_DETECTIONS  # the every-fifth images alone hold too few
    assert all(any(h is f for h in held) for f in fifth)  # the deploy's board check stays held out
    assert not any(c is h for c in calib for h in held)
    assert len(calib) >= MIN_CALIB_SHARE * len(feeds) and len(calib) + len(held) > len(feeds)
    moved = [h for h in held if any(h is f for f in feeds) and not any(h is f for f in fifth)]
    views = [h for h in held if not any(h is f for f in feeds)]
    assert moved and views
    # every view is one of a held-out image's views, none of a calibration image
    sources = [h["images"] for h in held if any(h is f for f in feeds)]
    made = [w for x, r in zip(sources, run_model(fp32, [{"images": x} for x in sources]), strict=True)
            for w in feed_views(x, decode(r["output0"], "yolov8", THR).boxes)]
    assert all(any(np.array_equal(v["images"], w) for w in made) for v in views)
    assert not any(np.array_equal(v["images"], c["images"]) for v in views for c in calib)
    assert dets(held) > dets(fifth)
    assert f"{len(held)} held-out images" in note and f"{len(calib)} calibrate" in note
