"""What the on-board runner found: :class:`BoardResult`, one :class:`EngineResult` per model
variant with its golden check (:class:`OutputCheck`) and latency. Standard library only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sdk.records.common import AGREEMENT_FLOORS, variant_id


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

