"""int8 quantization for ncnn and MNN from the same calibration images.

One flow for both engines::

    fp32 model (cached conversion)
      -> calibration feeds: the images through exactly the deployment's preprocessing
      -> int8 model (ncnn: our own calibration + rewrite; MNN: its compiled quantizer)
      -> accuracy vs fp32 on held-out calibration images (cosine, max-abs, top-1; a softmax
         output's cosine is of its decision margins, what flips its argmax)
      -> per-layer analysis: each quantized layer's output vs fp32, and the error it adds
      -> mixed precision: while the output cosine is below the budget, return the most
         sensitive layer to fp32 (ncnn: leave it float; MNN: skip-quant), one at a time
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdk.errors import QuantizeError, SdkError

if TYPE_CHECKING:
    import numpy as np

    from sdk.convert import EngineModel, PreparedModel
    from sdk.device.preprocess import ImageSpec

# The SDK's own calibration methods (both engines), then MNN's own quantizer's (MNN only).
SDK_METHODS = ("kl", "minmax", "percentile", "aciq", "mse")
MNN_QUANTIZER_METHODS = ("mnn-kl", "mnn-admm", "mnn-ema")
METHODS = ("auto", *SDK_METHODS, *MNN_QUANTIZER_METHODS)
# Without --method the flow tries these on the held-out calibration images and keeps the
# one whose int8 output is closest to fp32 (one statistics pass serves all). Measured on the
# real PP-OCR models: mse wins on det and rec, percentile on the direction classifier; KL
# clips ncnn's outlier channels far too hard (rec int8 read nothing), and MNN's own
# quantizer (mnn-kl) turned the text detector into noise.
AUTO_METHODS = ("percentile", "mse")
DEFAULT_METHOD = {"ncnn": "auto", "mnn": "auto"}
DEFAULT_BUDGET = 0.99
MAX_FP32_LAYERS = 16
ANALYSIS_SAMPLES = 2
RANK_SAMPLES = 4
MAX_EVAL_FEEDS = 40

Log = Callable[[str], None]


@dataclass
class LayerStat:
    """One quantized layer: how far its output is from fp32, and how much error it adds."""

    name: str
    cosine: float
    max_abs: float
    added_error: float  # (1 - cosine of its output) - (1 - cosine of its input)


@dataclass
class Accuracy:
    cosine: float  # worst output's mean cosine over the evaluation images
    max_abs: float
    top1: float | None
    per_output: dict[str, float] = field(default_factory=dict)


@dataclass
class QuantResult:
    engine: str
    ok: bool
    method: str
    per_channel: bool
    budget: float
    model: EngineModel | None = None
    accuracy: Accuracy | None = None  # of the returned model (after mixed precision)
    int8_accuracy: Accuracy | None = None  # of the fully int8 model
    met: bool = False
    fp32_layers: list[str] = field(default_factory=list)
    method_trials: dict[str, float] = field(default_factory=dict)  # method -> int8 output cosine
    kept_float: dict[str, str] = field(default_factory=dict)  # layer -> why it is never int8
    margin_outputs: list[str] = field(default_factory=list)  # softmax outputs: budget on their margins
    bias_correction: dict[str, Any] = field(default_factory=dict)
    trajectory: list[dict[str, Any]] = field(default_factory=list)
    layers: list[LayerStat] = field(default_factory=list)
    fp32_bytes: int = 0
    int8_bytes: int = 0
    host_ms: dict[str, float] = field(default_factory=dict)
    calib_images: int = 0
    eval_images: int = 0
    calib_seconds: float = 0.0
    seconds: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model"] = self.model.to_dict() if self.model else None
        return d


# ------------------------------------------------------------------------- engine adapters


class _Engine:
    """What the flow needs of an engine: build int8 with a skip list, list layers, dump blobs."""

    engine = ""

    def __init__(self, fp32: EngineModel, calib: list[dict[str, np.ndarray]], workdir: Path,
                 method: str, per_channel: bool, prepared: PreparedModel) -> None:
        self.fp32 = fp32
        self.calib = calib
        self.workdir = workdir
        self.method = method
        self.per_channel = per_channel
        self.prepared = prepared
        self.calib_seconds = 0.0
        self.margins = softmax_outputs(prepared.path)  # compared on their decision margins

    def build(self, skip: Sequence[str]) -> EngineModel:
        raise NotImplementedError

    def set_method(self, method: str) -> None:
        """Use another threshold method from the same statistics."""
        raise QuantizeError(f"{self.engine}: cannot change the method of this calibration")

    def correct(self, on: bool = True, skip: Sequence[str] = ()) -> int:
        """Turn bias correction on (computed for the model with ``skip`` in fp32) or off;
        how many layers it corrects."""
        return 0

    def layers(self) -> list[tuple[str, str, str]]:
        """Quantizable layers in execution order: (name, input tensor, output tensor)."""
        raise NotImplementedError

    def kept_float(self) -> dict[str, str]:
        """Layers this engine keeps float whatever the budget, and why."""
        return {}

    def float_candidates(self) -> tuple[list[str], str]:
        """Layers this engine is known to handle badly in int8, and why: the flow keeps them
        float when that brings the model closer to fp32."""
        return [], ""

    def dump(self, model: EngineModel, feed: dict[str, np.ndarray], names: Sequence[str]) -> dict[str, Any]:
        raise NotImplementedError

    def rank(self, int8: EngineModel, feeds: Sequence[dict[str, np.ndarray]],
             stats: list[LayerStat]) -> list[str]:
        """Layers, most sensitive first: by the error each adds in the full int8 model."""
        return [s.name for s in stats]

    def _dir(self, skip: Sequence[str]) -> Path:
        tag = hashlib.sha256("\n".join(sorted(skip)).encode()).hexdigest()[:10] if skip else "all"
        return self.workdir / f"{self.engine}-int8-{self.method}-{'pc' if self.per_channel else 'pt'}-{tag}"


class _Ncnn(_Engine):
    engine = "ncnn"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        from sdk.quantize.ncnn import calibrate_ncnn

        param, bin_ = self._files(self.fp32)
        t0 = time.perf_counter()
        self.table = calibrate_ncnn(param, bin_, self.calib, self.fp32.meta, method=self.method,
                                    per_channel=self.per_channel)
        self.calib_seconds = time.perf_counter() - t0

    def set_method(self, method: str) -> None:
        from sdk.quantize.ncnn import rethreshold

        self.table, self.method = rethreshold(self.table, method), method

    def correct(self, on: bool = True, skip: Sequence[str] = ()) -> int:
        from sdk.quantize.ncnn import correct_bias

        if not on:
            self.table.bias_shift = {}
            return 0
        param, bin_ = self._files(self.fp32)
        return len(correct_bias(param, bin_, self.table, self.calib, self.fp32.meta,
                                self.workdir / "ncnn-bias-correction", skip=skip))

    @staticmethod
    def _files(m: EngineModel) -> tuple[Path, Path]:
        param = next(f for f in m.files if f.suffix == ".param")
        return param, next(f for f in m.files if f.suffix == ".bin")

    def build(self, skip: Sequence[str]) -> EngineModel:
        from sdk.convert import EngineModel
        from sdk.quantize.ncnn import write_int8_model

        d = self._dir(skip)
        d.mkdir(parents=True, exist_ok=True)
        param, bin_ = self._files(self.fp32)
        out_p, out_b = d / param.name, d / bin_.name
        write_int8_model(param, bin_, self.table, out_p, out_b, skip=set(skip))
        return EngineModel("ncnn", "int8", [out_p, out_b], {**self.fp32.meta, "precision": "int8"})

    def layers(self) -> list[tuple[str, str, str]]:
        from sdk.quantize.ncnn_format import NcnnParam

        param, _ = self._files(self.fp32)
        parsed = NcnnParam.load(param)
        calibrated = set(self.table.layers)
        return [(layer.name, layer.bottoms[0], layer.tops[0]) for layer in parsed.layers
                if layer.name in calibrated and layer.bottoms and layer.tops]

    def rank(self, int8: EngineModel, feeds: Sequence[dict[str, np.ndarray]],
             stats: list[LayerStat]) -> list[str]:
        """Each layer alone in int8 (cheap here: no recalibration), worst output first; a full
        int8 model's blobs blame layers that only amplify earlier errors."""
        from sdk.quantize.ncnn import layer_sensitivity

        param, bin_ = self._files(self.fp32)
        sens = layer_sensitivity(param, bin_, self.table, list(feeds), self.fp32.meta,
                                 self.workdir / "ncnn-sensitivity", margins=self.margins)
        return sorted(sens, key=lambda k: sens[k])

    def dump(self, model: EngineModel, feed: dict[str, np.ndarray], names: Sequence[str]) -> dict[str, Any]:
        from sdk.quantize.ncnn import extract_blobs

        param, bin_ = self._files(model)
        return extract_blobs(param, bin_, feed, model.meta, list(names))


