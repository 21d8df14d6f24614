"""Golden inputs, the onnxruntime reference, and engine-vs-reference metrics."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sdk.convert.prepare import PreparedModel
from sdk.device import metrics as _m
from sdk.errors import ModelError


@dataclass
class Metrics:
    """Agreement of one output: cosine, max-abs difference, top-1 agreement (or None)."""

    output: str
    cosine: float
    max_abs: float
    top1: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_golden_inputs(prepared: PreparedModel, seed: int = 0, *, positive: bool = False,
                       zeros: bool = False) -> dict[str, np.ndarray]:
    """Seeded inputs of the right shape and dtype: standard normal for floats (``positive``:
    uniform in [0.5, 2), the domain of Sqrt, Log, Pow and friends; ``zeros`` with it: one
    value in five exactly 0, the edge an engine's Pow or Sqrt gets wrong)."""
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    for t in prepared.inputs:
        dtype = np.dtype(t.dtype)
        if np.issubdtype(dtype, np.floating):
            arr = (rng.uniform(0.5, 2.0, t.shape) if positive else rng.standard_normal(t.shape)).astype(dtype)
            if positive and zeros and arr.ndim:
                arr.reshape(-1)[::5] = 0
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
    """Run the prepared model with onnxruntime on the CPU; its errors are one-line SDK errors."""
    import onnxruntime as ort

    try:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        sess = ort.InferenceSession(str(prepared.path), opts, providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        outs = sess.run(names, {k: np.asarray(v) for k, v in feeds.items()})
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(
            f"onnxruntime cannot make the reference outputs of {prepared.source.name}: "
            f"{' '.join(first.split())[:300]}",
            fix="check the model with onnxruntime, or give real inputs with --golden FILE.npz",
        ) from None
    return {n: np.asarray(o) for n, o in zip(names, outs, strict=True)}


def _finite(outs: dict[str, np.ndarray]) -> bool:
    return all(np.isfinite(o).all() for o in outs.values() if np.issubdtype(o.dtype, np.floating))


def load_golden(prepared: PreparedModel, path: Path, skip: Collection[str] = ()) -> dict[str, np.ndarray]:
    """The inputs in ``path`` (.npz, one array per model input, named as the input); inputs
    in ``skip`` are made elsewhere (the image input of --preprocess) and may be absent."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: np.asarray(npz[k]) for k in npz.files}
    except Exception as exc:
        raise ModelError(f"cannot read the golden inputs {str(path)!r}", found=type(exc).__name__,
                         fix="save them with numpy.savez(FILE, input_name=array, ...)") from None
    feeds: dict[str, np.ndarray] = {}
    for t in prepared.inputs:
        if t.name in skip:
            continue
        if t.name not in arrays:
            raise ModelError(f"{path.name} has no array for input {t.name!r}",
                             expected=", ".join(repr(i.name) for i in prepared.inputs if i.name not in skip),
                             found=", ".join(map(repr, arrays)) or "no arrays",
                             fix="name each array as the model input it feeds")
        a = arrays[t.name]
        if tuple(a.shape) != tuple(t.shape):
            raise ModelError(f"golden input {t.name!r} has the wrong shape", expected=str(list(t.shape)),
                             found=str(list(a.shape)), fix="give arrays of the prepared input shapes")
        feeds[t.name] = a.astype(t.dtype)
    return feeds


def golden_and_reference(prepared: PreparedModel, golden: Path | None = None, *,
                         fixed: Mapping[str, np.ndarray] | None = None,
                         ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Golden inputs and their onnxruntime reference: the user's (``golden``), else seeded
    N(0,1) inputs, retried in [0.5, 2) when the reference on those is not finite (Sqrt, Log).
    ``fixed`` inputs are given by the caller (the image input of --preprocess) either way.

    ``sdk convert``, ``sdk deploy`` and ``sdk bench`` all take their golden inputs here."""
    fixed = dict(fixed or {})
    if golden is not None:
        feeds = {**load_golden(prepared, golden, skip=fixed), **fixed}
        return feeds, run_reference(prepared, feeds)
    feeds = {**make_golden_inputs(prepared), **fixed}
    reference = run_reference(prepared, feeds)
    if not _finite(reference):
        # in the op's domain: with exact zeros where the op takes them (Pow, Sqrt), else > 0 (Log)
        for zeros in (True, False):
            positive = {**make_golden_inputs(prepared, positive=True, zeros=zeros), **fixed}
            ref2 = run_reference(prepared, positive)
            if _finite(ref2):
                return positive, ref2
        raise ModelError(
            f"the reference outputs of {prepared.source.name} are not finite on random inputs",
            fix="give real inputs with --golden FILE.npz",
        )
    return feeds, reference


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
