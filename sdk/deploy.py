"""The main job: one function that walks the flow of a deployment step by step.

    prepare -> convert + validate (host) -> bundle -> push -> run (board) -> report
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdk import engines
from sdk.boards import BoardEntry, BoardProfile, Inventory
from sdk.device.preprocess import ImageSpec
from sdk.errors import BundleError, SdkError
from sdk.golden_image import image_input, synthetic_image  # noqa: F401  (moved; still importable here)
from sdk.onboard import Target, check_facts, host_lock, largest_model, open_board, run_timeout, staged
from sdk.paths import cache_dir
from sdk.quantize import MAX_FP32_LAYERS
from sdk.records import BundledPreprocess, EngineModel
from sdk.report import DeployReport, Steps

DEFAULT_EMULATED = "rk3399"
TASK_SAMPLES = 4  # int8: held-out calibration images the board judges its outputs on by the task

if TYPE_CHECKING:
    import numpy as np

    from sdk.bundle import Bundle
    from sdk.convert import ConversionResult, PreparedModel
    from sdk.remote.board import BoardFacts


@dataclass
class DeployOptions:
    engine: str = "all"
    precision: str = "fp32"
    input_shapes: Mapping[str, Sequence[int]] = field(default_factory=dict)
    runs: int = 20
    warmup: int = 3
    threads: int | None = None
    report_dir: Path | None = None
    preprocess: ImageSpec | None = None  # the board makes this input from a u8 image
    image: Path | None = None  # the golden image (default: a synthetic one)
    golden: Path | None = None  # real golden inputs (.npz, one array per input; as `sdk convert --golden`)
    calib: Path | None = None  # int8: calibration images
    method: str | None = None  # int8: calibration method (None: each engine's best)
    per_channel: bool = True
    budget: float | None = None  # int8: floor of the task metric vs fp32 (None: the task's default)
    max_fp32_layers: int = MAX_FP32_LAYERS  # int8: most layers mixed precision returns to fp32
    app: str | None = None  # the app's directory name on the board (default: the model's name)
    timeout: float | None = None  # seconds per model variant on the board (default: from size, runs)
    wait: float = 300.0  # how long to wait for another deploy of the same app to finish
    task: str | None = None  # int8: what the budget judges (None: found in the model's outputs)


def resolve_board(name: str | BoardEntry | None, *, log: Callable[[str], None] | None = None) -> BoardEntry:
    """The board to deploy to: the named one, the only real one, or the emulated default (an
    entry already resolved, such as a held labgrid place, passes through)."""
    if isinstance(name, BoardEntry):
        return name
    inv = Inventory()
    if name is not None:
        try:
            entry = inv.get(name)
        except SdkError:
            # An emulated board may be asked for by its profile name ("rk3399-emu").
            if name.endswith("-emu"):
                from sdk.emulate import ensure_emulated

                return ensure_emulated(name.removesuffix("-emu"), log=log)
            raise
        if entry.emulated:  # its sshd may have stopped with the host: start it again
            from sdk.emulate import start_emulated

            return start_emulated(entry.profile, entry.name, log=log)
        return entry
    real = inv.real_boards()
    if len(real) == 1:
        return real[0]
    if len(real) > 1:
        raise SdkError(
            "several boards are configured and none was chosen",
            expected="--board NAME",
            found=", ".join(sorted(b.name for b in real)),
            fix="pass --board with one of those names",
        )
    from sdk.emulate import ensure_emulated

    return ensure_emulated(DEFAULT_EMULATED, log=log)


def work_dir(model: Path) -> Path:
    """The cache directory for one model's file contents (conversions, bundles, reports)."""
    digest = hashlib.sha256(model.read_bytes()).hexdigest()[:16] if model.is_file() else "x"
    return cache_dir() / "work" / f"{app_name(model)}-{digest}"


def app_name(model: Path) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model.stem)


