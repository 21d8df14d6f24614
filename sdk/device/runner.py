"""The on-board runner: verify a bundle, check golden outputs, benchmark.

Runs ON THE BOARD with the bundle's offline venv. Imports only the standard library,
numpy, the engines and the SDK's board modules (a test enforces it)::

    python -m sdk.device.runner verify BUNDLE
    python -m sdk.device.runner run BUNDLE --out result.json [--model ncnn-fp32] [--runs 20]
        [--warmup 3] [--threads 2] [--cpus 4,5]

``run`` checks every file's sha256 against the manifest, then runs each model variant in
its own child process (so load time and peak RSS are that model's alone) and writes one
:class:`~sdk.records.BoardResult` as JSON. Exit codes: :class:`~sdk.records.ExitCode`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from sdk.engines.base import open_runner
from sdk.records import (
    BoardResult,
    BundledModel,
    EngineResult,
    ExitCode,
    Latency,
    Manifest,
    OutputCheck,
    TaskSamples,
    TensorFile,
    from_json,
    sha256_file,
    to_json,
)


def verify(root: Path) -> list[str]:
    """Problems found comparing the bundle's files with its manifest (empty: intact)."""
    manifest = Manifest.load(root)
    problems = []
    for rel, digest in sorted(manifest.files.items()):
        p = root / rel
        if not p.is_file():
            problems.append(f"missing {rel}")
        elif sha256_file(p) != digest:
            problems.append(f"sha256 mismatch {rel}")
    return problems


def _load_tensors(root: Path, index: list[TensorFile]) -> dict[str, Any]:
    import numpy as np

    return {t.name: np.load(root / t.file, allow_pickle=False) for t in index}


def _percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    k = (len(sorted_ms) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(sorted_ms) - 1)
    return sorted_ms[lo] + (sorted_ms[hi] - sorted_ms[lo]) * (k - lo)


def latency(times_ms: list[float]) -> Latency:
    t = sorted(times_ms)
    return Latency(p50=_percentile(t, 0.50), p90=_percentile(t, 0.90), p99=_percentile(t, 0.99),
                   mean=sum(t) / len(t) if t else 0.0, min=t[0] if t else 0.0, max=t[-1] if t else 0.0)


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _pin(cpus: list[int]) -> list[int]:
    """Pin to the profile's big cluster where those cpus exist; returns the cpus used."""
    try:
        avail = os.sched_getaffinity(0)
    except AttributeError:  # not Linux
        return []
    use = [c for c in cpus if c in avail]
    if use:
        os.sched_setaffinity(0, use)
    return sorted(os.sched_getaffinity(0))


def _check_outputs(golden: dict[str, Any], outs: dict[str, Any]) -> list[OutputCheck]:
    from sdk.device import metrics

    checks = []
    for name, ref in golden.items():
        if name not in outs:
            checks.append(OutputCheck(name, error="missing from engine outputs"))
            continue
        got = outs[name]
        checks.append(OutputCheck(name, cosine=metrics.cosine(ref, got), max_abs=metrics.max_abs(ref, got),
                                  top1=metrics.top1(ref, got)))
    return checks


def _verdict(res: EngineResult) -> None:
    bad = [c for c in res.outputs if c.error or not (c.cosine is not None and c.cosine >= res.min_cosine)]
    res.ok = not bad
    if bad:
        c = bad[0]
        res.error = (f"output '{c.output}': {c.error}" if c.error else
                     f"output '{c.output}' disagrees with the golden output: cosine {c.cosine:.6f}"
                     f" < {res.min_cosine}, max-abs {c.max_abs:.3g}")
        return
    t = res.task
    if t is not None and t["vs_host"]["metric"] < t["floor"]:
        res.ok = False
        res.error = (f"judged as {t['task']} on {t['images']} held-out images, the board's int8 outputs "
                     f"disagree with the host's: {t['metric_name']} {t['vs_host']['metric']:.4f} "
                     f"< {t['floor']}")


