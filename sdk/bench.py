"""``sdk bench``: profiling on the board that people can trust.

One result per configuration (engine x precision x threads x cores), converted, bundled
and pushed the way :func:`sdk.deploy.deploy` does it (the same steps and caches: nothing is
converted twice), then measured on the board by :mod:`sdk.device.bench`: pinned, settled,
clocks and heat sampled, every sample kept, a bootstrap interval of each median. It ends
with a verdict: the fastest configuration that passes its golden check, and whether int8
or more threads paid on this board.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sdk import engines
from sdk.boards import BoardEntry, BoardProfile
from sdk.deploy import DeployOptions, _bundle, _host_models, _HostModels, _prepare, app_name, work_dir
from sdk.device.preprocess import ImageSpec
from sdk.errors import SdkError
from sdk.fleet import held_board
from sdk.onboard import Target, check_facts, host_lock, largest_model, open_board, run_timeout, staged
from sdk.quantize import MAX_FP32_LAYERS
from sdk.records import BenchConfig, BenchPlan, BenchResult, EngineModel
from sdk.report import Steps
from sdk.report.bench import BenchReport

CORE_SETS = ("big", "little", "all")


@dataclass
class BenchOptions:
    engine: str = "all"
    precisions: tuple[str, ...] = ("fp32",)
    threads: tuple[int, ...] = ()  # empty: the profile's default
    cores: tuple[str, ...] = ("big",)  # big | little | all | a cpu list such as 4,5 or 0-3
    runs: int = 20
    warmup: int = 3
    min_time: float = 0.0
    rate: float | None = None
    duration: float | None = None
    layers: bool = False
    settle_s: float = 30.0
    input_shapes: Mapping[str, Sequence[int]] = field(default_factory=dict)
    preprocess: ImageSpec | None = None
    image: Path | None = None
    golden: Path | None = None  # real golden inputs (.npz), as `sdk convert --golden`
    calib: Path | None = None  # int8
    method: str | None = None
    per_channel: bool = True
    budget: float | None = None  # int8: floor of the task metric (None: the task's default)
    max_fp32_layers: int = MAX_FP32_LAYERS
    task: str | None = None  # int8: what the budget judges (None: found in the model's outputs)
    report_dir: Path | None = None
    timeout: float | None = None  # seconds per configuration on the board (default: from size, runs)
    wait: float = 300.0  # how long to wait for a deploy or bench of the same app to finish
    # engine -> (A version, B version): the same sweep on the board with two engine releases
    engine_versions: Mapping[str, tuple[str, str]] = field(default_factory=dict)


def parse_cpus(text: str) -> list[int]:
    """``4,5`` or ``0-3`` or ``0-1,4`` -> cpu ids."""
    cpus: list[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m or (m.group(2) and int(m.group(2)) < int(m.group(1))):
            raise SdkError(f"bad --cores {text!r}", found=repr(text),
                           expected="big | little | all | a cpu list like 4,5 or 0-3")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        cpus += [c for c in range(lo, hi + 1) if c not in cpus]
    return cpus


def resolve_cores(name: str, profile: BoardProfile) -> list[int]:
    """The cpus a core set names on a board of ``profile``."""
    if name == "big":
        return list(profile.clusters[0].cpus)
    if name == "little":
        if len(profile.clusters) < 2:
            raise SdkError(f"board profile {profile.name} has one cluster: no little cores",
                           expected="big | all | a cpu list", found="little")
        return list(profile.clusters[-1].cpus)
    if name == "all":
        return sorted(c for cl in profile.clusters for c in cl.cpus)
    cpus = parse_cpus(name)
    known = {c for cl in profile.clusters for c in cl.cpus}
    if not set(cpus) <= known:
        raise SdkError(f"--cores {name}: cpus {sorted(set(cpus) - known)} are not on a {profile.name}",
                       expected=f"cpus of {sorted(known)}", found=name)
    return cpus


def _check(opts: BenchOptions) -> None:
    for p in opts.precisions:
        if p not in engines.precisions():
            raise SdkError(f"unknown precision '{p}'", expected=" | ".join(engines.precisions()), found=p)
    if ("int8" in opts.precisions) != (opts.calib is not None):
        raise SdkError("--calib DIR goes with --precision int8 (and int8 needs it)",
                       found=f"--precision {','.join(opts.precisions)}, --calib {opts.calib}",
                       fix="pass both, e.g. --precision fp32,int8 --calib images/")
    if any(t < 1 for t in opts.threads):
        raise SdkError("--threads takes positive counts", found=",".join(map(str, opts.threads)))
    if opts.rate is not None and opts.rate <= 0:
        raise SdkError("--rate is frames per second", expected="> 0", found=str(opts.rate))
    if opts.duration is not None and opts.duration <= 0:
        raise SdkError("--duration is seconds", expected="> 0", found=str(opts.duration))
    for c in opts.cores:  # the syntax now; which cpus the board's profile has, once it is known
        if c not in CORE_SETS:
            parse_cpus(c)


def _deploy_options(opts: BenchOptions, precision: str) -> DeployOptions:
    return DeployOptions(engine=opts.engine, precision=precision, input_shapes=opts.input_shapes,
                         preprocess=opts.preprocess, image=opts.image, golden=opts.golden,
                         calib=opts.calib if precision == "int8" else None, method=opts.method,
                         per_channel=opts.per_channel, budget=opts.budget,
                         max_fp32_layers=opts.max_fp32_layers, task=opts.task)


def plan_for(models: Sequence[EngineModel], opts: BenchOptions, profile: BoardProfile) -> BenchPlan:
    """Every configuration: each model variant the sweep asked for x threads x core sets."""
    threads = opts.threads or (profile.default_threads,)
    wanted = [m for m in models if m.precision in opts.precisions]
    configs = [BenchConfig(model=m.id, engine=m.engine, precision=m.precision, threads=t, cores=c,
                           cpus=resolve_cores(c, profile))
               for m in wanted for c in opts.cores for t in threads]
    return BenchPlan(configs=configs, runs=opts.runs, warmup=opts.warmup, min_time=opts.min_time,
                     rate=opts.rate, duration=opts.duration, layers=opts.layers, settle_s=opts.settle_s,
                     clusters=[list(c.cpus) for c in profile.clusters])


def _host_sweep(prepared: Any, engine_names: list[str], opts: BenchOptions, work: Path, steps: Steps,
                pre: Any, image_x: Any) -> tuple[dict[str, Any], dict[str, Any], _HostModels]:
    """The host models of every precision asked for, merged into one bundle's worth."""
    merged: _HostModels | None = None
    feeds: dict[str, Any] = {}
    reference: dict[str, Any] = {}
    for precision in dict.fromkeys(opts.precisions):
        feeds, reference, host = _host_models(prepared, engine_names, _deploy_options(opts, precision), work,
                                              steps, pre, image_x)
        if merged is None:
            merged = host
            continue
        ids = {m.id for m in merged.models}
        merged.models += [m for m in host.models if m.id not in ids]
        merged.golden.update(host.golden)
        merged.samples.update(host.samples)
        merged.quant.update(host.quant)
        merged.results.update({e: r for e, r in host.results.items() if not merged.results[e].ok})
    assert merged is not None
    return feeds, reference, merged


