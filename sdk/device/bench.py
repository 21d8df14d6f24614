"""The on-board bench: one result per configuration of a plan, every sample kept.

Runs ON THE BOARD with the bundle's venv (board code: stdlib, numpy, the engines)::

    python -m sdk.device.bench run BUNDLE --plan plan.json --out run.json

Each configuration (model variant x threads x cores) runs in a child process of its own:

1. pinned first (``sched_setaffinity`` before the engine loads, so the threads it creates
   inherit the cpus), then the temperatures are left to settle (bounded, reported);
2. clocks and every thermal zone sampled on a thread during the whole run;
3. model load, first inference and steady state timed apart; the first output checked
   against the golden one; warm-up discarded; runs extended until ``min_time``, paced at
   ``rate`` frames per second, or sustained for ``duration`` seconds;
4. peak RSS above the interpreter's own, the cpus the threads really ran on;
5. optionally per-layer times, and the whole frame (u8 image -> the NEON preprocessing ->
   inference -> the post-processing kernel that fits the output) per stage;
6. the runner's own loop against the engine's bare loop, interleaved (its overhead).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sdk.device import sysinfo
from sdk.device.runner import _check_outputs, _load_tensors, _verdict, platform_info
from sdk.device.stats import compare, summarize
from sdk.engines.base import Runner, open_runner
from sdk.records import (
    BenchConfig,
    BenchPlan,
    BenchResult,
    BenchRun,
    EngineResult,
    ExitCode,
    LayerTime,
    Manifest,
    from_json,
    to_dict,
    to_json,
)

OVERHEAD_BLOCKS = 5  # runner and bare loop alternate in this many blocks
SUSTAINED_WINDOW_S = 60.0


def timed_loop(fn: Callable[[], object], plan: BenchPlan, t0: float) -> tuple[list[float], list[float]]:
    """Latency (ms) and start time (s since ``t0``) of each call of ``fn`` under the plan."""
    period = 1.0 / plan.rate if plan.rate else 0.0
    start = time.perf_counter()
    end_by = start + plan.duration if plan.duration else None
    samples: list[float] = []
    starts: list[float] = []
    next_at = start
    while True:
        if period:
            now = time.perf_counter()
            if now < next_at:
                time.sleep(next_at - now)
            next_at = max(next_at + period, time.perf_counter() - period)  # late frames do not pile up
        t = time.perf_counter()
        fn()
        done = time.perf_counter()
        samples.append((done - t) * 1e3)
        starts.append(t - t0)
        if end_by is not None:
            if done >= end_by:
                break
        elif len(samples) >= plan.runs and done - start >= plan.min_time:
            break
    return samples, starts


def _overhead(runner: Runner, feeds: dict[str, Any], n: int) -> dict[str, Any]:
    """The runner's ``run`` against the engine's bare loop, alternating blocks of ``n // blocks``."""
    import numpy as np

    bare = runner.bare(feeds)
    per = max(1, n // OVERHEAD_BLOCKS)
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(OVERHEAD_BLOCKS):
        for fn, out in ((lambda: runner.run(feeds), ours), (bare, theirs)):
            for _ in range(per):
                t = time.perf_counter()
                fn()
                out.append((time.perf_counter() - t) * 1e3)
    m_ours, m_bare = float(np.median(ours)), float(np.median(theirs))
    return {"runner_ms": m_ours, "bare_ms": m_bare, "overhead": m_ours / m_bare - 1 if m_bare else None,
            "samples": len(ours), "difference": to_dict(compare(theirs, ours))}


def post_step(outs: dict[str, Any]) -> tuple[str, Callable[[dict[str, Any]], object]]:
    """The project's post-processing kernel that fits the model's first output, by its shape."""
    from sdk import _kernels  # type: ignore[attr-defined]

    name, first = next(iter(outs.items()))
    shape = tuple(first.shape)
    if len(shape) == 3 and shape[0] == 1 and 4 < shape[1] < shape[2]:  # YOLOv8 [1, 4 + C, anchors]
        return "decode_nms", lambda o: _kernels.decode_nms(o[name][0], 0.25, 0.45, 300, (1.0, 1.0, 0.0, 0.0),
                                                           (0.0, 0.0))
    if len(shape) == 4 and shape[1] == 1:  # a probability map (DB text detector)
        return "binarize", lambda o: _kernels.binarize(o[name][0, 0], 0.3)
    if len(shape) == 4 and 1 < shape[1] <= 256:  # per-pixel class scores
        return "argmax", lambda o: _kernels.argmax(o[name][0])
    k = min(5, shape[-1])  # class scores: per row, the top k
    return "topk", lambda o: [_kernels.topk(row, k) for row in o[name].reshape(-1, shape[-1])]


def _frame(root: Path, manifest: Manifest, runner: Runner, runs: int) -> dict[str, Any]:
    """The whole frame, per stage: u8 image -> preprocessing -> inference -> post-processing."""
    import numpy as np

    from sdk.device.preprocess import ImageSpec, preprocess_fast

    pp = manifest.preprocess
    assert pp is not None
    img = np.load(root / pp.image, allow_pickle=False)
    spec = ImageSpec.from_dict(pp.spec)
    x, impl = preprocess_fast(img, spec, pp.source)
    post_name, post = post_step(runner.run({pp.input: x}))
    stages: dict[str, list[float]] = {"preprocess": [], "inference": [], "postprocess": []}
    frames = []
    for _ in range(max(3, runs)):
        t0 = time.perf_counter()
        x, _ = preprocess_fast(img, spec, pp.source)
        t1 = time.perf_counter()
        outs = runner.run({pp.input: x})
        t2 = time.perf_counter()
        post(outs)
        t3 = time.perf_counter()
        for k, (a, b) in zip(stages, ((t0, t1), (t1, t2), (t2, t3)), strict=True):
            stages[k].append((b - a) * 1e3)
        frames.append((t3 - t0) * 1e3)
    mean_frame = float(np.mean(frames))
    return {
        "image": list(img.shape), "preprocess_impl": impl, "postprocess_kernel": post_name,
        "frame": to_dict(summarize(frames)),
        "stages": {k: {**to_dict(summarize(v)), "share": float(np.mean(v)) / mean_frame}
                   for k, v in stages.items()},
        "unaccounted_ms": mean_frame - sum(float(np.mean(v)) for v in stages.values()),
    }


def _sustained(samples: list[float], starts: list[float], duration: float) -> dict[str, Any]:
    """The first window of a sustained run against the last (a minute each when it lasted two)."""
    window = SUSTAINED_WINDOW_S if duration >= 2 * SUSTAINED_WINDOW_S else duration / 4
    first = [s for s, t in zip(samples, starts, strict=True) if t - starts[0] < window]
    last = [s for s, t in zip(samples, starts, strict=True) if starts[-1] - t < window]
    diff = compare(first, last) if first and last else None
    return {"window_s": window, "first": to_dict(summarize(first)) if first else None,
            "last": to_dict(summarize(last)) if last else None, "difference": to_dict(diff) if diff else None}


def measure(root: Path, plan: BenchPlan, cfg: BenchConfig) -> BenchResult:
    """One configuration, end to end (see the module's docstring)."""
    from sdk.device import metrics

    res = BenchResult(config=cfg)
    res.cpus_used, notes = sysinfo.pin(cfg.cpus)
    res.flags += notes
    res.settle = sysinfo.settle(plan.settle_s)
    manifest = Manifest.load(root)
    spec = manifest.model_by_id(cfg.model)
    feeds = _load_tensors(root, manifest.golden.inputs)
    golden = _load_tensors(root, spec.golden_outputs or manifest.golden.outputs)
    if manifest.preprocess is not None:  # the engine sees the board's own preprocessing
        from sdk.device.runner import _preprocess_on_board

        _preprocess_on_board(root, manifest, feeds)
    res.rss_baseline_mb = sysinfo.rss_mb()
    with sysinfo.Sampler(res.cpus_used, plan.sample_s) as sampler:
        t = time.perf_counter()
        runner = open_runner(spec.engine, root / spec.dir, spec.meta, cfg.threads)
        res.load_ms = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        outs = runner.run(feeds)
        res.first_ms = (time.perf_counter() - t) * 1e3
        check = EngineResult(engine=spec.engine, precision=spec.precision, min_cosine=spec.min_cosine,
                             outputs=_check_outputs(golden, outs))
        _verdict(check)
        res.golden, res.ok, res.error = check.outputs, check.ok, check.error
        res.output_sample = metrics.output_sample(outs)
        for _ in range(plan.warmup):
            runner.run(feeds)
        res.samples_ms, res.sample_t = timed_loop(lambda: runner.run(feeds), plan, sampler.t0)
        res.overhead = _overhead(runner, feeds, min(len(res.samples_ms), 50))
        if plan.layers:
            rows, res.layer_method = runner.layer_times(feeds)
            res.layers = [LayerTime(n, k, ms) for n, k, ms in sorted(rows, key=lambda r: -r[2])]
        if manifest.preprocess is not None:
            res.frame = _frame(root, manifest, runner, min(plan.runs, 20))
        runner.close()
    res.thread_cpus = sorted(sampler.thread_cpus)
    res.clocks = sampler.samples
    res.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0 - res.rss_baseline_mb
    res.summary = summarize(res.samples_ms)
    res.flags += sysinfo.clock_flags(res.clocks, sysinfo.trip_points())
    if res.summary.outliers:
        res.flags.append(f"{len(res.summary.outliers)} outlier samples (kept, flagged by index)")
    stray = sorted(set(res.thread_cpus) - set(res.cpus_used))
    if stray and res.cpus_used:
        res.flags.append(f"threads ran on cpus {stray} outside the pinned {res.cpus_used}")
    if plan.duration:
        res.sustained = _sustained(res.samples_ms, res.sample_t, plan.duration)
    return res


def _run_child(root: Path, plan_file: Path, plan: BenchPlan, i: int, cfg: BenchConfig) -> BenchResult:
    out = plan_file.with_name(f"{plan_file.stem}-{i}.json")
    cmd = [sys.executable, "-m", "sdk.device.bench", "_one", str(root), "--plan", str(plan_file),
           "--index", str(i), "--out", str(out)]
    print(f"[bench] {cfg.label}: cpus {cfg.cpus or 'any'}", flush=True)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=plan.timeout or None)
    except subprocess.TimeoutExpired:  # run() has killed the child
        out.unlink(missing_ok=True)
        res = BenchResult(config=cfg, error=f"timed out after {plan.timeout:g} s (--timeout)")
        print(f"[bench] {cfg.label}: FAILED: {res.error}", flush=True)
        return res
    if out.exists():
        res = from_json(BenchResult, out.read_text())
        out.unlink()
    else:
        tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        res = BenchResult(config=cfg, error=f"bench crashed: {tail}")
    med = f"p50 {res.summary.p50:.2f} ms" if res.summary else "no samples"
    print(f"[bench] {cfg.label}: " + (med if res.ok else f"FAILED: {res.error}"), flush=True)
    return res


