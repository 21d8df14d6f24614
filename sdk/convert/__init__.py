"""Convert a prepared ONNX model for ncnn and MNN and validate each against onnxruntime.

Each engine is converted, run on the host with the same runner the board uses
(:mod:`sdk.device.engines`) and compared with the reference, independently: one engine
failing never stops the other.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sdk.convert.prepare import (
    EngineModel,
    PreparedModel,
    TensorSpec,
    parse_input_shapes,
    prepare,
)
from sdk.convert.validate import Metrics, compare_outputs, make_golden_inputs, run_reference
from sdk.errors import ConvertError, SdkError

ENGINES = ("ncnn", "mnn")
PRECISIONS = ("fp32", "fp16")
MIN_COSINE = {"fp32": 0.999, "fp16": 0.99}

__all__ = [
    "ENGINES",
    "MIN_COSINE",
    "PRECISIONS",
    "ConversionResult",
    "EngineModel",
    "Metrics",
    "PreparedModel",
    "TensorSpec",
    "compare_outputs",
    "convert",
    "convert_engine",
    "make_golden_inputs",
    "parse_input_shapes",
    "prepare",
    "run_reference",
]


@dataclass
class ConversionResult:
    """The outcome of converting and validating one engine."""

    engine: str
    ok: bool
    model: EngineModel | None
    metrics: list[Metrics] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "ok": self.ok,
            "model": self.model.to_dict() if self.model else None,
            "metrics": [m.to_dict() for m in self.metrics],
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


def _check_choice(kind: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        import difflib

        close = difflib.get_close_matches(value, choices, n=1)
        raise ConvertError(
            f"unknown {kind} {value!r}",
            expected=" or ".join(choices),
            found=value,
            fix=f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(choices)}",
        )


def _conversion_key(engine: str, prepared: PreparedModel, precision: str) -> str:
    """What a conversion's output depends on: the model, the engine and its version, our code."""
    import hashlib
    from importlib.metadata import version

    dist = {"ncnn": "pnnx", "mnn": "MNN"}[engine]
    here = Path(__file__).resolve().parent
    code = b"".join((here / n).read_bytes() for n in ("prepare.py", f"{engine}.py"))
    parts = [prepared.sha256, engine, precision, version(dist), hashlib.sha256(code).hexdigest()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def convert_engine(
    engine: str, prepared: PreparedModel, workdir: Path, precision: str = "fp32"
) -> EngineModel:
    """Convert ``prepared`` for one engine into ``workdir`` (no validation).

    The result is cached in ``workdir`` by the model's hash, the converter's version and our
    conversion code: MNN's converter writes a fresh UUID into every model, so converting
    again would change the bytes and make a re-deploy send the model again.
    """
    import json

    _check_choice("engine", engine, ENGINES)
    _check_choice("precision", precision, PRECISIONS)
    key = _conversion_key(engine, prepared, precision)
    stamp = Path(workdir) / ".conversion.json"
    if stamp.is_file():
        try:
            cached = json.loads(stamp.read_text())
            files = [Path(workdir) / f for f in cached["files"]]
            if cached["key"] == key and all(f.is_file() for f in files):
                return EngineModel(engine, precision, files, cached["meta"])
        except (ValueError, KeyError, TypeError):
            pass  # a damaged stamp: convert again
    stamp.unlink(missing_ok=True)
    if engine == "ncnn":
        from sdk.convert.ncnn import convert_ncnn

        model = convert_ncnn(prepared, workdir, precision)
    else:
        from sdk.convert.mnn import convert_mnn

        model = convert_mnn(prepared, workdir, precision)
    rel = [f.resolve().relative_to(Path(workdir).resolve()).as_posix() for f in model.files]
    stamp.write_text(json.dumps({"key": key, "files": rel, "meta": model.meta}))
    return model


def _disagreement(metrics: list[Metrics], min_cosine: float) -> str | None:
    bad = [m for m in metrics if not (m.cosine >= min_cosine)]  # NaN counts as bad
    if not bad:
        return None
    parts = []
    for m in bad:
        cos = "nan" if math.isnan(m.cosine) else f"{m.cosine:.6f}"
        parts.append(f"output {m.output!r} cosine {cos} < {min_cosine} (max-abs {m.max_abs:.4g})")
    return "outputs disagree with onnxruntime: " + "; ".join(parts)


def convert(
    prepared: PreparedModel,
    engines: Sequence[str],
    precision: str,
    workdir: Path,
    *,
    feeds: dict[str, np.ndarray],
    reference: dict[str, np.ndarray],
    min_cosine: float | None = None,
    threads: int = 1,
) -> dict[str, ConversionResult]:
    """Convert for each engine, run it on the host and compare with ``reference``.

    ``min_cosine`` defaults to 0.999 for fp32 and 0.99 for fp16. Results are keyed by
    engine; a failing engine has ``ok=False`` and a one-line ``error``.
    """
    from sdk.device.engines import load_engine

    _check_choice("precision", precision, PRECISIONS)
    for e in engines:
        _check_choice("engine", e, ENGINES)
    threshold = MIN_COSINE[precision] if min_cosine is None else float(min_cosine)
    results: dict[str, ConversionResult] = {}
    for engine in dict.fromkeys(engines):
        t0 = time.perf_counter()
        model: EngineModel | None = None
        metrics: list[Metrics] = []
        error: str | None = None
        try:
            model = convert_engine(engine, prepared, Path(workdir) / f"{engine}-{precision}", precision)
            try:
                runner = load_engine(engine, model.model_dir, model.meta, threads)
                try:
                    outs = runner.run(feeds)
                finally:
                    runner.close()
            except Exception as exc:
                raise ConvertError(
                    f"{engine} cannot run the converted {prepared.source.name}: "
                    f"{' '.join(str(exc).split())[:200] or type(exc).__name__}",
                    fix="replace the failing op(s) or try the other engine",
                ) from exc
            metrics = compare_outputs(reference, outs)
            error = _disagreement(metrics, threshold)
        except SdkError as exc:
            error = exc.one_line()
        except Exception as exc:  # one engine's crash never stops the other
            error = f"{engine}: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        results[engine] = ConversionResult(
            engine=engine,
            ok=error is None,
            model=model,
            metrics=metrics,
            error=error,
            seconds=time.perf_counter() - t0,
        )
    return results