class _Mnn(_Engine):
    """MNN's own offline quantizer (``--method mnn-kl|mnn-admm|mnn-ema``): it calibrates
    again for every skip list."""

    engine = "mnn"

    def build(self, skip: Sequence[str]) -> EngineModel:
        from sdk.convert import EngineModel
        from sdk.quantize.mnn import quantize_mnn

        inp = self.prepared.inputs[0]
        t0 = time.perf_counter()
        path = quantize_mnn(self.fp32.files[0], self.calib, self._dir(skip),
                            method=self.method.removeprefix("mnn-"),
                            per_channel=self.per_channel, skip=list(skip), input_name=inp.name,
                            input_shape=tuple(inp.shape))
        if not skip:
            self.calib_seconds = time.perf_counter() - t0
        return EngineModel("mnn", "int8", [path], {**self.fp32.meta, "precision": "int8",
                                                   "files": {"model": path.name}})

    def layers(self) -> list[tuple[str, str, str]]:
        from sdk.quantize.mnn import mnn_ops

        return [(op.name, op.inputs[0], op.outputs[0]) for op in mnn_ops(self.fp32.files[0])
                if op.quantizable and op.inputs and op.outputs]

    def dump(self, model: EngineModel, feed: dict[str, np.ndarray], names: Sequence[str]) -> dict[str, Any]:
        from sdk.quantize.mnn import dump_mnn_tensors

        return dump_mnn_tensors(model.files[0], feed, list(names))


