"""``sdk deploy --fleet`` and ``sdk bench --fleet``: the jobs, from deploy's and bench's own steps.

The host's work (prepare once; convert, validate, quantize and bundle once per board
profile, each profile in a bundle directory of its own) is done under deploy's host lock
before any board is acquired; each board then gets the bundle of its profile.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sdk.boards import BoardEntry, BoardProfile
from sdk.fleet.report import FleetReport
from sdk.fleet.run import Job, Outcome, run_fleet
from sdk.report import Steps


def _deploy_job(model: Path, opts: Any, steps: Steps) -> Job:
    from sdk.deploy import _prepare, app_name, build_for, deploy_built
    from sdk.onboard import check_facts
    from sdk.remote.board import check_app_name

    app = check_app_name(opts.app, "--app") if opts.app is not None else \
        check_app_name(app_name(model), f"the model file name {model.name!r}; pass --app NAME")
    with steps.step("prepare"):
        prep = _prepare(model, opts)

    def build(profile: BoardProfile, s: Steps) -> Any:
        return build_for(model, prep, profile, opts, s, prep[0] / f"bundle-{opts.precision}-{profile.name}")

    def run(session: Any, entry: BoardEntry, built: Any, s: Steps) -> Outcome:
        target = _target(session, entry, built.profile, opts.engine)
        report = deploy_built(target, check_facts(target, s), built, model, app, opts, s, time.time())
        p50 = {r["engine"]: r["p50_ms"] for r in report.rows() if r["p50_ms"] is not None}
        return Outcome(report.ok, p50, report.to_dict(), report.path, "; ".join(report.failures()) or None)

    return Job("deploy", model.name, build, run)


def _target(session: Any, entry: BoardEntry, profile: BoardProfile, engine: str) -> Any:
    """A held place's board as a job's target (its session already open)."""
    from sdk import engines
    from sdk.onboard import Target

    return Target(entry, profile, engines.select(engine, profile.arch, board=profile.name), session)


def fleet_deploy(model: Path, coordinator: str, tags: Mapping[str, str], options: Any = None, *,
                 max_parallel: int = 4, steps: Steps | None = None) -> FleetReport:
    """``sdk deploy MODEL --fleet COORDINATOR``: deploy on every place with ``tags``, in parallel;
    ``options.wait`` is also how long a busy place is waited for (0: skipped at once)."""
    from sdk.deploy import DeployOptions, _check_options, work_dir
    from sdk.onboard import host_lock

    opts = options or DeployOptions()
    steps = steps or Steps()
    _check_options(opts)
    model = Path(model)
    with host_lock(work_dir(model), opts.wait, steps.log):
        job = _deploy_job(model, opts, steps)
        return run_fleet(job, coordinator, tags, max_parallel=max_parallel, wait=opts.wait, steps=steps)


def _bench_job(model: Path, opts: Any, steps: Steps) -> Job:
    from sdk import engines
    from sdk.bench import (
        _Board,
        _check,
        _deploy_options,
        _prepare,
        check_result,
        host_board,
        resolve_cores,
        sweep_bundle,
        sweep_on_board,
    )
    from sdk.errors import SdkError
    from sdk.onboard import check_facts

    _check(opts)
    with steps.step("prepare"):
        prep = _prepare(model, _deploy_options(opts, opts.precisions[0]))

    def build(profile: BoardProfile, s: Steps) -> Any:
        for c in opts.cores:
            resolve_cores(c, profile)
        names = engines.select(opts.engine, profile.arch, board=profile.name)
        b = host_board(prep, profile, names, opts, s, model)
        return b, sweep_bundle(b, s, b.work / f"bundle-bench-{profile.name}")

    def run(session: Any, entry: BoardEntry, built: Any, s: Steps) -> Outcome:
        hs, bundle = built
        target = _target(session, entry, hs.profile, opts.engine)
        b = _Board.of(hs, target, check_facts(target, s))
        report = sweep_on_board(b, bundle, model, opts, s, None, time.time())
        p50 = {r.config.label: r.summary.p50 for r in report.run.results if r.ok and r.summary is not None}
        try:
            check_result(report)
            error = None
        except SdkError as exc:
            error = exc.one_line()
        return Outcome(error is None, p50, report.to_dict(), report.path, error)

    return Job("bench", model.name, build, run)


def fleet_bench(model: Path, coordinator: str, tags: Mapping[str, str], options: Any = None, *,
                max_parallel: int = 4, steps: Steps | None = None) -> FleetReport:
    """``sdk bench MODEL --fleet COORDINATOR``: the sweep on every place with ``tags``."""
    from sdk.bench import BenchOptions
    from sdk.deploy import work_dir
    from sdk.onboard import host_lock

    opts = options or BenchOptions()
    steps = steps or Steps()
    model = Path(model)
    with host_lock(work_dir(model), opts.wait, steps.log):
        job = _bench_job(model, opts, steps)
        return run_fleet(job, coordinator, tags, max_parallel=max_parallel, wait=opts.wait, steps=steps)