def parse_engine_versions(items: Sequence[str]) -> dict[str, tuple[str, str]]:
    """``ncnn=1.0.20260526,1.0.20261020`` (repeatable, one per engine) -> engine -> (A, B)."""
    out: dict[str, tuple[str, str]] = {}
    for item in items:
        name, _, vers = item.partition("=")
        pair = [v.strip() for v in vers.split(",") if v.strip()]
        if name not in engines.names() or len(pair) != 2 or pair[0] == pair[1]:
            raise SdkError(f"bad --engine-version {item!r}",
                           expected=f"ENGINE=OLD,NEW with ENGINE one of {', '.join(engines.names())} "
                           "and two different versions", found=item,
                           fix="e.g. --engine-version ncnn=1.0.20260526,1.0.20261020")
        if name in out:
            raise SdkError(f"--engine-version names {name} twice", found=item)
        out[name] = (pair[0], pair[1])
    return out


def sweep_timeout(model_bytes: int, plan: BenchPlan) -> float:
    """Default seconds per configuration: a deploy's run (sdk.onboard.run_timeout) over every
    inference the configuration makes (runs, the overhead blocks, the whole frame, layers),
    plus the settling, ``min_time`` and ``duration`` it waits for."""
    calls = plan.runs + 2 * min(plan.runs, 50) + max(3, min(plan.runs, 20)) + (10 if plan.layers else 0)
    paced = calls / plan.rate if plan.rate else 0.0
    return float(round(run_timeout(model_bytes, calls, plan.warmup) + plan.settle_s + plan.min_time
                       + (plan.duration or 0.0) + paced))