class _MnnSdk(_Mnn):
    """MNN int8 from the SDK's calibration (:mod:`sdk.quantize.mnn_params`): one statistics
    pass, then each skip list is one converter run."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        from sdk.quantize.mnn_params import calibrate_mnn

        t0 = time.perf_counter()
        self.table = calibrate_mnn(self.fp32.files[0], self.calib, self._inputs(), method=self.method,
                                   per_channel=self.per_channel, onnx_path=self.prepared.path,
                                   workdir=self.workdir / "mnn-calibration")
        self.calib_seconds = time.perf_counter() - t0

    def set_method(self, method: str) -> None:
        self.table, self.method = self.table.with_method(method), method

    def _inputs(self) -> list[str]:
        return [t.name for t in self.prepared.inputs]

    def build(self, skip: Sequence[str]) -> EngineModel:
        from sdk.convert import EngineModel
        from sdk.quantize.mnn_params import write_mnn_int8

        path, done = write_mnn_int8(self.prepared.path, self.table, self._dir(skip), skip=skip)
        return EngineModel("mnn", "int8", [path], {
            **self.fp32.meta, "precision": "int8", "files": {"model": path.name},
            "int8": {"method": self.method, "per_channel": self.per_channel, "layers": len(done),
                     "kept_float": dict(self.table.kept_float),
                     "skip": sorted(skip), "calibration": "sdk"}})

    def layers(self) -> list[tuple[str, str, str]]:
        return [(c.name, c.input, c.output) for c in self.table.convs]

    def kept_float(self) -> dict[str, str]:
        return dict(self.table.kept_float)

    def float_candidates(self) -> tuple[list[str], str]:
        from sdk.quantize.mnn_params import POOLED_INPUT

        live = {c.name for c in self.table.convs}
        return [n for n in self.table.pooled if n in live], POOLED_INPUT

    def rank(self, int8: EngineModel, feeds: Sequence[dict[str, np.ndarray]],
             stats: list[LayerStat]) -> list[str]:
        """Each conv alone in int8, worst output first (one converter run per conv)."""
        from sdk.quantize.mnn_params import mnn_sensitivity

        sens = mnn_sensitivity(self.prepared.path, self.fp32.files[0], self.table, list(feeds),
                               self._inputs(), [t.name for t in self.prepared.outputs],
                               self.workdir / "mnn-sensitivity", margins=self.margins)
        return list(sens)


ADAPTERS: dict[str, type[_Engine]] = {"ncnn": _Ncnn, "mnn": _MnnSdk}


def _adapter(engine: str, method: str) -> type[_Engine]:
    if method in MNN_QUANTIZER_METHODS:
        if engine != "mnn":
            raise QuantizeError(f"--method {method} is MNN's own quantizer: it cannot quantize for {engine}",
                                expected=" | ".join(SDK_METHODS), found=method)
        return _Mnn
    return ADAPTERS[engine]


# ------------------------------------------------------------------------- evaluation


def run_model(model: EngineModel, feeds: Sequence[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    from sdk.device.engines import load_engine

    runner = load_engine(model.engine, model.model_dir, model.meta, 1)
    try:
        return [runner.run(f) for f in feeds]
    finally:
        runner.close()


def softmax_outputs(onnx_path: Path) -> list[str]:
    """The graph outputs that are a Softmax over their last axis (through Identity nodes):
    class scores, whose budget is measured on the decision margins (see :func:`accuracy`)."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    producer = {t: n for n in model.graph.node for t in n.output}
    found = []
    for out in model.graph.output:
        rank = len(out.type.tensor_type.shape.dim)
        node = producer.get(out.name)
        while node is not None and node.op_type == "Identity":
            node = producer.get(node.input[0])
        if node is None or node.op_type != "Softmax" or rank < 1:
            continue
        axes = [onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"]
        axis = axes[0] if axes else (-1 if model.opset_import[0].version >= 13 else 1)
        if axis in (-1, rank - 1):
            found.append(out.name)
    return found


def accuracy(ref: Sequence[dict[str, np.ndarray]], out: Sequence[dict[str, np.ndarray]],
             margins: Collection[str] = ()) -> Accuracy:
    """Per output: mean cosine over the images; the model's figure is its worst output.

    For the outputs in ``margins`` (softmax class scores) the cosine is of the decision
    margins of all images pooled (:func:`sdk.quantize.metrics.margin_cosine`): the cosine of
    saturated probabilities stays near 1 while the logits drift far enough to flip near-ties.
    """
    from sdk.device import metrics
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
    return Accuracy(cosine=min(per_output.values()), max_abs=max_abs,
                    top1=sum(top1) / len(top1) if top1 else None, per_output=per_output)


def _cos(a: Any, b: Any) -> float:
    from sdk.device import metrics

    return metrics.cosine(a, b)


def analyze_layers(
    adapter: _Engine, int8: EngineModel, feeds: Sequence[dict[str, np.ndarray]]
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
                acc.setdefault(n, []).append((_cos(ref[n], got[n]), metrics.max_abs(ref[n], got[n])))
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
    from sdk.device.engines import load_engine

    runner = load_engine(model.engine, model.model_dir, model.meta, 1)
    try:
        runner.run(feed)
        t0 = time.perf_counter()
        for _ in range(runs):
            runner.run(feed)
        return (time.perf_counter() - t0) * 1e3 / runs
    finally:
        runner.close()


# ------------------------------------------------------------------------- the flow


def split_feeds(feeds: list[dict[str, np.ndarray]]) -> tuple[list[dict[str, np.ndarray]],
                                                             list[dict[str, np.ndarray]]]:
    """Calibration and held-out evaluation feeds: every fifth image is held out (at most
    :data:`MAX_EVAL_FEEDS`: the method choice and mixed precision are only as good as this set)."""
    if len(feeds) < 5:
        return feeds, feeds
    held = feeds[4::5][:MAX_EVAL_FEEDS]
    ids = {id(f) for f in held}
    return [f for f in feeds if id(f) not in ids], held


def quantize_engine(
    engine: str, prepared: PreparedModel, fp32: EngineModel, feeds: list[dict[str, np.ndarray]],
    workdir: Path, *, method: str | None = None, per_channel: bool = True, budget: float = DEFAULT_BUDGET,
    analyze: bool = False, max_fp32_layers: int = MAX_FP32_LAYERS, log: Log | None = None,
    bias_correction: bool = True,
) -> QuantResult:
    """Quantize one engine's fp32 model; mixed precision until ``budget`` holds (or give up)."""
    say = log or (lambda _m: None)
    method = method or DEFAULT_METHOD[engine]
    candidates = list(AUTO_METHODS) if method == "auto" else [method]
    t0 = time.perf_counter()
    res = QuantResult(engine=engine, ok=False, method=method, per_channel=per_channel, budget=budget)
    calib, held = split_feeds(feeds)
    res.calib_images, res.eval_images = len(calib), len(held)
    try:
        adapter = _adapter(engine, candidates[0])(fp32, calib, workdir, candidates[0], per_channel, prepared)
        margins = adapter.margins
        res.margin_outputs = list(margins)
        ref = run_model(fp32, held)
        best_method: tuple[float, str, EngineModel, Accuracy] | None = None
        for m in candidates:
            if m != adapter.method:
                adapter.set_method(m)
            cand = adapter.build([])
            cand_acc = accuracy(ref, run_model(cand, held), margins)
            res.method_trials[m] = cand_acc.cosine
            if len(candidates) > 1:
                say(f"{engine} int8 ({m}): cosine vs fp32 {cand_acc.cosine:.5f}")
            if best_method is None or cand_acc.cosine > best_method[0]:
                best_method = (cand_acc.cosine, m, cand, cand_acc)
        assert best_method is not None
        _, chosen, int8, acc = best_method
        if adapter.method != chosen:
            adapter.set_method(chosen)
        res.method = chosen
        res.kept_float = adapter.kept_float()
        res.calib_seconds = adapter.calib_seconds
        res.int8_accuracy = acc
        res.trajectory.append({"fp32_layers": [], "cosine": acc.cosine, "bytes": _bytes(int8)})
        say(f"{engine} int8 ({chosen}): cosine vs fp32 {acc.cosine:.5f} (budget {budget})")
        best, best_acc = int8, acc
        best_skip: list[str] = []
        skip: list[str] = []
        known, why = adapter.float_candidates()
        if known:  # layers the engine is known to mishandle in int8: float if that is closer
            cand = adapter.build(known)
            cand_acc = accuracy(ref, run_model(cand, held), margins)
            res.trajectory.append({"fp32_layers": list(known), "cosine": cand_acc.cosine,
                                   "bytes": _bytes(cand), "reason": why})
            kept = cand_acc.cosine > acc.cosine
            say(f"{engine}: {len(known)} layers float ({why}) -> cosine {cand_acc.cosine:.5f} "
                f"({'kept' if kept else 'dropped: no closer'})")
            if kept:
                best, best_acc, acc, int8 = cand, cand_acc, cand_acc, cand
                best_skip, skip = list(known), list(known)
                res.kept_float.update(dict.fromkeys(known, why))
        if analyze or acc.cosine < budget:
            res.layers = analyze_layers(adapter, int8, held[:ANALYSIS_SAMPLES])
        if acc.cosine < budget:
            # margins pool the images, and a 2-class output has one per image: rank on all
            rank_feeds = held if margins else held[:RANK_SAMPLES]
            ranked = [n for n in adapter.rank(int8, rank_feeds, res.layers) if n not in skip]
            for name in ranked[:max_fp32_layers]:
                skip = [*skip, name]
                cand = adapter.build(skip)
                cand_acc = accuracy(ref, run_model(cand, held), margins)
                res.trajectory.append({"fp32_layers": list(skip), "cosine": cand_acc.cosine,
                                       "bytes": _bytes(cand)})
                say(f"{engine}: {name} back to fp32 -> cosine {cand_acc.cosine:.5f}")
                if cand_acc.cosine > best_acc.cosine:  # the budget missed: still the best seen
                    best, best_acc, best_skip = cand, cand_acc, list(skip)
                if cand_acc.cosine >= budget:
                    break
        if bias_correction:  # a last polish of the chosen configuration, kept only if closer
            t_bc = time.perf_counter()
            n_bc = adapter.correct(skip=best_skip)
            if n_bc:
                cand = adapter.build(best_skip)
                cand_acc = accuracy(ref, run_model(cand, held), margins)
                kept = cand_acc.cosine > best_acc.cosine
                res.bias_correction = {"layers": n_bc, "cosine_before": best_acc.cosine,
                                       "cosine_after": cand_acc.cosine, "kept": kept,
                                       "seconds": round(time.perf_counter() - t_bc, 3)}
                say(f"{engine}: bias correction of {n_bc} int8 layers -> cosine {cand_acc.cosine:.5f} "
                    f"({'kept' if kept else 'dropped: no closer'})")
                if kept:
                    best, best_acc = cand, cand_acc
                    res.trajectory.append({"fp32_layers": list(best_skip), "cosine": cand_acc.cosine,
                                           "bytes": _bytes(cand), "bias_correction": True})
                else:
                    adapter.correct(on=False)
                    best = adapter.build(best_skip)
        res.model, res.accuracy, res.fp32_layers = best, best_acc, best_skip
        res.met = best_acc.cosine >= budget
        res.fp32_bytes, res.int8_bytes = _bytes(fp32), _bytes(best)
        res.host_ms = {"fp32": _host_ms(fp32, held[0]), "int8": _host_ms(best, held[0])}
        res.ok = True
        if not res.met:
            res.error = (f"cosine {best_acc.cosine:.5f} < budget {budget}: the best of "
                         f"{len(res.trajectory)} mixed-precision candidates (up to {len(skip)} "
                         "layers in fp32)")
    except SdkError as exc:
        res.error = exc.one_line()
    except Exception as exc:  # one engine's failure never stops the other
        res.error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    res.seconds = time.perf_counter() - t0
    return res


def quantize(
    prepared: PreparedModel, engines: Sequence[str], calib_dir: Path, workdir: Path, *,
    spec: ImageSpec | None = None, method: str | None = None, per_channel: bool = True,
    budget: float = DEFAULT_BUDGET, analyze: bool = False, limit: int | None = None,
    max_fp32_layers: int = MAX_FP32_LAYERS, log: Log | None = None,
) -> dict[str, QuantResult]:
    """Quantize ``prepared`` for each engine from the images in ``calib_dir``."""
    from sdk.convert import convert_engine
    from sdk.quantize.calib import load_calibration

    if method is not None and method not in METHODS:
        import difflib

        close = difflib.get_close_matches(method, METHODS, n=1)
        raise QuantizeError(f"unknown calibration method '{method}'", expected=" | ".join(METHODS),
                            found=method, fix=f"did you mean {close[0]}?" if close else None)
    if not 0.0 < budget <= 1.0:
        raise QuantizeError("--budget is a cosine similarity", expected="0 < budget <= 1", found=str(budget))
    if len(prepared.inputs) != 1:
        raise QuantizeError("int8 calibration takes single-input models",
                            found=f"{len(prepared.inputs)} inputs")
    inp = prepared.inputs[0]
    feeds = load_calibration(Path(calib_dir), inp.name, tuple(inp.shape), spec, limit=limit)
    results = {}
    for engine in dict.fromkeys(engines):
        try:
            fp32 = convert_engine(engine, prepared, workdir / f"{engine}-fp32", "fp32")
        except SdkError as exc:
            results[engine] = QuantResult(engine=engine, ok=False, method=method or DEFAULT_METHOD[engine],
                                          per_channel=per_channel,
                                          budget=budget, error=exc.one_line())
            continue
        results[engine] = quantize_engine(engine, prepared, fp32, feeds, workdir, method=method,
                                          per_channel=per_channel, budget=budget, analyze=analyze,
                                          max_fp32_layers=max_fp32_layers, log=log)
    return results


def results_json(results: dict[str, QuantResult]) -> str:
    return json.dumps({e: r.to_dict() for e, r in results.items()}, indent=2, default=str)