def check_task(root: Path, samples: TaskSamples, runner: Any) -> dict[str, Any]:
    """Run the held-out samples and judge the board's outputs by the task (detections as
    detections, class scores by margins, maps by IoU) against the host's int8 outputs and
    the fp32 model's (:mod:`sdk.device.tasks`)."""
    from sdk.device.tasks import TaskSpec, agreement, decoder

    spec = TaskSpec.from_dict(samples.task)
    board = [runner.run(_load_tensors(root, inputs)) for inputs in samples.inputs]
    host = [_load_tensors(root, outs) for outs in samples.host]
    fp32 = [_load_tensors(root, outs) for outs in samples.fp32]
    vs_host, vs_fp32 = agreement(spec, host, board), agreement(spec, fp32, board)
    out: dict[str, Any] = {"task": spec.task, "metric_name": vs_host.metric_name, "images": len(board),
                           "floor": samples.floor,
                           "vs_host": {"metric": vs_host.metric, **vs_host.metrics},
                           "vs_fp32": {"metric": vs_fp32.metric, **vs_fp32.metrics}}
    if spec.task == "detect":
        out["decoder"] = decoder()
    return out


def run_model(root: Path, vid: str, runs: int, warmup: int, threads: int, cpus: list[int]) -> EngineResult:
    """Load one model variant, check it against its golden outputs, time it."""
    from sdk.device import metrics

    manifest = Manifest.load(root)
    spec = manifest.model_by_id(vid)
    res = EngineResult(engine=spec.engine, precision=spec.precision, threads=threads, runs=runs,
                       warmup=warmup, min_cosine=spec.min_cosine, cpus=_pin(cpus))
    feeds = _load_tensors(root, manifest.golden.inputs)
    golden = _load_tensors(root, spec.golden_outputs or manifest.golden.outputs)
    if manifest.preprocess is not None:
        res.preprocess = _preprocess_on_board(root, manifest, feeds)
    t0 = time.perf_counter()
    with open_runner(spec.engine, root / spec.dir, spec.meta, threads) as runner:
        res.load_ms = (time.perf_counter() - t0) * 1e3
        first = runner.run(feeds)
        res.outputs = _check_outputs(golden, first)
        res.output_sample = metrics.output_sample(first)
        if spec.task_samples is not None:
            res.task = check_task(root, spec.task_samples, runner)
        for _ in range(warmup):
            runner.run(feeds)
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            runner.run(feeds)
            times.append((time.perf_counter() - t) * 1e3)
    res.latency_ms = latency(times)
    res.samples_ms = [round(t, 4) for t in times]
    res.peak_rss_mb = _peak_rss_mb()
    _verdict(res)
    return res


def _preprocess_on_board(root: Path, manifest: Manifest, feeds: dict[str, Any]) -> dict[str, Any]:
    """Make the image input on the board (fused kernel where it fits), time it against the
    numpy reference, and feed the engine the board's own result."""
    import numpy as np

    from sdk.device import metrics
    from sdk.device.preprocess import ImageSpec, preprocess, preprocess_fast

    pp = manifest.preprocess
    assert pp is not None
    img = np.load(root / pp.image, allow_pickle=False)
    spec = ImageSpec.from_dict(pp.spec)
    x, impl = preprocess_fast(img, spec, pp.source)

    def per_call(fn: Any, n: int) -> float:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t) * 1e3 / n

    golden_x = feeds[pp.input]
    info = {
        "impl": impl,
        "input": pp.input,
        "ms": per_call(lambda: preprocess_fast(img, spec, pp.source), 10),
        "reference_ms": per_call(lambda: preprocess(img, spec, pp.source), 3),
        "input_cosine": metrics.cosine(golden_x, x),
        "input_max_abs": metrics.max_abs(golden_x, x),
    }
    feeds[pp.input] = x.astype(golden_x.dtype, copy=False)
    return info