@dataclass
class _HostModels:
    """What the host made for the board: the variants, their golden outputs, the host rows."""

    results: dict[str, ConversionResult]
    models: list[EngineModel]
    golden: dict[str, dict[str, Any]] = field(default_factory=dict)  # variant id -> outputs
    quant: dict[str, Any] = field(default_factory=dict)  # engine -> QuantResult
    samples: dict[str, dict[str, Any]] = field(default_factory=dict)  # int8 variant id -> task samples


def _check_options(opts: DeployOptions) -> None:
    if opts.precision not in engines.precisions():
        raise SdkError(f"unknown precision '{opts.precision}'",
                       expected=" | ".join(engines.precisions()), found=opts.precision)
    if (opts.precision == "int8") != (opts.calib is not None):
        raise SdkError("--calib DIR goes with --precision int8 (and int8 needs it)",
                       found=f"--precision {opts.precision}, --calib {opts.calib}",
                       fix="pass both, e.g. --precision int8 --calib images/")


def _prepare(model: Path, opts: DeployOptions) -> tuple[Path, PreparedModel, BundledPreprocess | None,
                                                         np.ndarray | None, np.ndarray | None]:
    """The prepared model and, with --preprocess, the input the board makes from an image."""
    from sdk import convert as cv

    work = work_dir(model)
    prepared = cv.prepare(model, work, opts.input_shapes or None)
    if opts.preprocess is None:
        if opts.golden is not None:  # a bad file fails here, before the board is touched
            cv.load_golden(prepared, opts.golden)
        return work, prepared, None, None, None
    name, image, image_x = image_input(prepared, opts.preprocess, opts.image)
    if opts.golden is not None:
        cv.load_golden(prepared, opts.golden, skip={name})
    pre = BundledPreprocess(spec=opts.preprocess.to_dict(), input=name,
                            source="gray" if opts.preprocess.color == "gray" else "bgr")
    return work, prepared, pre, image, image_x


def deploy(
    model: Path,
    board: str | None = None,
    options: DeployOptions | None = None,
    *,
    steps: Steps | None = None,
) -> DeployReport:
    """Deploy ``model`` to ``board`` (default: the emulated rk3399) and return the report.

    Raises :class:`~sdk.errors.SdkError` subclasses: ``ConnectionLost`` (re-running resumes),
    ``BoardBusy`` (another deploy of the app held the board longer than ``options.wait``),
    ``NoSpace``, ``Interrupted`` (Ctrl-C; the previous bundle stays current). A board named
    ``labgrid:PLACE`` is acquired from its coordinator for the deploy and released after."""

    from sdk.remote.board import check_app_name

    opts = options or DeployOptions()
    steps = steps or Steps()
    t_start = time.time()
    _check_options(opts)
    model = Path(model)
    app = check_app_name(opts.app, "--app") if opts.app is not None else \
        check_app_name(app_name(model), f"the model file name {model.name!r}; pass --app NAME")
    from sdk.fleet import held_board

    with host_lock(work_dir(model), opts.wait, steps.log), held_board(board, opts.wait, steps.log) as target:
        return _deploy(model, target, opts, steps, app, t_start)


def _deploy(model: Path, board: str | BoardEntry | None, opts: DeployOptions, steps: Steps, app: str,
            t_start: float) -> DeployReport:
    with steps.step("prepare"):  # cheap model checks first: a bad file fails before any board work
        prep = _prepare(model, opts)
    target = open_board(board, opts.engine, steps)  # a wrong board fails before the slow work
    with target.session:
        facts = check_facts(target, steps)
        built = build_for(model, prep, target.profile, opts, steps)
        return deploy_built(target, facts, built, model, app, opts, steps, t_start)


@dataclass
class Built:
    """What the host made for one board profile: the checked model variants and their bundle
    (a fleet run makes it once per profile and pushes it to every board of that profile)."""

    prepared: PreparedModel
    profile: BoardProfile
    threads: int
    host: _HostModels
    bundle: Bundle
    work: Path


