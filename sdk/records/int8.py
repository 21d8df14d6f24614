"""One engine's int8 quantization: :class:`QuantResult`, with its :class:`Accuracy` against
fp32 and the per-layer figures (:class:`LayerStat`). Standard library only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sdk.records.jsonform import to_dict
from sdk.records.manifest import EngineModel


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