def platform_info(models: list[BundledModel]) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    import numpy

    info: dict[str, Any] = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "cpu_count": os.cpu_count(),
        "kernel": platform.release(),
        "qemu_cpu": os.environ.get("QEMU_CPU"),
    }
    for m in models:
        with contextlib.suppress(PackageNotFoundError):  # an engine missing on this board
            info[m.package] = version(m.package)
    return info


def _run_child(root: Path, m: BundledModel, args: argparse.Namespace) -> EngineResult:
    out = root.parent / f".result-{m.id}-{os.getpid()}.json"
    cmd = [sys.executable, "-m", "sdk.device.runner", "_model", str(root), "--model", m.id,
           "--runs", str(args.runs), "--warmup", str(args.warmup),
           "--threads", str(args.threads), "--cpus", args.cpus, "--out", str(out)]
    print(f"[runner] {m.id}: loading, checking, {args.warmup} warm-up + {args.runs} runs", flush=True)
    timeout = args.timeout if args.timeout and args.timeout > 0 else None
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:  # run() has killed the child
        out.unlink(missing_ok=True)
        res = EngineResult(engine=m.engine, precision=m.precision,
                           error=f"timed out after {args.timeout:g} s (--timeout)")
        print(f"[runner] {m.id}: FAILED: {res.error}", flush=True)
        return res
    if out.exists():
        res = from_json(EngineResult, out.read_text())
        out.unlink()
    else:
        tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        res = EngineResult(engine=m.engine, precision=m.precision, error=f"runner crashed: {tail}")
    print(f"[runner] {m.id}: " + ("ok" if res.ok else f"FAILED: {res.error}"), flush=True)
    return res


def cmd_run(args: argparse.Namespace) -> int:
    root = Path(args.bundle).resolve()
    t0 = time.time()
    problems = verify(root)
    manifest = Manifest.load(root)
    doc = BoardResult(bundle_id=manifest.bundle_id, verified=not problems,
                      platform=platform_info(manifest.models))
    if problems:
        doc.error = f"bundle corrupt: {problems[0]} ({len(problems)} problems)"
        Path(args.out).write_text(to_json(doc))
        print(doc.error, file=sys.stderr)
        return ExitCode.CORRUPT
    models = [manifest.model_by_id(args.model)] if args.model else manifest.models
    doc.results = [_run_child(root, m, args) for m in models]
    doc.seconds = time.time() - t0
    Path(args.out).write_text(to_json(doc))
    return ExitCode.OK if doc.ok else ExitCode.FAILED


def cmd_model(args: argparse.Namespace) -> int:
    root = Path(args.bundle).resolve()
    cpus = [int(c) for c in args.cpus.split(",") if c.strip()]
    try:
        res = run_model(root, args.model, args.runs, args.warmup, args.threads, cpus)
    except Exception as exc:  # report, never hide: the host shows this line
        spec = Manifest.load(root).model_by_id(args.model)
        res = EngineResult(engine=spec.engine, precision=spec.precision, error=f"{type(exc).__name__}: {exc}",
                           traceback=traceback.format_exc())
    Path(args.out).write_text(to_json(res))
    return ExitCode.OK


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sdk.device.runner")
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("verify")
    v.add_argument("bundle")
    for name in ("run", "_model"):
        p = sub.add_parser(name)
        p.add_argument("bundle")
        p.add_argument("--out", required=True)
        p.add_argument("--model", help="one model variant, e.g. ncnn-fp32 (default: all)")
        p.add_argument("--runs", type=int, default=20)
        p.add_argument("--warmup", type=int, default=3)
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--cpus", default="")
        p.add_argument("--timeout", type=float, default=0.0, help="seconds per model variant (0: none)")
    args = ap.parse_args(argv)
    if args.cmd == "verify":
        problems = verify(Path(args.bundle))
        for pr in problems:
            print(pr, file=sys.stderr)
        return ExitCode.CORRUPT if problems else ExitCode.OK
    if args.cmd == "run":
        return cmd_run(args)
    return cmd_model(args)


if __name__ == "__main__":
    sys.exit(main())
