"""Typed records the steps hand each other, shared by the host and the board.

Standard library only: the on-board runner imports this module from the bundle. Every
record is a dataclass with one JSON form (:func:`to_dict` / :func:`from_dict`), so what the
host writes is what the board reads and the other way round:

- :class:`EngineModel`: one engine's converted model files and the meta its runner needs;
- :class:`Manifest` (with :class:`BundledModel`, :class:`TensorFile`): the bundle's index;
- :class:`BoardResult` (with :class:`EngineResult`): what the runner found on the board;
- :class:`QuantResult` (with :class:`Accuracy`, :class:`LayerStat`): an int8 quantization.

Model variants are keyed by (engine, precision) — :func:`variant_id` is their one string
form, used for directory names only; nobody parses it back.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ExitCode(enum.IntEnum):
    """The on-board runner's exit codes, read by the host."""

    OK = 0
    USAGE = 2  # argparse's own code for a bad command line
    CORRUPT = 3  # a file of the bundle is missing or fails its sha256
    FAILED = 4  # the bundle ran, and a model failed its golden check


# The one table of agreement floors: the cosine a model's outputs must reach against their
# golden outputs. fp32 agrees with onnxruntime to 0.999; fp16 and int8 kernels round
# differently on x86 and ARM, so there (and for int8 on the board against the host's own
# int8 outputs) 0.99. An engine's capability record may override a value.
AGREEMENT_FLOORS: dict[str, float] = {"fp32": 0.999, "fp16": 0.99, "int8": 0.99}


