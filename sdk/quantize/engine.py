"""What the engine-neutral int8 flow needs of an engine: the int8 adapter protocol.

Each engine's folder implements :class:`Int8Engine` (``sdk/engines/<name>/int8.py``) and
its backend hands the class out (``Backend.int8(method)``). The flow
(:func:`sdk.quantize.quantize_engine`) only ever calls these methods: build an int8 model
with some layers left in fp32, list the quantizable layers, dump tensors, rank layers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdk.errors import QuantizeError
from sdk.quantize.metrics import softmax_outputs
from sdk.quantize.task import GraphOp, TaskSpec, rank_score

if TYPE_CHECKING:
    import numpy as np

    from sdk.convert.prepare import PreparedModel
    from sdk.records import EngineModel, LayerStat


class Int8Engine:
    """One engine's int8 parts over one fp32 model and one set of calibration feeds."""

    engine = ""
    # a candidate is a whole conversion (MNN): mixed precision doubles its step instead of
    # adding one layer at a time
    costly_builds = False

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
        self.task = TaskSpec()  # what the flow judges int8 by (set by sdk.quantize.quantize_engine)

    def build(self, skip: Sequence[str]) -> EngineModel:
        """The int8 model with the layers in ``skip`` left in fp32."""
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

    def layer_weights(self) -> dict[str, int]:
        """Quantizable layers' weight counts (what each costs in fp32: 4 bytes a weight
        against 1): the prune pass tries the largest first. Empty: in the order they went float."""
        return {}

    def float_candidates(self) -> tuple[list[str], str]:
        """Layers this engine is known to handle badly in int8, and why: the flow keeps them
        float when that brings the model closer to fp32."""
        return [], ""

    def dump(self, model: EngineModel, feed: dict[str, np.ndarray], names: Sequence[str]) -> dict[str, Any]:
        """The tensors ``names`` (engine names) of ``model`` for one feed."""
        raise NotImplementedError

    def rank(self, int8: EngineModel, feeds: Sequence[dict[str, np.ndarray]],
             stats: list[LayerStat]) -> list[str]:
        """Layers, most sensitive first: by the error each adds in the full int8 model."""
        return [s.name for s in stats]

    def rank_score(self) -> Callable[[list[list[np.ndarray]], list[list[np.ndarray]]], float]:
        """The figure layers are ranked by (refs, gots: per feed, per output): the task's."""
        return rank_score(self.task, [t.name for t in self.prepared.outputs], self.margins)

    def graph(self) -> tuple[list[GraphOp], list[str], Callable[[Sequence[str]], dict[str, float]] | None]:
        """The engine's own graph (ops, graph output tensors) and a way to read tensors' abs
        max on the fp32 model: what :func:`sdk.quantize.task.culprits` searches."""
        return [], [], None

    def _dir(self, skip: Sequence[str]) -> Path:
        tag = hashlib.sha256("\n".join(sorted(skip)).encode()).hexdigest()[:10] if skip else "all"
        return self.workdir / f"{self.engine}-int8-{self.method}-{'pc' if self.per_channel else 'pt'}-{tag}"
