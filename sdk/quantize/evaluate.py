"""int8 against fp32 on the held-out feeds: running a model, the accuracy figures (per output
and by the task), each quantized layer's error, and the model's size and host time."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

from sdk import engines
from sdk.records import Accuracy, EngineModel, LayerStat

if TYPE_CHECKING:
    import numpy as np

    from sdk.quantize.engine import Int8Engine
    from sdk.quantize.task import TaskSpec

__all__ = ["accuracy", "analyze_layers", "host_ms", "model_bytes", "run_model"]



def run_model(model: EngineModel, feeds: Sequence[Mapping[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    with engines.open_runner(model.engine, model.model_dir, model.meta, 1) as runner:
        return [runner.run(f) for f in feeds]


def accuracy(ref: Sequence[dict[str, np.ndarray]], out: Sequence[dict[str, np.ndarray]],
             margins: Collection[str] = (), task: TaskSpec | None = None) -> Accuracy:
    """Per output: mean cosine over the images; the model's figure is its worst output. And the
    task's figures (:func:`sdk.device.tasks.agreement`): the task metric is what a budget
    applies to (without a task: that worst cosine).

    For the outputs in ``margins`` (softmax class scores) the cosine is of the decision
    margins of all images pooled (:func:`sdk.quantize.metrics.margin_cosine`): the cosine of
    saturated probabilities stays near 1 while the logits drift far enough to flip near-ties.
    """
    from sdk.device import metrics
    from sdk.device.tasks import agreement
    from sdk.quantize.metrics import output_cosine

    per_output: dict[str, float] = {}
    max_abs = 0.0
    top1: list[float] = []
    for name in ref[0]:
        per_output[name] = output_cosine([r[name] for r in ref], [o[name] for o in out],
                                         margins=name in margins)
        max_abs = max(max_abs, *(metrics.max_abs(r[name], o[name]) for r, o in zip(ref, out, strict=True)))
        t = [metrics.top1(r[name], o[name]) for r, o in zip(ref, out, strict=True)]
        top1 += [x for x in t if x is not None]
    acc = Accuracy(cosine=min(per_output.values()), max_abs=max_abs,
                   top1=sum(top1) / len(top1) if top1 else None, per_output=per_output, images=len(ref))
    if task is not None and task.task != "raw":
        figs = agreement(task, ref, out)
        acc.task, acc.metric_name, acc.metric = figs.task, figs.metric_name, figs.metric
        acc.tiebreak = figs.tiebreak
        acc.metrics = figs.metrics
    else:
        acc.metrics = {"cosine": acc.cosine}
    return acc


def analyze_layers(
    adapter: Int8Engine, int8: EngineModel, feeds: Sequence[dict[str, np.ndarray]]
) -> list[LayerStat]:
    """Every quantized layer's output vs fp32 and the error it adds, worst first."""
    from sdk.device import metrics

    layers = adapter.layers()
    names = sorted({t for _, i, o in layers for t in (i, o)})
    acc: dict[str, list[tuple[float, float]]] = {}
    for feed in feeds:
        ref = adapter.dump(adapter.fp32, feed, names)
        got = adapter.dump(int8, feed, names)
        for n in names:
            if n in ref and n in got:
                acc.setdefault(n, []).append((metrics.cosine(ref[n], got[n]),
                                              metrics.max_abs(ref[n], got[n])))
    stats = []
    for name, i, o in layers:
        if o not in acc:
            continue
        cos_o = sum(c for c, _ in acc[o]) / len(acc[o])
        cos_i = sum(c for c, _ in acc[i]) / len(acc[i]) if i in acc else 1.0
        stats.append(LayerStat(name=name, cosine=cos_o, max_abs=max(m for _, m in acc[o]),
                               added_error=(1 - cos_o) - (1 - cos_i)))
    stats.sort(key=lambda s: s.added_error, reverse=True)
    return stats


def model_bytes(model: EngineModel) -> int:
    """The size of the model's files on disk (what the board stores and loads)."""
    return sum(f.stat().st_size for f in model.files)


def host_ms(model: EngineModel, feed: dict[str, np.ndarray], runs: int = 5) -> float:
    with engines.open_runner(model.engine, model.model_dir, model.meta, 1) as runner:
        runner.run(feed)
        t0 = time.perf_counter()
        for _ in range(runs):
            runner.run(feed)
        return (time.perf_counter() - t0) * 1e3 / runs
