"""int8 quantization, engine-neutral: one flow for every engine from the same calibration images.

    fp32 model (cached conversion)
      -> calibration feeds: the images through exactly the deployment's preprocessing
      -> int8 model: each engine's adapter (``sdk/engines/<name>/int8.py``,
         :class:`~sdk.quantize.engine.Int8Engine`) from the SDK's statistics and threshold
         methods (:mod:`sdk.quantize.stats`), or the engine's own quantizer
      -> accuracy vs fp32 on held-out calibration images (:mod:`sdk.quantize.heldout`; a
         detector's grown until they hold enough objects), judged by the model's task
         (:mod:`sdk.quantize.task` finds it, ``--task`` overrides it): a detector's
         detections (recall, precision, class-score cosine), a classifier's decision margins
         and top-1, a map's mask IoU, else the cosine (:mod:`sdk.device.tasks`)
      -> per-layer analysis: each quantized layer's output vs fp32, and the error it adds
      -> mixed precision: while the task metric is below the budget, first the layers known
         to hurt a head in int8 (decode layers, concatenated ranges, the last layers before
         the outputs), then the most sensitive layers, back to fp32 until the budget holds;
         then each float layer back to int8 where the budget holds without it
         (:mod:`sdk.quantize.search`)

``sdk quantize`` and ``sdk deploy --precision int8`` both call :func:`quantize`.

    stats.py     activation statistics and threshold methods (kl, minmax, percentile, aciq, mse)
    engine.py    the adapter protocol each engine implements
    metrics.py   task metrics: margins, mask IoU, CTC characters, top-1
    task.py      which task a model does; default budgets; the layers that hurt it in int8
    calib.py     calibration images -> feeds, through the deployment's preprocessing
    heldout.py   which feeds are held out to judge int8 by (a detector's: enough objects)
    evaluate.py  running models, accuracy by the task, per-layer error, size and host time
    search.py    the mixed-precision search (method, culprits, greedy, prune, bias correction)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sdk import engines
from sdk.errors import QuantizeError, SdkError
from sdk.quantize.evaluate import accuracy, analyze_layers, run_model
from sdk.quantize.heldout import (
    FEW_HELD_OUT,
    MAX_EVAL_FEEDS,
    MIN_HELD_OUT,
    Feeds,
    detection_split,
    held_out_warning,
    split_feeds,
)
from sdk.quantize.metrics import softmax_outputs
from sdk.quantize.search import MAX_FP32_LAYERS, RANK_SAMPLES, Search
from sdk.quantize.stats import METHODS as SDK_METHODS
from sdk.quantize.task import DEFAULT_BUDGETS, TaskSpec
from sdk.records import Accuracy, EngineModel, LayerStat, QuantResult

if TYPE_CHECKING:
    from sdk.convert.prepare import PreparedModel
    from sdk.device.preprocess import ImageSpec
    from sdk.quantize.engine import Int8Engine

__all__ = ["AUTO_METHODS", "DEFAULT_BUDGET", "DEFAULT_BUDGETS", "FEW_HELD_OUT", "MAX_EVAL_FEEDS",
           "MAX_FP32_LAYERS", "METHODS", "MIN_HELD_OUT", "RANK_SAMPLES", "Accuracy", "LayerStat",
           "QuantResult",
           "TaskSpec", "accuracy", "analyze_layers", "check_options", "held_out_warning", "quantize",
           "quantize_engine", "results_json", "run_model", "softmax_outputs", "split_feeds"]

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
ANALYSIS_SAMPLES = 2

Log = Callable[[str], None]


def adapter_class(engine: str, method: str) -> type[Int8Engine]:
    """The int8 adapter of ``engine`` for ``method`` (an engine's own method only for it)."""
    backend = engines.get(engine)
    if method in ENGINE_METHODS and method not in backend.caps.int8_methods:
        owner = next(b.caps.label for b in engines.BACKENDS.values() if method in b.caps.int8_methods)
        raise QuantizeError(f"--method {method} is {owner}'s own quantizer: it cannot quantize for {engine}",
                            expected=" | ".join(SDK_METHODS), found=method)
    return backend.int8(method)


def quantize_engine(
    engine: str, prepared: PreparedModel, fp32: EngineModel, feeds: Feeds, workdir: Path, *,
    method: str | None = None, per_channel: bool = True, budget: float | None = None,
    analyze: bool = False, max_fp32_layers: int = MAX_FP32_LAYERS, log: Log | None = None,
    bias_correction: bool = True, task: TaskSpec | str | None = None, cache: bool = True,
) -> QuantResult:
    """Quantize one engine's fp32 model; mixed precision until ``budget`` holds (or give up).

    ``task``: what the budget judges (a :class:`TaskSpec`, a task name, or None: found in the
    model); ``budget``: of that task's metric (None: :data:`DEFAULT_BUDGETS`).

    A result with a model is kept in ``workdir`` by what it depends on
    (:func:`_result_key`), so the same model, images and options quantize once: a YOLOv8s
    takes the MNN search over half an hour, and ``sdk deploy``/``sdk app run`` would
    otherwise run it on every call. ``cache=False`` quantizes anyway (a benchmark measures).
    """
    from sdk.quantize.task import task_spec

    spec = task if isinstance(task, TaskSpec) else None
    try:
        spec = spec or task_spec(prepared, task if isinstance(task, str) else None)
        key = _result_key(engine, prepared, fp32, feeds, spec, method=method, per_channel=per_channel,
                          budget=budget, analyze=analyze, max_fp32_layers=max_fp32_layers,
                          bias_correction=bias_correction)
    except SdkError:
        key = None  # the flow below says what is wrong
    stamp = Path(workdir) / f".int8-{engine}.json"
    cached = _cached_result(stamp, key) if cache else None
    if cached is not None:
        (log or (lambda _m: None))(f"{engine}: int8 model from the cache ({stamp}): same model, "
                                   "calibration images and options")
        return cached
    res = _quantize_engine(engine, prepared, fp32, feeds, workdir, method=method, per_channel=per_channel,
                           budget=budget, analyze=analyze, max_fp32_layers=max_fp32_layers, log=log,
                           bias_correction=bias_correction, task=spec or task)
    if key is not None and res.ok and res.model is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        tmp = stamp.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": key, "result": res.to_dict()}, default=str))
        tmp.replace(stamp)  # whole or not at all
    return res


def _result_key(engine: str, prepared: PreparedModel, fp32: EngineModel, feeds: Feeds, spec: TaskSpec,
                **options: object) -> str:
    """What an int8 result depends on: the model and its fp32 conversion, the calibration
    feeds, the options and task, the engine's version and the SDK's quantization code."""
    import hashlib

    from sdk.provision import package_version

    h = hashlib.sha256()
    pkg = Path(__file__).resolve().parent.parent
    code = sorted([*(pkg / "quantize").glob("*.py"), *(pkg / "engines").rglob("*.py"),
                   *(pkg / "device").glob("*.py"), *pkg.glob("_kernels*")])
    version = package_version(engines.get(engine).caps.runtime_package)
    for part in (engine, prepared.sha256, version, json.dumps(spec.to_dict(), sort_keys=True, default=str),
                 json.dumps(options, sort_keys=True)):
        h.update(str(part).encode() + b"\0")
    for f in [*fp32.files, *code]:
        h.update(f.name.encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    for feed in feeds:
        for name in sorted(feed):
            a = np.ascontiguousarray(feed[name])
            h.update(f"{name}{a.dtype}{a.shape}".encode() + a.tobytes())
    return h.hexdigest()


def _cached_result(stamp: Path, key: str | None) -> QuantResult | None:
    from sdk.records.jsonform import from_dict

    if key is None or not stamp.is_file():
        return None
    try:
        data = json.loads(stamp.read_text())
        res = from_dict(QuantResult, data["result"])
    except (ValueError, KeyError, TypeError):
        return None  # damaged or from another version of the record: quantize again
    if data.get("key") != key or res.model is None or not all(Path(f).is_file() for f in res.model.files):
        return None
    return res


def _quantize_engine(
    engine: str, prepared: PreparedModel, fp32: EngineModel, feeds: Feeds, workdir: Path, *,
    method: str | None, per_channel: bool, budget: float | None, analyze: bool, max_fp32_layers: int,
    log: Log | None, bias_correction: bool, task: TaskSpec | str | None,
) -> QuantResult:
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
        say = log or (lambda _m: None)
        if spec.task == "detect":  # enough objects in the held-out set to judge detections by
            calib, held, note = detection_split(feeds, spec, lambda f: run_model(fp32, f))
            say(f"{engine}: {note}")
        else:
            calib, held = split_feeds(feeds)
        res.calib_images, res.eval_images = len(calib), len(held)
        warn = held_out_warning(len(held))
        if warn:
            res.warnings.append(warn)
        adapter = adapter_class(engine, candidates[0])(fp32, calib, workdir, candidates[0], per_channel,
                                                       prepared)
        adapter.task = spec
        res.margin_outputs = list(adapter.margins)
        search = Search(adapter, held, res, say, spec, max_fp32=max_fp32_layers)
        search.choose_method(candidates)
        search.known_float()
        assert search.acc is not None and search.int8 is not None
        if not search.met(search.acc):
            search.culprits()
        if analyze or not search.met(search.acc):
            res.layers = analyze_layers(adapter, search.int8, held[:ANALYSIS_SAMPLES])
        if not search.met(search.acc):
            search.mixed_precision(max_fp32_layers)
        search.prune()
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