@dataclass
class HostSweep:
    """What the sweep made on the host for one board profile (a fleet run makes it once per
    profile and measures it on every board of that profile)."""

    profile: BoardProfile
    prepared: Any
    host: _HostModels
    feeds: dict[str, Any]
    reference: dict[str, Any]
    work: Path
    pre: Any
    image: Any


@dataclass
class _Board(HostSweep):
    """A checked board with an open session, and the host's work for its profile."""

    target: Target
    facts: Any

    @classmethod
    def of(cls, hs: HostSweep, target: Target, facts: Any) -> _Board:
        return cls(**{f.name: getattr(hs, f.name) for f in fields(HostSweep)}, target=target, facts=facts)


def _run_sweep(b: _Board, model: Path, opts: BenchOptions, steps: Steps, log: Callable[[str], None] | None,
               pins: dict[str, str] | None = None, tag: str = "",
               t_start: float | None = None) -> BenchReport:
    """Bundle (with the engine releases ``pins`` names), push, install, measure, save; the
    report's seconds count from ``t_start`` (default: now)."""
    t_start = time.time() if t_start is None else t_start
    bundle = sweep_bundle(b, steps, b.work / f"bundle-bench{tag}", pins)
    return sweep_on_board(b, bundle, model, opts, steps, log, t_start)


def sweep_bundle(hs: HostSweep, steps: Steps, bundle_dir: Path, pins: dict[str, str] | None = None) -> Any:
    """The bundle of every model variant of the sweep (with the engine releases ``pins`` names)."""
    return _bundle(hs.prepared, hs.profile, hs.host, hs.feeds, hs.reference, hs.work, steps,
                   hs.profile.default_threads, hs.pre, hs.image, bundle_dir, pins)


def sweep_on_board(b: _Board, bundle: Any, model: Path, opts: BenchOptions, steps: Steps,
                   log: Callable[[str], None] | None, t_start: float) -> BenchReport:
    """Push ``bundle`` to the board ``b`` holds, install, measure every configuration, save."""
    from sdk.remote.board import check_app_name, run_bench

    profile = b.profile
    plan = plan_for(b.host.models, opts, profile)
    plan.timeout = opts.timeout or sweep_timeout(largest_model(bundle), plan)
    app = check_app_name(app_name(model), f"the model file name {model.name!r}")
    with staged(b.target, b.facts, bundle, app, wait=opts.wait, steps=steps) as job:
        job.step = "bench"
        n = len(plan.configs)
        with steps.step(f"bench on board: {n} configurations"):
            steps.log(f"timeout {plan.timeout:g} s per configuration" + ("" if opts.timeout else
                      " (from the model's size, --runs and the sweep; set with --timeout S)")
                      + f", at most {plan.timeout * n + 60:g} s in all")
            run = run_bench(b.target.session, job.pushed, job.python, plan, log=log or steps.log)
    report = BenchReport.build(model, b.prepared.sha256, b.target.entry, profile, plan, run, b.host,
                               bundle.id)
    report.seconds = time.time() - t_start
    report.save(opts.report_dir or b.work / "reports")
    return report


def _open(model: Path, board: str | BoardEntry | None, opts: BenchOptions,
          steps: Steps) -> tuple[Any, Target]:
    _check(opts)
    with steps.step("prepare"):
        prep = _prepare(model, _deploy_options(opts, opts.precisions[0]))

    def cores_exist(profile: BoardProfile) -> None:  # a wrong core set fails before any slow work
        for c in opts.cores:
            resolve_cores(c, profile)

    return prep, open_board(board, opts.engine, steps, check=cores_exist)


def _on_host(target: Target, prep: Any, engine_names: list[str], opts: BenchOptions, steps: Steps,
             model: Path) -> _Board:
    facts = check_facts(target, steps)
    return _Board.of(host_board(prep, target.profile, engine_names, opts, steps, model), target, facts)


def host_board(prep: Any, profile: BoardProfile, engine_names: list[str], opts: BenchOptions, steps: Steps,
               model: Path) -> HostSweep:
    """The sweep's host work for ``profile``: convert, validate, quantize (no board yet)."""
    work, prepared, pre, image, image_x = prep
    feeds, reference, host = _host_sweep(prepared, engine_names, opts, work, steps, pre, image_x)
    if not host.models:
        raise SdkError(f"no engine could deploy {model.name}",
                       found="; ".join(f"{r.engine}: {r.error}" for r in host.results.values()))
    return HostSweep(profile, prepared, host, feeds, reference, work, pre, image)


