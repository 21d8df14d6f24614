"""The mixed-precision search: one engine's way from the fully int8 model to the budget.

    method      each threshold method's fully int8 model; the closest to fp32 is kept
    known       layers the engine mishandles in int8: float if that is closer
    culprits    layers known to hurt a head in int8 (:func:`sdk.quantize.task.culprits`),
                one reason at a time, float where that is closer
    greedy      the layers ranked by sensitivity (each alone in int8, judged by the task's
                figure), most sensitive first, back to fp32 one at a time (a conversion per
                candidate: twice as many each step); it stops at the first set that meets
                the budget
    prune       each float layer, largest first, back to int8 if the budget still holds
                without it: the greedy order and the culprit rules over-shoot (a layer that
                helped with the earlier ones may not be needed with the later ones), and
                every float layer costs 4x its int8 bytes
    bias        bias correction of the chosen model, kept only if closer

Every choice is made on the task metric over the held-out feeds
(:mod:`sdk.quantize.heldout`), ties broken by a finer figure (:attr:`Accuracy.key`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sdk.quantize.evaluate import accuracy, host_ms, model_bytes, run_model
from sdk.quantize.task import TaskSpec
from sdk.records import Accuracy, EngineModel, QuantResult

if TYPE_CHECKING:
    import numpy as np

    from sdk.quantize.engine import Int8Engine

__all__ = ["MAX_FP32_LAYERS", "PRUNE_COSTLY", "RANK_SAMPLES", "Search", "fmt_accuracy"]

MAX_FP32_LAYERS = 16
RANK_SAMPLES = 4  # feeds the sensitivity ranking runs (all when margins pool the images)
PRUNE_COSTLY = 4  # prune tries where each candidate is a conversion (MNN)

Log = Callable[[str], None]
Feeds = list[dict[str, "np.ndarray"]]


def fmt_accuracy(acc: Accuracy) -> str:
    if acc.metric is None:
        return f"cosine {acc.cosine:.5f}"
    extra = ""
    if acc.task == "detect":
        m = acc.metrics
        extra = (f" (recall {m['recall']:.3f}, precision {m['precision']:.3f}, class-score cosine "
                 f"{m['class_cosine']:.5f})")
    return f"{acc.metric_name} {acc.metric:.5f}{extra}"


@dataclass
class Search:
    """The steps of the module's docstring; fills ``res`` as it goes."""

    adapter: Int8Engine
    held: Feeds
    res: QuantResult
    say: Log
    task: TaskSpec = field(default_factory=TaskSpec)
    ref: list[dict[str, np.ndarray]] = field(default_factory=list)
    int8: EngineModel | None = None  # the model mixed precision starts from
    acc: Accuracy | None = None
    best: EngineModel | None = None
    best_acc: Accuracy | None = None
    best_skip: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    culprits_kept: int = 0  # culprit layers kept float: they count against --max-fp32
    max_fp32: int = MAX_FP32_LAYERS
    stop: str = ""  # why mixed precision stopped short of the budget
    pruned: list[str] = field(default_factory=list)  # float layers the prune pass put back to int8
    defects: set[str] = field(default_factory=set)  # float for an engine defect: never pruned
    greedy_met_at: int | None = None  # how many ranked layers the greedy step needed

    def evaluate(self, model: EngineModel) -> Accuracy:
        return accuracy(self.ref, run_model(model, self.held), self.adapter.margins, self.task)

    def met(self, acc: Accuracy) -> bool:
        return acc.value >= self.res.budget

    def candidate(self, skip: Sequence[str], **note: Any) -> tuple[EngineModel, Accuracy]:
        model = self.adapter.build(skip)
        acc = self.evaluate(model)
        self.res.trajectory.append({"fp32_layers": list(skip), "cosine": acc.cosine, "metric": acc.value,
                                    "bytes": model_bytes(model), **note})
        return model, acc

    def _keep(self, model: EngineModel, acc: Accuracy, skip: Sequence[str]) -> None:
        self.best, self.best_acc, self.best_skip = model, acc, list(skip)

    def choose_method(self, candidates: Sequence[str]) -> None:
        """Build the fully int8 model with each threshold method; keep the closest to fp32."""
        from sdk.quantize.task import detection_evidence

        a, res = self.adapter, self.res
        self.ref = run_model(a.fp32, self.held)
        self.task, warn = detection_evidence(self.task, self.ref)
        if warn:
            a.task = self.task
            res.task = self.task.to_dict()
            res.warnings.append(warn)
            self.say(f"{a.engine}: WARNING: {warn}")
        best: tuple[tuple[float, float], str, EngineModel, Accuracy] | None = None
        for m in candidates:
            if m != a.method:
                a.set_method(m)
            model = a.build([])
            acc = self.evaluate(model)
            res.method_trials[m] = acc.value
            if len(candidates) > 1:
                self.say(f"{a.engine} int8 ({m}): {fmt_accuracy(acc)}")
            if best is None or acc.key > best[0]:
                best = (acc.key, m, model, acc)
        assert best is not None
        _, chosen, self.int8, self.acc = best
        if a.method != chosen:
            a.set_method(chosen)
        res.method, res.kept_float = chosen, a.kept_float()
        res.calib_seconds, res.int8_accuracy = a.calib_seconds, self.acc
        res.trajectory.append({"fp32_layers": [], "cosine": self.acc.cosine, "metric": self.acc.value,
                               "bytes": model_bytes(self.int8)})
        self.say(f"{a.engine} int8 ({chosen}): {fmt_accuracy(self.acc)} vs fp32 (budget {res.budget})")
        self.best, self.best_acc = self.int8, self.acc

    def try_float(self, names: Sequence[str], why: str) -> bool:
        """Those layers float on top of the current ones; kept if closer by the task metric."""
        assert self.acc is not None
        names = [n for n in names if n not in self.skip]
        if not names:
            return False
        model, acc = self.candidate([*self.skip, *names], reason=why)
        kept = acc.key > self.acc.key
        self.say(f"{self.adapter.engine}: {len(names)} layers float ({why}) -> {fmt_accuracy(acc)} "
                 f"({'kept' if kept else 'dropped: no closer'})")
        if kept:
            self.acc, self.int8 = acc, model
            self.skip = [*self.skip, *names]
            self._keep(model, acc, self.skip)
            self.res.kept_float.update(dict.fromkeys(names, why))
        return kept

    def known_float(self) -> None:
        """Layers the engine is known to mishandle in int8: float if that is closer to fp32."""
        known, why = self.adapter.float_candidates()
        if known and self.try_float(known, why):
            self.defects = set(known)

    def culprits(self) -> None:
        """Layers known to hurt a head in int8 (:func:`sdk.quantize.task.culprits`), one
        reason at a time (decode layers, concatenated ranges, the last layers before the
        outputs): float where that brings the task metric closer."""
        assert self.acc is not None
        from sdk.quantize.task import culprits

        found = culprits(*self.adapter.graph())
        live = {n for n, _, _ in self.adapter.layers()}
        by_reason: dict[str, list[str]] = {}
        for name, why in found.items():
            if name in live and name not in self.skip:
                by_reason.setdefault(why, []).append(name)
        for why, names in by_reason.items():
            if self.met(self.acc):
                return
            if self.try_float(names, why):
                self.culprits_kept += len(names)

    def rank_feeds(self) -> Feeds:
        """The feeds the sensitivity ranking runs: all where margins pool the images (a
        2-class output has one margin per image), else a few, for a detector those where
        fp32 finds the most objects (an image without any ranks nothing by its scores)."""
        if self.adapter.margins or self.task.task == "classify":
            return self.held
        if self.task.task == "detect" and self.task.output is not None:
            import numpy as np

            from sdk.device.tasks import SCORE_THRESHOLD, decode

            thr = SCORE_THRESHOLD if self.task.threshold is None else self.task.threshold
            n = [len(decode(np.asarray(r[self.task.output]), self.task.layout or "yolov8", thr))
                 for r in self.ref]
            order = sorted(range(len(n)), key=lambda i: -n[i])
            return [self.held[i] for i in order[:RANK_SAMPLES]]
        return self.held[:RANK_SAMPLES]

    def mixed_precision(self, max_fp32_layers: int) -> None:
        """Return the most sensitive layers to fp32, one at a time (doubling the count each step
        where each candidate is a conversion: :attr:`Int8Engine.costly_builds`), until the
        budget holds."""
        assert self.int8 is not None and self.best_acc is not None
        ranked = [n for n in self.adapter.rank(self.int8, self.rank_feeds(), self.res.layers)
                  if n not in self.skip]
        room = max(0, max_fp32_layers - self.culprits_kept)
        done = 0
        while done < min(room, len(ranked)):
            # one layer a step; where a candidate costs a conversion, twice as many each step
            step = max(1, done) if self.adapter.costly_builds else 1
            names = ranked[done:min(room, done + step)]
            done += len(names)
            self.skip = [*self.skip, *names]
            model, acc = self.candidate(self.skip, step="greedy")
            what = names[0] if len(names) == 1 else f"{len(names)} more layers ({', '.join(names[:3])}, ...)"
            self.say(f"{self.adapter.engine}: {what} back to fp32 -> {fmt_accuracy(acc)}")
            if self.met(acc) or acc.key > self.best_acc.key:  # met, or missed but the best seen
                self._keep(model, acc, self.skip)
            if self.met(acc):
                self.greedy_met_at = done
                break
        else:
            if len(ranked) > room:
                self.stop = (f"--max-fp32 {max_fp32_layers} reached ({self.culprits_kept} culprits + {room} "
                             f"of {len(ranked)} ranked layers)")

    def prune(self) -> None:
        """Each float layer of a model that meets the budget, largest first, back to int8
        where the budget still holds without it (at most :data:`PRUNE_COSTLY` tries where a
        candidate is a conversion)."""
        assert self.best_acc is not None
        if not self.met(self.best_acc) or not self.best_skip:
            return
        sizes = self.adapter.layer_weights()
        order = sorted(self.best_skip, key=lambda n: (-sizes.get(n, 0), -self.best_skip.index(n)))
        order = [n for n in order if n not in self.adapter.kept_float() and n not in self.defects]
        if self.adapter.costly_builds:
            order = order[:PRUNE_COSTLY]
        for name in order:
            skip = [n for n in self.best_skip if n != name]
            model, acc = self.candidate(skip, step="prune", int8=name)
            back = self.met(acc)
            self.say(f"{self.adapter.engine}: {name} back to int8 -> {fmt_accuracy(acc)} "
                     f"({'kept int8: the budget holds' if back else 'float again: the budget needs it'})")
            if back:
                self._keep(model, acc, skip)
                self.pruned.append(name)
                self.res.kept_float.pop(name, None)
        if order and self.res.trajectory[-1]["fp32_layers"] != self.best_skip:
            # the last try went back to float: its files are the ones on disk, so the kept
            # configuration is built again, and its entry ends the trajectory as the result
            self.best, self.best_acc = self.candidate(self.best_skip, step="final")
        self.skip = list(self.best_skip)

    def bias_correction(self) -> None:
        """A last polish of the chosen configuration, kept only if closer to fp32."""
        assert self.best_acc is not None
        t0 = time.perf_counter()
        n = self.adapter.correct(skip=self.best_skip)
        if not n:
            return
        model = self.adapter.build(self.best_skip)
        acc = self.evaluate(model)
        kept = acc.key > self.best_acc.key
        self.res.bias_correction = {"layers": n, "cosine_before": self.best_acc.cosine,
                                    "cosine_after": acc.cosine, "metric_before": self.best_acc.value,
                                    "metric_after": acc.value, "kept": kept,
                                    "seconds": round(time.perf_counter() - t0, 3)}
        self.say(f"{self.adapter.engine}: bias correction of {n} int8 layers -> {fmt_accuracy(acc)} "
                 f"({'kept' if kept else 'dropped: no closer'})")
        if kept:
            self.best, self.best_acc = model, acc
            self.res.trajectory.append({"fp32_layers": list(self.best_skip), "cosine": acc.cosine,
                                        "metric": acc.value, "bytes": model_bytes(model),
                                        "bias_correction": True})
        else:
            self.adapter.correct(on=False)
            self.best = self.adapter.build(self.best_skip)

    def finish(self) -> None:
        res, best, acc = self.res, self.best, self.best_acc
        assert best is not None and acc is not None
        res.model, res.accuracy, res.fp32_layers = best, acc, self.best_skip
        res.kept_float = {n: w for n, w in res.kept_float.items() if n in self.best_skip or
                          n in self.adapter.kept_float()}
        res.met = self.met(acc)
        res.fp32_bytes, res.int8_bytes = model_bytes(self.adapter.fp32), model_bytes(best)
        res.host_ms = {"fp32": host_ms(self.adapter.fp32, self.held[0]),
                       "int8": host_ms(best, self.held[0])}
        res.ok = True
        res.search = self.summary()
        if not res.met:
            res.error = (f"int8 misses the budget: {acc.metric_name} {acc.value:.5f} < budget {res.budget} "
                         f"on {acc.images} held-out images, the best of {len(res.trajectory)} candidates "
                         f"({len(self.best_skip)} layers in fp32, {len(self.skip)} tried), returned as "
                         f"it is. Try a higher --max-fp32 (now {self.max_fp32}), more calibration "
                         "images like the deployment's, another --method, or a lower --budget")

    def summary(self) -> str:
        """One line: the method, the culprit, greedy and prune steps, where and why it stopped."""
        r, acc = self.res, self.best_acc
        assert acc is not None
        trials = ", ".join(f"{m} {v:.4f}" for m, v in r.method_trials.items())
        culprit = sum(1 for n in self.best_skip if n in r.kept_float)
        ranked = len(self.best_skip) - culprit
        parts = [f"{r.method} ({trials})" if len(r.method_trials) > 1 else r.method,
                 f"{culprit} known culprit layers float" if culprit else "no culprit layer float",
                 f"{ranked} most sensitive layers back to fp32" if ranked else "no ranked layer in fp32"]
        if self.greedy_met_at is not None:
            parts.append(f"the greedy step met the budget at {self.greedy_met_at} ranked layers")
        if self.pruned:
            parts.append(f"{len(self.pruned)} float layers pruned back to int8")
        parts.append(f"{len(r.trajectory)} candidates")
        if r.met:
            why = "stopped: budget met" if len(r.trajectory) > 1 else "stopped: the full int8 model meets it"
        else:
            why = f"stopped: {self.stop or 'no layer left to try'}"
        return f"{'; '.join(parts)}; {why} ({acc.metric_name} {acc.value:.4f}, budget {r.budget})"