def build_for(model: Path, prep: tuple[Any, ...], profile: BoardProfile, opts: DeployOptions, steps: Steps,
              bundle_dir: Path | None = None) -> Built:
    """Convert, validate (and quantize) on the host for ``profile``, then bundle."""
    work, prepared, pre, image, image_x = prep
    engine_names = engines.select(opts.engine, profile.arch, board=profile.name)
    threads = opts.threads or profile.default_threads
    feeds, reference, host = _host_models(prepared, engine_names, opts, work, steps, pre, image_x)
    if not host.models:
        raise SdkError(
            f"no engine could deploy {model.name}",
            found="; ".join(f"{r.engine}: {r.error}" for r in host.results.values()),
            fix="run 'sdk convert' on the model for per-output numbers",
        )
    bundle = _bundle(prepared, profile, host, feeds, reference, work, steps, threads, pre, image,
                     bundle_dir or work / f"bundle-{opts.precision}")
    return Built(prepared, profile, threads, host, bundle, work)


def deploy_built(target: Target, facts: BoardFacts, built: Built, model: Path, app: str,
                 opts: DeployOptions, steps: Steps, t_start: float) -> DeployReport:
    """Push ``built`` to the checked board, run it there, save and return the report."""
    report = DeployReport.start(model, target.entry, built.profile, opts.precision, built.threads,
                                built.host.results, built.prepared.sha256)
    report.add_quantization(built.host.quant)
    bundle = built.bundle
    report.bundle = {"id": bundle.id, "path": str(bundle.root), "bytes": bundle.size}
    _on_board(target, facts, bundle, app, opts, steps, built.threads, report)
    report.seconds = time.time() - t_start
    report.save(opts.report_dir or built.work / "reports")
    return report


def _host_models(prepared: PreparedModel, engine_names: list[str], opts: DeployOptions, work: Path,
                 steps: Steps, pre: BundledPreprocess | None, image_x: np.ndarray | None,
                 ) -> tuple[dict[str, Any], dict[str, Any], _HostModels]:
    """Convert and validate on the host; int8 beside its fp32 baseline. The golden feeds,
    the onnxruntime reference and what goes into the bundle."""
    from sdk import convert as cv

    with steps.step("convert + validate on host"):
        fixed = {pre.input: image_x} if pre is not None and image_x is not None else {}
        feeds, reference = cv.golden_and_reference(prepared, opts.golden, fixed=fixed)
        base = "fp32" if opts.precision == "int8" else opts.precision
        results = cv.convert(prepared, engine_names, base, work / base, feeds=feeds, reference=reference)
        for r in results.values():
            steps.log(f"{r.engine}: " + ("ok" if r.ok else f"FAILED: {r.error}"))
    good = {e: r.model for e, r in results.items() if r.ok and r.model is not None}
    host = _HostModels(results, list(good.values()))
    if opts.precision == "int8" and good:
        with steps.step("quantize to int8"):
            _int8_models(prepared, good, feeds, work, opts, steps, host)
    return feeds, reference, host


def _int8_models(prepared: PreparedModel, fp32: dict[str, EngineModel], feeds: dict[str, Any], work: Path,
                 opts: DeployOptions, steps: Steps, host: _HostModels) -> None:
    """int8 models (mixed precision to the budget) next to their fp32 baselines, by the same
    function as ``sdk quantize``; calibration images go through the deployment's own
    preprocessing. The board must reproduce the host's int8 outputs; the fp32 model rides
    along so the report shows int8 against fp32 on the same board.
    """
    from sdk import quantize as q
    from sdk.quantize.calib import load_calibration

    assert opts.calib is not None
    host.quant = q.quantize(prepared, list(fp32), opts.calib, work / "int8", spec=opts.preprocess,
                            method=opts.method, per_channel=opts.per_channel, budget=opts.budget,
                            max_fp32_layers=opts.max_fp32_layers, log=steps.log, fp32=fp32, task=opts.task)
    inp = prepared.inputs[0]
    _, held = q.split_feeds(load_calibration(opts.calib, inp.name, tuple(inp.shape), opts.preprocess))
    held = held[:TASK_SAMPLES]
    host.models = []
    for engine, em in fp32.items():
        res = host.quant[engine]
        host.models.append(em)
        if not res.ok or res.model is None:
            steps.log(f"{engine}: int8 FAILED: {res.error}")
            continue
        host.models.append(res.model)
        host.golden[res.model.id] = q.run_model(res.model, [feeds])[0]
        # the board judges its int8 outputs on held-out images by the task, as the host did
        host.samples[res.model.id] = {"task": res.task, "floor": res.budget, "inputs": held,
                                      "host": q.run_model(res.model, held), "fp32": q.run_model(em, held)}
    if not any(m.precision == "int8" for m in host.models):
        raise SdkError("no engine could be quantized",
                       found="; ".join(f"{e}: {r.error}" for e, r in host.quant.items()))


