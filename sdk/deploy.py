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

from sdk.boards import BoardEntry, BoardProfile, Inventory, load_profile
from sdk.errors import BundleError, SdkError
from sdk.paths import cache_dir
from sdk.report import DeployReport, Steps

ENGINE_CHOICES = ("ncnn", "mnn", "all")
PRECISION_CHOICES = ("fp32", "fp16")
DEFAULT_EMULATED = "rk3399"


@dataclass
class DeployOptions:
    engine: str = "all"
    precision: str = "fp32"
    input_shapes: Mapping[str, Sequence[int]] = field(default_factory=dict)
    runs: int = 20
    warmup: int = 3
    threads: int | None = None
    report_dir: Path | None = None


def resolve_board(name: str | None, *, log: Callable[[str], None] | None = None) -> BoardEntry:
    """The board to deploy to: the named one, the only real one, or the emulated default."""
    inv = Inventory()
    if name is not None:
        try:
            return inv.get(name)
        except SdkError:
            # An emulated board may be asked for by its profile name ("rk3399-emu").
            if name.endswith("-emu"):
                from sdk.emulate import ensure_emulated

                return ensure_emulated(name.removesuffix("-emu"), log=log)
            raise
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


def _engines(choice: str, profile: BoardProfile) -> list[str]:
    from sdk.bundle.wheels import ENGINES_BY_ARCH

    if choice not in ENGINE_CHOICES:
        raise SdkError(f"unknown engine '{choice}'", expected=" | ".join(ENGINE_CHOICES),
                       found=choice)
    avail = ENGINES_BY_ARCH[profile.arch]
    if choice == "all":
        return list(avail)
    if choice not in avail:
        raise SdkError(
            f"engine '{choice}' has no build for {profile.arch} boards ({profile.name})",
            expected=" | ".join(avail), found=choice,
        )
    return [choice]


def app_name(model: Path) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model.stem) or "model"


def deploy(
    model: Path,
    board: str | None = None,
    options: DeployOptions | None = None,
    *,
    steps: Steps | None = None,
) -> DeployReport:
    """Deploy ``model`` to ``board`` (default: the emulated rk3399) and return the report."""
    from sdk import convert as cv
    from sdk.bundle import build_bundle
    from sdk.bundle.push import activate, check_board, check_disk, ensure_venv, push, run_on_board
    from sdk.bundle.wheels import board_wheels, requirements_for
    from sdk.remote import open_session, probe

    opts = options or DeployOptions()
    steps = steps or Steps()
    t_start = time.time()
    if opts.precision not in PRECISION_CHOICES:
        raise SdkError(f"unknown precision '{opts.precision}'",
                       expected=" | ".join(PRECISION_CHOICES), found=opts.precision,
                       fix="int8 needs --calib (see 'sdk quantize')")
    model = Path(model)
    with steps.step("prepare"):
        # cheap model checks first: a bad file fails before any board is started
        digest = hashlib.sha256(model.read_bytes()).hexdigest()[:16] if model.is_file() else "x"
        work = cache_dir() / "work" / f"{app_name(model)}-{digest}"
        prepared = cv.prepare(model, work, opts.input_shapes or None)
    with steps.step("board"):
        entry = resolve_board(board, log=steps.log)
        profile = load_profile(entry.profile)
        engines = _engines(opts.engine, profile)
        threads = opts.threads or profile.default_threads
        # connect and check the board before the slow work: a wrong board fails fast
        session = open_session(entry)
    with session:
        facts = probe(session)
        check_board(entry.name, facts, profile)
        steps.log(f"{entry.name}: {facts.machine}, Python {facts.python}, "
                  f"{facts.free_bytes / 2**30:.1f} GiB free")
        with steps.step("convert + validate on host"):
            feeds = cv.make_golden_inputs(prepared)
            reference = cv.run_reference(prepared, feeds)
            results = cv.convert(prepared, engines, opts.precision, work / opts.precision,
                                 feeds=feeds, reference=reference)
            for r in results.values():
                steps.log(f"{r.engine}: " + ("ok" if r.ok else f"FAILED: {r.error}"))
        good = {e: r.model for e, r in results.items() if r.ok and r.model is not None}
        report = DeployReport.start(model, entry, profile, opts.precision, threads, results)
        if not good:
            raise SdkError(
                f"no engine could deploy {model.name}",
                found="; ".join(f"{r.engine}: {r.error}" for r in results.values()),
                fix="run 'sdk convert' on the model for per-output numbers",
            )
        with steps.step("bundle"):
            wheels = board_wheels(profile, log=steps.log)
            floor = 0.999 if opts.precision == "fp32" else 0.99
            bundle = build_bundle(
                work / f"bundle-{opts.precision}", prepared=prepared, profile=profile,
                models=good, feeds=feeds, reference=reference, wheels=wheels,
                requirements=requirements_for(profile),
                options={"min_cosine": {e: floor for e in good}, "threads": threads},
            )
            report.bundle = {"id": bundle.id, "path": str(bundle.root), "bytes": bundle.size}
            check_disk(entry.name, facts, bundle)
        with steps.step("push"):
            pushed = push(session, bundle, facts, app_name(model), progress=steps.bytes_progress)
            report.push = {"files_sent": pushed.stats.files_sent,
                           "bytes_sent": pushed.stats.bytes_sent,
                           "files_skipped": pushed.stats.files_skipped,
                           "remote_dir": pushed.bundle_dir}
            steps.log(f"sent {pushed.stats.files_sent} files ({pushed.stats.bytes_sent} bytes), "
                      f"{pushed.stats.files_skipped} unchanged")
        with steps.step("install runtime on board"):
            python = ensure_venv(session, bundle, pushed, facts, log=steps.log)
        with steps.step("run on board"):
            doc = run_on_board(session, pushed, python, runs=opts.runs, warmup=opts.warmup,
                               threads=threads, cpus=list(profile.big_cpus), log=steps.log)
        report.add_board_result(doc)
        if report.ok:
            activate(session, pushed, bundle.id)
            report.activated = True
    report.seconds = time.time() - t_start
    report.save(opts.report_dir or work / "reports")
    return report


def check_result(report: DeployReport) -> None:
    """Raise when the board's check failed (the CLI's exit code)."""
    if not report.ok:
        raise BundleError(
            "the deployment ran but did not pass on the board",
            found="; ".join(report.failures()) or "no engine result",
            fix="see the report for per-output numbers",
        )


