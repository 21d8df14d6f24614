"""The on-board bench's records: the plan (:class:`BenchPlan` of :class:`BenchConfig`), what one
configuration measured (:class:`BenchResult`: samples, :class:`Summary`, clocks, layers), the
board's :class:`Topology`, and the comparison of two runs (:class:`Difference`). Standard
library only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sdk.records.board import OutputCheck


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