def sha256_file(path: Path) -> str:
    """The file's sha256, read in 1 MiB chunks (the one implementation host and board share)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def variant_id(engine: str, precision: str) -> str:
    """The string form of a model variant, for directory names: ``ncnn-int8``."""
    return f"{engine}-{precision}"


# ------------------------------------------------------------------------------ JSON form


def to_dict(record: Any) -> Any:
    """The JSON-able form of a record (paths as strings)."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {f.name: to_dict(getattr(record, f.name)) for f in dataclasses.fields(record)}
    if isinstance(record, dict):
        return {k: to_dict(v) for k, v in record.items()}
    if isinstance(record, (list, tuple)):
        return [to_dict(v) for v in record]
    if isinstance(record, Path):
        return str(record)
    if isinstance(record, enum.Enum):
        return record.value
    return record


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(tp: Any, value: Any) -> Any:
    if value is None or tp is Any:
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        kinds = [a for a in args if a is not type(None)]
        return _build(kinds[0], value) if len(kinds) == 1 else value
    if origin is list:
        return [_build(args[0], v) for v in value]
    if origin is tuple:
        return tuple(_build(args[0], v) for v in value)
    if origin is dict:
        return {k: _build(args[1], v) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value)  # type: ignore[arg-type]
    if tp is Path:
        return Path(value)
    if tp is float and isinstance(value, int):
        return float(value)
    return value


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild a record of type ``cls`` from its JSON form; an unknown field is an error."""
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected a JSON object, found {type(data).__name__}")
    hints = _hints(cls)  # type: ignore[arg-type]  # classes are hashable
    names = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {', '.join(unknown)}")
    return cls(**{k: _build(hints[k], v) for k, v in data.items()})


def to_json(record: Any) -> str:
    return json.dumps(to_dict(record), indent=2, sort_keys=True) + "\n"


def from_json(cls: type[T], text: str) -> T:
    return from_dict(cls, json.loads(text))


# ------------------------------------------------------------------------------ models


@dataclass
class EngineModel:
    """Converted model files for one engine, and the meta the runner needs to load them."""

    engine: str
    precision: str
    files: list[Path]
    meta: dict[str, Any]

    @property
    def model_dir(self) -> Path:
        return self.files[0].parent

    @property
    def id(self) -> str:
        return variant_id(self.engine, self.precision)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = to_dict(self)
        return d


@dataclass
class TensorFile:
    """One golden tensor in the bundle: its model-side name and its ``.npy`` file."""

    name: str
    file: str  # relative to the bundle root
    shape: list[int]
    dtype: str


@dataclass
class TaskSamples:
    """Held-out calibration inputs of an int8 model with the host's outputs on them: the board
    runs them and judges its own outputs by the task (detections as detections), against the
    host's int8 outputs (the verdict) and the fp32 model's (for the report)."""

    task: dict[str, Any]  # sdk.device.tasks.TaskSpec
    inputs: list[list[TensorFile]]  # one list per sample
    host: list[list[TensorFile]]  # the host's int8 outputs
    fp32: list[list[TensorFile]]  # the same engine's fp32 model on the host
    floor: float = 0.99  # the board's task metric against the host's int8 outputs


@dataclass
class BundledModel:
    """One model variant in the bundle, with the golden outputs it must reproduce."""

    engine: str
    precision: str
    package: str  # the engine's PyPI distribution (its version is looked up on the board)
    version: str  # the engine's version on the host
    dir: str  # relative to the bundle root
    files: list[str]
    meta: dict[str, Any]
    min_cosine: float
    golden_outputs: list[TensorFile] | None = None  # None: the onnxruntime golden outputs
    task_samples: TaskSamples | None = None  # int8: judged on the board by the task

    @property
    def id(self) -> str:
        return variant_id(self.engine, self.precision)


@dataclass
class Golden:
    inputs: list[TensorFile]
    outputs: list[TensorFile]  # onnxruntime's


@dataclass
class BundledPreprocess:
    """The board makes input ``input`` from the u8 ``image`` with ``spec`` (ImageSpec)."""

    spec: dict[str, Any]
    input: str
    source: str  # the image's colour format: bgr | gray
    image: str = ""  # relative to the bundle root


@dataclass
class Manifest:
    """``manifest.json``: what the bundle holds, the sha256 of every file, how to check it."""

    format: int
    sdk_version: str
    engine_versions: dict[str, str]
    board_profile: dict[str, Any]
    model: dict[str, Any]
    models: list[BundledModel]
    golden: Golden
    wheels: dict[str, Any]
    options: dict[str, Any]
    preprocess: BundledPreprocess | None
    files: dict[str, str]  # relative path -> sha256
    bundle_id: str = ""

    NAME: typing.ClassVar[str] = "manifest.json"

    def content_id(self) -> str:
        """The bundle id: a hash of everything but the id itself."""
        doc = to_dict(self)
        doc.pop("bundle_id")
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]

    def model_by_id(self, vid: str) -> BundledModel:
        for m in self.models:
            if m.id == vid:
                return m
        raise KeyError(f"no model {vid!r} in the bundle (it has {', '.join(m.id for m in self.models)})")

    @classmethod
    def load(cls, root: Path) -> Manifest:
        return from_json(cls, (Path(root) / cls.NAME).read_text())


# ------------------------------------------------------------------------------ board results


@dataclass
class Latency:
    p50: float
    p90: float
    p99: float
    mean: float
    min: float
    max: float


@dataclass
class OutputCheck:
    """One output of one model on the board against its golden output."""

    output: str
    cosine: float | None = None
    max_abs: float | None = None
    top1: float | None = None
    error: str | None = None


@dataclass
class EngineResult:
    """One model variant run on the board: its golden check, latency and memory."""

    engine: str
    precision: str
    ok: bool = False
    threads: int = 1
    runs: int = 0
    warmup: int = 0
    min_cosine: float = AGREEMENT_FLOORS["fp32"]
    cpus: list[int] = field(default_factory=list)
    load_ms: float | None = None
    outputs: list[OutputCheck] = field(default_factory=list)
    latency_ms: Latency | None = None
    peak_rss_mb: float | None = None
    preprocess: dict[str, Any] | None = None
    task: dict[str, Any] | None = None  # int8: the task metric vs the host's int8 and fp32 outputs
    error: str | None = None
    traceback: str | None = None
    samples_ms: list[float] = field(default_factory=list)  # every timed run, warm-up discarded
    # the first run's outputs, strided to a few thousand values: what 'sdk report compare'
    # checks between two runs (did an engine upgrade change the outputs?)
    output_sample: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return variant_id(self.engine, self.precision)


@dataclass
class BoardResult:
    """The runner's answer for one bundle: verified or not, and one result per variant."""

    bundle_id: str
    verified: bool
    platform: dict[str, Any] = field(default_factory=dict)
    results: list[EngineResult] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.verified and bool(self.results) and all(r.ok for r in self.results)

    def result(self, engine: str, precision: str) -> EngineResult | None:
        return next((r for r in self.results if (r.engine, r.precision) == (engine, precision)), None)


# ------------------------------------------------------------------------------ int8


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
    task: str = "raw"  # what the task metric judges (sdk.device.tasks.TASKS)
    metric_name: str = "cosine"
    metric: float | None = None  # the task metric, what the budget applies to (None: cosine)
    tiebreak: float | None = None  # a finer figure ordering candidates of equal metric
    metrics: dict[str, float] = field(default_factory=dict)  # every figure of the task
    images: int = 0  # held-out images it rests on

    @property
    def value(self) -> float:
        """The figure the int8 budget applies to."""
        return self.cosine if self.metric is None else self.metric

    @property
    def key(self) -> tuple[float, float]:
        """Candidates compare by the task metric, then the finer figure."""
        return (self.value, self.cosine if self.tiebreak is None else self.tiebreak)


