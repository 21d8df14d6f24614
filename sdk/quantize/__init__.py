"""int8 quantization, engine-neutral: one flow for every engine from the same calibration images.

    fp32 model (cached conversion)
      -> calibration feeds: the images through exactly the deployment's preprocessing
      -> int8 model: each engine's adapter (``sdk/engines/<name>/int8.py``,
         :class:`~sdk.quantize.engine.Int8Engine`) from the SDK's statistics and threshold
         methods (:mod:`sdk.quantize.stats`), or the engine's own quantizer
      -> accuracy vs fp32 on held-out calibration images, judged by the model's task
         (:mod:`sdk.quantize.task` finds it, ``--task`` overrides it): a detector's
         detections (recall, precision, class-score cosine), a classifier's decision margins
         and top-1, a map's mask IoU, else the cosine (:mod:`sdk.device.tasks`)
      -> per-layer analysis: each quantized layer's output vs fp32, and the error it adds
      -> mixed precision: while the task metric is below the budget, first the layers known
         to hurt a head in int8 (decode layers, concatenated ranges, the last layers before
         the outputs), then the most sensitive layers, back to fp32

``sdk quantize`` and ``sdk deploy --precision int8`` both call :func:`quantize`.

    stats.py     activation statistics and threshold methods (kl, minmax, percentile, aciq, mse)
    engine.py    the adapter protocol each engine implements
    metrics.py   task metrics: margins, mask IoU, CTC characters, top-1
    task.py      which task a model does; default budgets; the layers that hurt it in int8
    calib.py     calibration images -> feeds, through the deployment's preprocessing
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdk import engines
from sdk.errors import QuantizeError, SdkError
from sdk.quantize.metrics import softmax_outputs
from sdk.quantize.stats import METHODS as SDK_METHODS
from sdk.quantize.task import DEFAULT_BUDGETS, TaskSpec
from sdk.records import Accuracy, EngineModel, LayerStat, QuantResult

if TYPE_CHECKING:
    import numpy as np

    from sdk.convert.prepare import PreparedModel
    from sdk.device.preprocess import ImageSpec
    from sdk.quantize.engine import Int8Engine

__all__ = ["AUTO_METHODS", "DEFAULT_BUDGET", "DEFAULT_BUDGETS", "MAX_FP32_LAYERS", "METHODS", "MIN_HELD_OUT",
           "Accuracy", "LayerStat", "QuantResult", "TaskSpec", "accuracy", "analyze_layers", "check_options",
           "quantize", "quantize_engine", "results_json", "run_model", "softmax_outputs", "split_feeds"]

# Engines' own quantizers' methods (MNN's mnn-kl...), from their capability records.
ENGINE_METHODS = tuple(m for b in engines.BACKENDS.values() for m in b.caps.int8_methods)
METHODS = ("auto", *SDK_METHODS, *ENGINE_METHODS)
# Without --method the flow tries these on the held-out calibration images and keeps the
# one whose int8 output is closest to fp32 (one statistics pass serves all). Measured on the
# real PP-OCR models: mse wins on det and rec, percentile on the direction classifier; KL
# clips ncnn's outlier channels far too hard (rec int8 read nothing), and MNN's own
# quantizer (mnn-kl) turned the text detector into noise.
AUTO_METHODS = ("percentile", "mse")
DEFAULT_METHOD = "auto"
DEFAULT_BUDGET = 0.99  # of a model without a task (raw): the cosine; tasks: DEFAULT_BUDGETS
MAX_FP32_LAYERS = 16
MIN_HELD_OUT = 2  # below this the budget rests on nothing: an error
FEW_HELD_OUT = 8  # below this the report warns
ANALYSIS_SAMPLES = 2
RANK_SAMPLES = 4
MAX_EVAL_FEEDS = 40

Log = Callable[[str], None]
Feeds = list[dict[str, "np.ndarray"]]


def adapter_class(engine: str, method: str) -> type[Int8Engine]:
    """The int8 adapter of ``engine`` for ``method`` (an engine's own method only for it)."""
    backend = engines.get(engine)
    if method in ENGINE_METHODS and method not in backend.caps.int8_methods:
        owner = next(b.caps.label for b in engines.BACKENDS.values() if method in b.caps.int8_methods)
        raise QuantizeError(f"--method {method} is {owner}'s own quantizer: it cannot quantize for {engine}",
                            expected=" | ".join(SDK_METHODS), found=method)
    return backend.int8(method)


# ------------------------------------------------------------------------- evaluation


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


def _bytes(model: EngineModel) -> int:
    return sum(f.stat().st_size for f in model.files)


def _host_ms(model: EngineModel, feed: dict[str, np.ndarray], runs: int = 5) -> float:
    with engines.open_runner(model.engine, model.model_dir, model.meta, 1) as runner:
        runner.run(feed)
        t0 = time.perf_counter()
        for _ in range(runs):
            runner.run(feed)
        return (time.perf_counter() - t0) * 1e3 / runs


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


# ------------------------------------------------------------------------- the search


def _fmt(acc: Accuracy) -> str:
    if acc.metric is None:
        return f"cosine {acc.cosine:.5f}"
    extra = ""
    if acc.task == "detect":
        m = acc.metrics
        extra = (f" (recall {m['recall']:.3f}, precision {m['precision']:.3f}, class-score cosine "
                 f"{m['class_cosine']:.5f})")
    return f"{acc.metric_name} {acc.metric:.5f}{extra}"


@dataclass
class _Search:
    """One engine's way from the fully int8 model to the budget; fills ``res`` as it goes.
    Every choice (method, float layers, bias correction) is made on the task metric, ties
    broken by a finer figure (:attr:`Accuracy.key`)."""

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

    def evaluate(self, model: EngineModel) -> Accuracy:
        return accuracy(self.ref, run_model(model, self.held), self.adapter.margins, self.task)

    def met(self, acc: Accuracy) -> bool:
        return acc.value >= self.res.budget

    def candidate(self, skip: Sequence[str], **note: Any) -> tuple[EngineModel, Accuracy]:
        model = self.adapter.build(skip)
        acc = self.evaluate(model)
        self.res.trajectory.append({"fp32_layers": list(skip), "cosine": acc.cosine, "metric": acc.value,
                                    "bytes": _bytes(model), **note})
        return model, acc

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
                self.say(f"{a.engine} int8 ({m}): {_fmt(acc)}")
            if best is None or acc.key > best[0]:
                best = (acc.key, m, model, acc)
        assert best is not None
        _, chosen, self.int8, self.acc = best
        if a.method != chosen:
            a.set_method(chosen)
        res.method, res.kept_float = chosen, a.kept_float()
        res.calib_seconds, res.int8_accuracy = a.calib_seconds, self.acc
        res.trajectory.append({"fp32_layers": [], "cosine": self.acc.cosine, "metric": self.acc.value,
                               "bytes": _bytes(self.int8)})
        self.say(f"{a.engine} int8 ({chosen}): {_fmt(self.acc)} vs fp32 (budget {res.budget})")
        self.best, self.best_acc = self.int8, self.acc

    def try_float(self, names: Sequence[str], why: str) -> bool:
        """Those layers float on top of the current ones; kept if closer by the task metric."""
        assert self.acc is not None
        names = [n for n in names if n not in self.skip]
        if not names:
            return False
        model, acc = self.candidate([*self.skip, *names], reason=why)
        kept = acc.key > self.acc.key
        self.say(f"{self.adapter.engine}: {len(names)} layers float ({why}) -> {_fmt(acc)} "
                 f"({'kept' if kept else 'dropped: no closer'})")
        if kept:
            self.best, self.best_acc, self.acc, self.int8 = model, acc, acc, model
            self.skip = [*self.skip, *names]
            self.best_skip = list(self.skip)
            self.res.kept_float.update(dict.fromkeys(names, why))
        return kept

    def known_float(self) -> None:
        """Layers the engine is known to mishandle in int8: float if that is closer to fp32."""
        known, why = self.adapter.float_candidates()
        if known:
            self.try_float(known, why)

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

    def mixed_precision(self, max_fp32_layers: int) -> None:
        """Return the most sensitive layers to fp32, one at a time (doubling the count each step
        where each candidate is a conversion: :attr:`Int8Engine.costly_builds`), until the
        budget holds."""
        assert self.int8 is not None and self.best_acc is not None
        # margins pool the images, and a 2-class output has one per image: rank on all
        pooled = self.adapter.margins or self.task.task == "classify"
        rank_feeds = self.held if pooled else self.held[:RANK_SAMPLES]
        ranked = [n for n in self.adapter.rank(self.int8, rank_feeds, self.res.layers) if n not in self.skip]
        room = max(0, max_fp32_layers - self.culprits_kept)
        if len(ranked) > room:
            self.stop = (f"--max-fp32 {max_fp32_layers} reached ({self.culprits_kept} culprits + {room} "
                         f"of {len(ranked)} ranked layers)")
        done = 0
        while done < min(room, len(ranked)):
            # one layer a step; where a candidate costs a conversion, twice as many each step
            step = max(1, done) if self.adapter.costly_builds else 1
            names = ranked[done:min(room, done + step)]
            done += len(names)
            self.skip = [*self.skip, *names]
            model, acc = self.candidate(self.skip)
            what = names[0] if len(names) == 1 else f"{len(names)} more layers ({', '.join(names[:3])}, ...)"
            self.say(f"{self.adapter.engine}: {what} back to fp32 -> {_fmt(acc)}")
            if acc.key > self.best_acc.key:  # the budget missed: still the best seen
                self.best, self.best_acc, self.best_skip = model, acc, list(self.skip)
            if self.met(acc):
                break

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
        self.say(f"{self.adapter.engine}: bias correction of {n} int8 layers -> {_fmt(acc)} "
                 f"({'kept' if kept else 'dropped: no closer'})")
        if kept:
            self.best, self.best_acc = model, acc
            self.res.trajectory.append({"fp32_layers": list(self.best_skip), "cosine": acc.cosine,
                                        "metric": acc.value, "bytes": _bytes(model), "bias_correction": True})
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
        res.fp32_bytes, res.int8_bytes = _bytes(self.adapter.fp32), _bytes(best)
        res.host_ms = {"fp32": _host_ms(self.adapter.fp32, self.held[0]),
                       "int8": _host_ms(best, self.held[0])}
        res.ok = True
        res.search = self.summary()
        if not res.met:
            res.error = (f"int8 misses the budget: {acc.metric_name} {acc.value:.5f} < budget {res.budget} "
                         f"on {acc.images} held-out images, the best of {len(res.trajectory)} candidates "
                         f"({len(self.best_skip)} layers in fp32, {len(self.skip)} tried), returned as "
                         f"it is. Try a higher --max-fp32 (now {self.max_fp32}), more calibration "
                         "images like the deployment's, another --method, or a lower --budget")

    def summary(self) -> str:
        """One line: the method, the culprit and sensitivity steps, where and why it stopped."""
        r, acc = self.res, self.best_acc
        assert acc is not None
        trials = ", ".join(f"{m} {v:.4f}" for m, v in r.method_trials.items())
        culprit = sum(1 for n in self.best_skip if n in r.kept_float)
        ranked = len(self.best_skip) - culprit
        parts = [f"{r.method} ({trials})" if len(r.method_trials) > 1 else r.method,
                 f"{culprit} known culprit layers float" if culprit else "no culprit layer float",
                 f"{ranked} most sensitive layers back to fp32" if ranked else "no ranked layer in fp32",
                 f"{len(r.trajectory)} candidates"]
        if r.met:
            why = "stopped: budget met" if len(r.trajectory) > 1 else "stopped: the full int8 model meets it"
        else:
            why = f"stopped: {self.stop or 'no layer left to try'}"
        return f"{'; '.join(parts)}; {why} ({acc.metric_name} {acc.value:.4f}, budget {r.budget})"


def quantize_engine(
    engine: str, prepared: PreparedModel, fp32: EngineModel, feeds: Feeds, workdir: Path, *,
    method: str | None = None, per_channel: bool = True, budget: float | None = None,
    analyze: bool = False, max_fp32_layers: int = MAX_FP32_LAYERS, log: Log | None = None,
    bias_correction: bool = True, task: TaskSpec | str | None = None,
) -> QuantResult:
    """Quantize one engine's fp32 model; mixed precision until ``budget`` holds (or give up).

    ``task``: what the budget judges (a :class:`TaskSpec`, a task name, or None: found in the
    model); ``budget``: of that task's metric (None: :data:`DEFAULT_BUDGETS`).
    """
    from sdk.quantize.task import task_spec

    method = method or DEFAULT_METHOD
    candidates = list(AUTO_METHODS) if method == "auto" else [method]
    t0 = time.perf_counter()
    res = QuantResult(engine=engine, ok=False, method=method, per_channel=per_channel,
                      budget=budget if budget is not None else DEFAULT_BUDGET)
    try:
        spec = task if isinstance(task, TaskSpec) else task_spec(prepared, task)
        res.task = spec.to_dict()
        res.budget = budget if budget is not None else DEFAULT_BUDGETS[spec.task]
        calib, held = split_feeds(feeds)
        res.calib_images, res.eval_images = len(calib), len(held)
        warn = held_out_warning(len(held))
        if warn:
            res.warnings.append(warn)
        adapter = adapter_class(engine, candidates[0])(fp32, calib, workdir, candidates[0], per_channel,
                                                       prepared)
        adapter.task = spec
        res.margin_outputs = list(adapter.margins)
        search = _Search(adapter, held, res, log or (lambda _m: None), spec, max_fp32=max_fp32_layers)
        search.choose_method(candidates)
        search.known_float()
        assert search.acc is not None and search.int8 is not None
        if not search.met(search.acc):
            search.culprits()
        if analyze or not search.met(search.acc):
            res.layers = analyze_layers(adapter, search.int8, held[:ANALYSIS_SAMPLES])
        if not search.met(search.acc):
            search.mixed_precision(max_fp32_layers)
        if bias_correction:
            search.bias_correction()
        search.finish()
    except SdkError as exc:
        res.error = exc.one_line()
    except Exception as exc:  # one engine's failure never stops the other
        res.error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    res.seconds = time.perf_counter() - t0
    return res


# ------------------------------------------------------------------------- the entry point


def check_options(prepared: PreparedModel, method: str | None, budget: float | None) -> None:
    """Refuse, in one line, what the int8 flow cannot do with this model and these options."""
    if method is not None and method not in METHODS:
        import difflib

        close = difflib.get_close_matches(method, METHODS, n=1)
        raise QuantizeError(f"unknown calibration method '{method}'", expected=" | ".join(METHODS),
                            found=method, fix=f"did you mean {close[0]}?" if close else None)
    if budget is not None and not 0.0 < budget <= 1.0:
        raise QuantizeError("--budget is a floor of the task metric (recall/precision, cosine or IoU)",
                            expected="0 < budget <= 1", found=str(budget))
    if len(prepared.inputs) != 1:
        raise QuantizeError("int8 calibration takes single-input models",
                            found=f"{len(prepared.inputs)} inputs")


def quantize(
    prepared: PreparedModel, engine_names: Sequence[str], calib_dir: Path, workdir: Path, *,
    spec: ImageSpec | None = None, method: str | None = None, per_channel: bool = True,
    budget: float | None = None, analyze: bool = False, limit: int | None = None,
    max_fp32_layers: int = MAX_FP32_LAYERS, log: Log | None = None,
    fp32: Mapping[str, EngineModel] | None = None, task: str | None = None,
) -> dict[str, QuantResult]:
    """Quantize ``prepared`` for each engine from the images in ``calib_dir``.

    ``task``: what the budget judges (None or "auto": found in the model's outputs);
    ``budget``: the floor of that task's metric (None: :data:`DEFAULT_BUDGETS`).
    ``fp32``: the engines' fp32 models when the caller has converted them already (the
    deploy flow); otherwise each is converted (cached) into ``workdir/<engine>-fp32``.
    Refuses (one line) before any conversion: bad options, an unknown or unfit task, and
    too few images to hold :data:`MIN_HELD_OUT` out.
    """
    from sdk.convert import convert_engine
    from sdk.quantize.calib import load_calibration
    from sdk.quantize.task import task_spec

    check_options(prepared, method, budget)
    tspec = task_spec(prepared, task)
    inp = prepared.inputs[0]
    feeds = load_calibration(Path(calib_dir), inp.name, tuple(inp.shape), spec, limit=limit)
    split_feeds(feeds)  # too few held-out images: one line, before the slow work
    results = {}
    for engine in dict.fromkeys(engine_names):
        try:
            model = (fp32 or {}).get(engine) or convert_engine(engine, prepared, workdir / f"{engine}-fp32",
                                                                "fp32")
        except SdkError as exc:
            results[engine] = QuantResult(
                engine=engine, ok=False, method=method or DEFAULT_METHOD, per_channel=per_channel,
                budget=budget if budget is not None else DEFAULT_BUDGETS[tspec.task], task=tspec.to_dict(),
                error=exc.one_line())
            continue
        results[engine] = quantize_engine(engine, prepared, model, feeds, workdir, method=method,
                                          per_channel=per_channel, budget=budget, analyze=analyze,
                                          max_fp32_layers=max_fp32_layers, log=log, task=tspec)
    return results


def results_json(results: dict[str, QuantResult]) -> str:
    return json.dumps({e: r.to_dict() for e, r in results.items()}, indent=2, default=str)


# `sdk.quantize(...)` is the Python API call (sdk.api.quantize); this module stays importable as before
from sdk._callable import make_callable  # noqa: E402

make_callable(__name__, "quantize")