def cmd_run(args: argparse.Namespace) -> int:
    root, plan_file = Path(args.bundle).resolve(), Path(args.plan).resolve()
    plan = from_json(BenchPlan, plan_file.read_text())
    manifest = Manifest.load(root)
    t0 = time.time()
    run = BenchRun(bundle_id=manifest.bundle_id, platform=platform_info(manifest.models),
                   topology=sysinfo.topology(expected=plan.clusters))
    run.results = [_run_child(root, plan_file, plan, i, cfg) for i, cfg in enumerate(plan.configs)]
    run.seconds = time.time() - t0
    Path(args.out).write_text(to_json(run))
    return ExitCode.OK if all(r.ok for r in run.results) else ExitCode.FAILED


def cmd_one(args: argparse.Namespace) -> int:
    root = Path(args.bundle).resolve()
    plan = from_json(BenchPlan, Path(args.plan).read_text())
    cfg = plan.configs[args.index]
    try:
        res = measure(root, plan, cfg)
    except Exception as exc:  # report, never hide: the host shows this line
        res = BenchResult(config=cfg, error=f"{type(exc).__name__}: {exc}")
        res.flags.append(traceback.format_exc().splitlines()[-1])
    Path(args.out).write_text(to_json(res))
    return ExitCode.OK


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sdk.device.bench")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("run", "_one"):
        p = sub.add_parser(name)
        p.add_argument("bundle")
        p.add_argument("--plan", required=True)
        p.add_argument("--out", required=True)
        if name == "_one":
            p.add_argument("--index", type=int, required=True)
    args = ap.parse_args(argv)
    return cmd_run(args) if args.cmd == "run" else cmd_one(args)


if __name__ == "__main__":
    sys.exit(main())