def bench(model: Path, board: str | None = None, options: BenchOptions | None = None, *,
          steps: Steps | None = None, log: Callable[[str], None] | None = None) -> BenchReport:
    """Benchmark ``model`` on ``board`` (default: as ``sdk deploy`` picks) for every configuration."""
    opts = options or BenchOptions()
    if opts.engine_versions:
        raise SdkError("an engine-version A/B is sdk.bench.bench_ab, not bench")
    steps = steps or Steps()
    t_start = time.time()
    model = Path(model)
    with host_lock(work_dir(model), opts.wait, steps.log), held_board(board, opts.wait, steps.log) as held:
        prep, target = _open(model, held, opts, steps)
        with target.session:
            b = _on_host(target, prep, target.engines, opts, steps, model)
            return _run_sweep(b, model, opts, steps, log, t_start=t_start)


@dataclass
class ABReport:
    """An engine-version A/B: the same sweep with two engine releases, and their comparison."""

    versions: dict[str, tuple[str, str]]
    a: BenchReport
    b: BenchReport
    comparison: Any  # sdk.report.compare.Comparison

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "bench-ab", "versions": {e: list(v) for e, v in self.versions.items()},
                "a": self.a.to_dict(), "b": self.b.to_dict(), "comparison": self.comparison.to_dict()}


def ab_label(versions: Mapping[str, tuple[str, str]], side: int) -> str:
    return " ".join(f"{e} {v[side]}" for e, v in versions.items())


def bench_ab(model: Path, board: str | None = None, options: BenchOptions | None = None, *,
             steps: Steps | None = None, log: Callable[[str], None] | None = None,
             threshold_pct: float | None = None) -> ABReport:
    """The same sweep on ``board`` with two releases of the engines ``options.engine_versions``
    names (one offline venv per wheel set, both bundles cached), then B compared with A:
    the speed verdict per configuration and whether the outputs still agree."""
    from sdk.report.compare import DEFAULT_THRESHOLD_PCT, compare

    opts = options or BenchOptions()
    if not opts.engine_versions:
        raise SdkError("an engine-version A/B needs --engine-version ENGINE=OLD,NEW")
    steps = steps or Steps()
    model = Path(model)
    with host_lock(work_dir(model), opts.wait, steps.log), held_board(board, opts.wait, steps.log) as held:
        reports = _ab_sweeps(model, held, opts, steps, log)
    cmp = compare(reports[0].to_dict(), reports[1].to_dict(), name_a=ab_label(opts.engine_versions, 0),
                  name_b=ab_label(opts.engine_versions, 1),
                  threshold_pct=DEFAULT_THRESHOLD_PCT if threshold_pct is None else threshold_pct)
    return ABReport(dict(opts.engine_versions), reports[0], reports[1], cmp)


def _ab_sweeps(model: Path, board: str | BoardEntry | None, opts: BenchOptions, steps: Steps,
               log: Callable[[str], None] | None) -> list[BenchReport]:
    from sdk.bundle.wheels import host_pins

    prep, target = _open(model, board, opts, steps)
    profile = target.profile
    with target.session:
        wanted = target.engines
        missing = [e for e in opts.engine_versions if e not in wanted]
        if missing:
            raise SdkError(f"--engine-version {missing[0]}: that engine is not in this sweep",
                           found=f"--engine {opts.engine} on {profile.name}: {', '.join(wanted)}")
        engine_names = [e for e in wanted if e in opts.engine_versions]
        b = _on_host(target, prep, engine_names, opts, steps, model)
        on_host = host_pins()
        reports = []
        for side in (0, 1):
            pins = {engines.get(e).caps.runtime_package: v[side] for e, v in opts.engine_versions.items()}
            label = ab_label(opts.engine_versions, side)
            steps.log(f"{'AB'[side]}: {label}" + (" (the host's release)" if all(
                on_host.get(d) == v for d, v in pins.items()) else ""))
            tag = "-" + "-".join(f"{e}{v[side]}" for e, v in opts.engine_versions.items())
            reports.append(_run_sweep(b, model, opts, steps, log, pins, tag))
    return reports


def check_result(report: BenchReport) -> None:
    """Raise when no configuration passed (the CLI's exit code)."""
    failed: list[BenchResult] = [r for r in report.run.results if not r.ok]
    if failed and len(failed) == len(report.run.results):
        raise SdkError("no configuration passed its golden check on the board",
                       found="; ".join(f"{r.config.label}: {r.error}" for r in failed[:3]))


# `sdk.bench(...)` is the Python API call (sdk.api.bench); this module stays importable as before
from sdk._callable import make_callable  # noqa: E402

make_callable(__name__, "bench")
