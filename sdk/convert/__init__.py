"""Convert a prepared ONNX model for each engine and validate it against onnxruntime.

Each engine is converted by its backend (``sdk/engines/<name>/convert.py``), run on the host
with the same runner the board uses (``sdk/engines/<name>/runner.py``) and compared with the
reference, independently: one engine failing never stops the other.

    prepare.py    checker, fixed shapes, shape inference, simplification
    validate.py   golden inputs, the onnxruntime reference, per-output metrics
    tool.py       an engine's own converter as a child process, its log kept
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sdk import engines
from sdk.convert.prepare import (
    PreparedModel,
    TensorSpec,
    parse_input_shapes,
    prepare,
)
from sdk.convert.validate import (
    Metrics,
    compare_outputs,
    golden_and_reference,
    load_golden,
    make_golden_inputs,
    run_reference,
)
from sdk.errors import ConvertError, SdkError
from sdk.records import EngineModel

# what a conversion produces (int8 is made from the fp32 conversion by sdk.quantize)
PRECISIONS = ("fp32", "fp16")

__all__ = [
    "PRECISIONS",
    "ConversionResult",
    "EngineModel",
    "Metrics",
    "PreparedModel",
    "TensorSpec",
    "compare_outputs",
    "convert",
    "convert_engine",
    "golden_and_reference",
    "load_golden",
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
    import json

    from sdk.provision import package_version

    backend = engines.get(engine)
    sources = [Path(__file__).resolve().with_name("prepare.py"), *backend.conversion_code()]
    code = b"".join(p.read_bytes() for p in sources)
    parts = [prepared.sha256, engine, precision, package_version(backend.caps.converter_package),
             hashlib.sha256(code).hexdigest(), json.dumps(prepared.examples, sort_keys=True)]
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

    _check_choice("engine", engine, engines.names())
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
    model = engines.get(engine).convert(prepared, Path(workdir), precision)
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


_LAYER_MISSING = re.compile(r"layer\s+(\S+)\s+not exists or registered")


def _log_reason(log: Path | None) -> str | None:
    """The engine's own reason line in the child's log (what its library printed)."""
    if log is None or not log.is_file():
        return None
    text = log.read_text(errors="replace")
    m = _LAYER_MISSING.search(text)
    if m:
        return f"ncnn has no layer {m.group(1)} (\"{m.group(0)}\")"
    return None


def _check_outputs(engine: str, reference: dict[str, np.ndarray], outs: dict[str, np.ndarray]) -> None:
    """Output count and sizes as the reference has them, or a one-line error naming the output."""
    missing = [n for n in reference if n not in outs]
    if missing:
        raise ConvertError(
            f"{engine} gives {len(outs)} output(s), the model has {len(reference)}",
            expected=", ".join(map(repr, reference)),
            found="no output " + ", ".join(map(repr, missing)),
            fix="try the other engine",
        )
    for name, ref in reference.items():
        got = np.asarray(outs[name])
        if got.size != np.asarray(ref).size:
            raise ConvertError(
                f"{engine}'s output {name!r} has the wrong size",
                expected=f"{np.asarray(ref).size} values {list(np.shape(ref))}",
                found=f"{got.size} values {list(got.shape)}",
                fix="try the other engine",
            )


def _validate(engine: str, prepared: PreparedModel, model: EngineModel, feeds: dict[str, np.ndarray],
              reference: dict[str, np.ndarray], threads: int,
              on_stage: Callable[[str], None] = lambda s: None, log: Path | None = None) -> list[Metrics]:
    """Run the converted model on the host with the board's runner; its metrics per output."""
    stage = "load"
    try:
        on_stage(stage)
        with engines.open_runner(engine, model.model_dir, model.meta, threads) as runner:
            stage = "run"
            on_stage(stage)
            outs = runner.run(feeds)
    except Exception as exc:
        reason = _log_reason(log) or " ".join(str(exc).split())[:300] or type(exc).__name__
        verb = "load" if stage == "load" else "run"
        raise ConvertError(
            f"{engine} cannot {verb} the converted {prepared.source.name}: {reason}",
            fix="replace the failing op(s) or try the other engine",
        ) from exc
    on_stage("compare")
    _check_outputs(engine, reference, outs)
    return compare_outputs(reference, outs)


def _convert_one(engine: str, prepared: PreparedModel, precision: str, workdir: Path,
                 feeds: dict[str, np.ndarray], reference: dict[str, np.ndarray], threshold: float,
                 threads: int, on_stage: Callable[[str], None] = lambda s: None,
                 log: Path | None = None) -> ConversionResult:
    """Convert and validate one engine (in this process); never raises."""
    t0 = time.perf_counter()
    model: EngineModel | None = None
    metrics: list[Metrics] = []
    error: str | None = None
    try:
        on_stage("convert")
        model = convert_engine(engine, prepared, workdir, precision)
        metrics = _validate(engine, prepared, model, feeds, reference, threads, on_stage, log)
        error = _disagreement(metrics, threshold)
    except SdkError as exc:
        error = exc.one_line()
    except Exception as exc:  # one engine's failure never stops the other
        error = f"{engine}: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    return ConversionResult(engine=engine, ok=error is None, model=model, metrics=metrics,
                            error=error, seconds=time.perf_counter() - t0)


def convert(
    prepared: PreparedModel,
    engine_names: Sequence[str],
    precision: str,
    workdir: Path,
    *,
    feeds: dict[str, np.ndarray],
    reference: dict[str, np.ndarray],
    min_cosine: float | None = None,
    threads: int = 1,
) -> dict[str, ConversionResult]:
    """Convert for each engine, run it on the host and compare with ``reference``.

    ``min_cosine`` defaults to the engine's agreement floor for ``precision`` (its capability
    record). Results are keyed by engine; a failing engine has ``ok=False`` and a one-line
    ``error``.
    """
    _check_choice("precision", precision, PRECISIONS)
    for e in engine_names:
        _check_choice("engine", e, engines.names())
    from sdk.convert.isolate import run_isolated

    results: dict[str, ConversionResult] = {}
    for engine in dict.fromkeys(engine_names):
        threshold = engines.get(engine).caps.floor(precision) if min_cosine is None else float(min_cosine)
        t0 = time.perf_counter()
        engine_dir = Path(workdir).resolve() / f"{engine}-{precision}"
        job = {"engine": engine, "prepared": prepared, "precision": precision, "workdir": engine_dir,
               "feeds": feeds, "reference": reference, "threshold": threshold, "threads": threads,
               "log": engine_dir / "validate.log"}
        result = run_isolated(job, engine_dir)
        result.seconds = time.perf_counter() - t0
        results[engine] = result
    return results


# `sdk.convert(...)` is the Python API call (sdk.api.convert); this module stays importable as before
from sdk._callable import make_callable  # noqa: E402

make_callable(__name__, "convert")
