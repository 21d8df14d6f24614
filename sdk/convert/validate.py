"""Golden inputs, the onnxruntime reference, and engine-vs-reference metrics."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sdk.convert.prepare import PreparedModel
from sdk.device import metrics as _m


@dataclass
class Metrics:
    """Agreement of one output: cosine, max-abs difference, top-1 agreement (or None)."""

    output: str
    cosine: float
    max_abs: float
    top1: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_golden_inputs(prepared: PreparedModel, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded inputs of the right shape and dtype: standard normal for floats."""
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    for t in prepared.inputs:
        dtype = np.dtype(t.dtype)
        if np.issubdtype(dtype, np.floating):
            arr = rng.standard_normal(t.shape).astype(dtype)
        elif dtype == np.bool_:
            arr = rng.integers(0, 2, size=t.shape).astype(dtype)
        elif np.issubdtype(dtype, np.integer):
            hi = min(int(np.iinfo(dtype).max), 255)
            lo = max(int(np.iinfo(dtype).min), 0)
            arr = rng.integers(lo, hi + 1, size=t.shape).astype(dtype)
        else:
            raise ValueError(f"input {t.name!r}: unsupported dtype {t.dtype}")
        feeds[t.name] = arr
    return feeds


def run_reference(prepared: PreparedModel, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the prepared model with onnxruntime on the CPU."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(prepared.path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    outs = sess.run(names, {k: np.asarray(v) for k, v in feeds.items()})
    return {n: np.asarray(o) for n, o in zip(names, outs, strict=True)}


def compare_outputs(ref: dict[str, np.ndarray], out: dict[str, np.ndarray]) -> list[Metrics]:
    """Metrics per reference output; a missing engine output gets cosine NaN."""
    result: list[Metrics] = []
    for name, r in ref.items():
        o = out.get(name)
        if o is None or np.asarray(o).size != np.asarray(r).size:
            result.append(Metrics(name, float("nan"), float("inf"), None))
            continue
        o = np.asarray(o).reshape(np.shape(r))
        result.append(Metrics(name, _m.cosine(r, o), _m.max_abs(r, o), _m.top1(r, o)))
    return result
