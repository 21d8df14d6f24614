"""The Python API for scripts and CI: one call per job, the same functions the CLI uses.

    import sdk

    report = sdk.deploy("model.onnx", board="rk3399-emu", engine="ncnn", runs=10)
    assert report.ok
    results = sdk.convert("model.onnx", engines="all")          # engine -> ConversionResult
    int8 = sdk.quantize("model.onnx", "calib_images/", engines="ncnn")  # engine -> QuantResult
    bench = sdk.bench("model.onnx", board="rk3399-emu", threads=(1, 2))

Errors a user can cause raise :class:`sdk.SdkError` (one line in ``str(exc)``); a board that
breaks off raises its subclasses ``ConnectionLost``, ``BoardBusy``, ``NoSpace``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sdk.convert import ConversionResult
    from sdk.records import QuantResult
    from sdk.report import DeployReport
    from sdk.report.bench import BenchReport


def _steps(quiet: bool) -> Any:
    from sdk.report import Steps

    return Steps(quiet=quiet)


def deploy(model: str | Path, board: str | None = None, *, quiet: bool = True,
           **options: Any) -> DeployReport:
    """Convert, bundle, push, run and check ``model`` on ``board``; returns the report.

    ``options`` are the fields of :class:`sdk.deploy.DeployOptions` (engine, precision, runs,
    warmup, threads, input_shapes, preprocess, calib, app, timeout, wait, ...). The report's
    ``ok`` says whether every model passed its check on the board."""
    from sdk.deploy import DeployOptions
    from sdk.deploy import deploy as run

    return run(Path(model), board, DeployOptions(**options), steps=_steps(quiet))


def convert(model: str | Path, engines: str = "all", *, precision: str = "fp32",
            out_dir: str | Path | None = None, input_shapes: Mapping[str, Sequence[int]] | None = None,
            threads: int = 1) -> dict[str, ConversionResult]:
    """Convert ``model`` for each engine (``all``, ``ncnn``, ``mnn``) and validate each against
    onnxruntime on the host; engine -> result (``ok``, ``model``, ``metrics``, ``error``)."""
    import sdk.convert as cv
    from sdk import engines as registry

    model = Path(model)
    out = Path(out_dir) if out_dir is not None else Path.cwd() / f"{model.stem}-converted"
    prepared = cv.prepare(model, out, dict(input_shapes) if input_shapes else None)
    feeds = cv.make_golden_inputs(prepared)
    reference = cv.run_reference(prepared, feeds)
    return cv.convert(prepared, registry.select(engines), precision, out, feeds=feeds,
                      reference=reference, threads=threads)


def quantize(model: str | Path, calib: str | Path, engines: str = "all", *,
             out_dir: str | Path | None = None, input_shapes: Mapping[str, Sequence[int]] | None = None,
             quiet: bool = True, **options: Any) -> dict[str, QuantResult]:
    """int8 for each engine from the images in ``calib``; engine -> result (accuracy vs fp32,
    mixed-precision layers). ``options``: method, per_channel, budget, analyze, limit,
    max_fp32_layers, spec (an :class:`sdk.device.preprocess.ImageSpec`)."""
    from sdk import engines as registry
    from sdk import quantize as q
    from sdk.convert import prepare
    from sdk.deploy import work_dir

    model = Path(model)
    work = Path(out_dir) if out_dir is not None else work_dir(model)
    prepared = prepare(model, work, dict(input_shapes) if input_shapes else None)
    steps = _steps(quiet)
    return q.quantize(prepared, registry.select(engines), Path(calib), work / "int8", log=steps.log,
                      **options)


def bench(model: str | Path, board: str | None = None, *, quiet: bool = True,
          **options: Any) -> BenchReport:
    """Profile ``model`` on ``board``: a sweep of threads/cores/precisions with statistics.
    ``options`` are the fields of :class:`sdk.bench.BenchOptions`."""
    from sdk.bench import BenchOptions
    from sdk.bench import bench as run

    return run(Path(model), board, BenchOptions(**options), steps=_steps(quiet))