def _bundle(prepared: PreparedModel, profile: BoardProfile, host: _HostModels, feeds: dict[str, Any],
            reference: dict[str, Any], work: Path, steps: Steps, threads: int,
            pre: BundledPreprocess | None, image: np.ndarray | None, bundle_dir: Path,
            pins: dict[str, str] | None = None) -> Bundle:
    from sdk.bundle import build_bundle
    from sdk.bundle.wheels import board_wheels, requirements_for

    kernels_so: list[Path] = []
    if pre is not None:
        with steps.step(f"build sdk._kernels for {profile.arch}"):
            from sdk.kernels.build import build_for_board

            kernels_so.append(build_for_board(profile.arch, profile.python, work / "kernels"))
            steps.log(f"{kernels_so[0].name}")
    with steps.step("bundle"):
        wheels = board_wheels(profile, log=steps.log, pins=pins)
        return build_bundle(
            bundle_dir, prepared=prepared, profile=profile,
            models=host.models, feeds=feeds, reference=reference, wheels=wheels,
            requirements=requirements_for(profile, pins), options={"threads": threads},
            preprocess=pre, image=image, extra_runtime=kernels_so, golden_by_model=host.golden,
            task_samples=host.samples,
        )


def _on_board(target: Target, facts: BoardFacts, bundle: Bundle, app: str, opts: DeployOptions,
              steps: Steps, threads: int, report: DeployReport) -> None:
    """Lock the app, push, install, run; switch ``current`` to the bundle only if it passed
    (faults as :func:`sdk.onboard.staged` reports them)."""
    from sdk.remote.board import activate, run_on_board

    with staged(target, facts, bundle, app, wait=opts.wait, steps=steps) as job:
        stats = job.pushed.stats
        report.push = {"files_sent": stats.files_sent, "bytes_sent": stats.bytes_sent,
                       "files_skipped": stats.files_skipped, "remote_dir": job.pushed.bundle_dir}
        timeout = opts.timeout or run_timeout(largest_model(bundle), opts.runs, opts.warmup)
        with steps.step("run on board"):
            steps.log(f"timeout {timeout:g} s per model variant" + ("" if opts.timeout else
                      " (from the model's size and --runs; set with --timeout S)"))
            doc = run_on_board(target.session, job.pushed, job.python, runs=opts.runs, warmup=opts.warmup,
                               threads=threads, cpus=list(target.profile.big_cpus), log=steps.log,
                               timeout=timeout)
        report.add_board_result(doc)
        job.step = "switch"
        if report.ok:
            activate(target.session, job.pushed, bundle.id)
            report.activated = True


def check_result(report: DeployReport) -> None:
    """Raise when the board's check failed (the CLI's exit code)."""
    if not report.ok:
        raise BundleError(
            "the deployment ran but did not pass on the board",
            found="; ".join(report.failures()) or "no engine result",
            fix="see the report for per-output numbers",
        )


# `sdk.deploy(...)` is the Python API call (sdk.api.deploy); this module stays importable as before
from sdk._callable import make_callable  # noqa: E402

make_callable(__name__, "deploy")