@dataclass
class QuantResult:
    """One engine's int8 quantization: the model, how close it is to fp32, how it got there."""

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
    task: dict[str, Any] = field(default_factory=dict)  # sdk.device.tasks.TaskSpec: what the budget judges
    warnings: list[str] = field(default_factory=list)
    search: str = ""  # what the search did and why it stopped, one line
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
        d: dict[str, Any] = to_dict(self)
        return d


# ------------------------------------------------------------------------------ profiling


@dataclass
class Summary:
    """Latency statistics of kept samples (ms): a bootstrap interval of the median, outliers flagged."""

    n: int
    p50: float
    p90: float
    p99: float
    mean: float
    std: float
    min: float
    max: float
    cv: float  # std / mean
    ci_low: float  # the median's confidence interval
    ci_high: float
    confidence: float = 0.95
    outliers: list[int] = field(default_factory=list)  # sample indices, never dropped


@dataclass
class Difference:
    """B against A: the change of the median with its confidence interval, and the verdict."""

    median_a: float
    median_b: float
    diff: float  # B - A
    ci_low: float
    ci_high: float
    ratio: float  # B / A
    significant: bool
    verdict: str  # faster | slower | no significant change
    confidence: float = 0.95


@dataclass
class CpuInfo:
    cpu: int
    part: str | None  # cortex-a72...
    max_khz: int | None
    capacity: int | None
    governor: str | None


@dataclass
class Topology:
    cpus: list[CpuInfo]
    clusters: list[list[int]]
    unread: list[str] = field(default_factory=list)  # what this board does not expose
    mismatch: list[str] = field(default_factory=list)  # against the board profile


@dataclass
class ClockSample:
    t: float  # seconds since the configuration started
    freq_khz: dict[str, int]  # cpu -> current frequency
    temp_c: dict[str, float]  # thermal zone -> temperature


@dataclass
class BenchConfig:
    """One configuration of a sweep: a model variant at some threads on some cores."""

    model: str  # variant id in the bundle
    engine: str
    precision: str
    threads: int
    cores: str  # as asked: big | little | all | a cpu list
    cpus: list[int]  # what that means on this board's profile

    @property
    def label(self) -> str:
        return f"{self.engine} {self.precision} {self.threads}t {self.cores}"


@dataclass
class BenchPlan:
    configs: list[BenchConfig]
    runs: int = 20
    warmup: int = 3
    min_time: float = 0.0  # extend the runs until this many seconds of samples
    rate: float | None = None  # frames per second: pace the runs like a camera
    duration: float | None = None  # a sustained run of this many seconds instead of ``runs``
    layers: bool = False
    settle_s: float = 30.0  # longest wait for temperatures to settle
    sample_s: float = 0.5  # clock and temperature sampling interval
    clusters: list[list[int]] = field(default_factory=list)  # the profile's, for the check
    timeout: float = 0.0  # seconds per configuration on the board (0: none)


@dataclass
class LayerTime:
    name: str
    type: str
    ms: float  # median over the repeats


@dataclass
class BenchResult:
    """One configuration on the board: every sample, its statistics, clocks and heat."""

    config: BenchConfig
    ok: bool = False
    error: str | None = None
    golden: list[OutputCheck] = field(default_factory=list)
    output_sample: dict[str, dict[str, Any]] = field(default_factory=dict)  # see EngineResult
    load_ms: float | None = None
    first_ms: float | None = None
    samples_ms: list[float] = field(default_factory=list)  # steady state, warm-up discarded
    sample_t: list[float] = field(default_factory=list)  # each sample's start (s)
    summary: Summary | None = None
    cpus_used: list[int] = field(default_factory=list)  # the process's affinity
    thread_cpus: list[int] = field(default_factory=list)  # where its threads actually ran
    rss_baseline_mb: float | None = None  # the interpreter before the engine loads
    peak_rss_mb: float | None = None  # above that baseline
    settle: dict[str, Any] = field(default_factory=dict)
    clocks: list[ClockSample] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # dropped clocks, trips, outliers, unpinned
    layers: list[LayerTime] = field(default_factory=list)
    layer_method: str | None = None
    frame: dict[str, Any] | None = None  # per-stage times of a whole frame
    sustained: dict[str, Any] | None = None  # first vs last minute
    overhead: dict[str, Any] | None = None  # the runner against the engine's bare loop


@dataclass
class BenchRun:
    """The on-board bench's answer for one plan."""

    bundle_id: str
    platform: dict[str, Any]
    topology: Topology
    results: list[BenchResult] = field(default_factory=list)
    seconds: float = 0.0
