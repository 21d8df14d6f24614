"""The on-board runner: verify a bundle, check golden outputs, benchmark.

Runs ON THE BOARD with the bundle's offline venv. Imports only the standard library,
numpy and the engines (a test enforces it)::

    python -m sdk.device.runner verify BUNDLE
    python -m sdk.device.runner run BUNDLE --out result.json [--engine ncnn] [--runs 20]
        [--warmup 3] [--threads 2] [--cpus 4,5]

``run`` checks every file's sha256 against the manifest, then runs each engine in its own
child process (so load time and peak RSS are that engine's alone) and writes one JSON.
Exit codes: 0 all engines pass, 2 usage, 3 bundle corrupt, 4 an engine failed its check.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

EXIT_CORRUPT = 3
EXIT_FAILED = 4


def sha256_file(path: Path) -> str:
    """The file's sha256, read in 1 MiB chunks (the one implementation host and board share)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(root: Path) -> list[str]:
    """Problems found comparing the bundle's files with its manifest (empty: intact)."""
    manifest = json.loads((root / "manifest.json").read_text())
    problems = []
    for rel, digest in sorted(manifest["files"].items()):
        p = root / rel
        if not p.is_file():
            problems.append(f"missing {rel}")
        elif sha256_file(p) != digest:
            problems.append(f"sha256 mismatch {rel}")
    return problems


def _load_tensors(root: Path, index: list[dict[str, Any]]) -> dict[str, Any]:
    import numpy as np

    return {t["name"]: np.load(root / t["file"], allow_pickle=False) for t in index}


def _percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    k = (len(sorted_ms) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(sorted_ms) - 1)
    return sorted_ms[lo] + (sorted_ms[hi] - sorted_ms[lo]) * (k - lo)


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


def run_engine(root: Path, engine: str, runs: int, warmup: int, threads: int,
               cpus: list[int]) -> dict[str, Any]:
    """Load one engine's model, check it against the golden outputs, time it."""
    from sdk.device import metrics
    from sdk.device.engines import load_engine

    manifest = json.loads((root / "manifest.json").read_text())
    spec = manifest["engines"][engine]
    min_cos = float(manifest.get("options", {}).get("min_cosine", {}).get(engine, 0.999))
    result: dict[str, Any] = {"engine": engine, "precision": spec["precision"], "ok": False,
                              "threads": threads, "runs": runs, "warmup": warmup,
                              "min_cosine": min_cos}
    result["cpus"] = _pin(cpus)
    feeds = _load_tensors(root, manifest["golden"]["inputs"])
    golden = _load_tensors(root, spec.get("golden_outputs") or manifest["golden"]["outputs"])
    if manifest.get("preprocess"):
        result["preprocess"] = _preprocess_on_board(root, manifest["preprocess"], feeds)
    t0 = time.perf_counter()
    runner = load_engine(spec.get("engine", engine), root / spec["dir"], spec["meta"], threads)
    result["load_ms"] = (time.perf_counter() - t0) * 1e3
    outs = runner.run(feeds)
    checks: list[dict[str, Any]] = []
    for name, ref in golden.items():
        if name not in outs:
            checks.append({"output": name, "error": "missing from engine outputs"})
            continue
        got = outs[name]
        checks.append({
            "output": name,
            "cosine": metrics.cosine(ref, got),
            "max_abs": metrics.max_abs(ref, got),
            "top1": metrics.top1(ref, got),
        })
    result["outputs"] = checks
    for _ in range(warmup):
        runner.run(feeds)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        runner.run(feeds)
        times.append((time.perf_counter() - t) * 1e3)
    runner.close()
    times.sort()
    result["latency_ms"] = {
        "p50": _percentile(times, 0.50), "p90": _percentile(times, 0.90),
        "p99": _percentile(times, 0.99), "mean": sum(times) / len(times) if times else 0.0,
        "min": times[0] if times else 0.0, "max": times[-1] if times else 0.0,
    }
    result["peak_rss_mb"] = _peak_rss_mb()
    bad = [c for c in checks if "error" in c or not c["cosine"] >= min_cos]
    result["ok"] = not bad
    if bad:
        c = bad[0]
        result["error"] = (
            f"output '{c['output']}': {c['error']}" if "error" in c else
            f"output '{c['output']}' disagrees with the golden output: cosine {c['cosine']:.6f}"
            f" < {min_cos}, max-abs {c['max_abs']:.3g}"
        )
    return result


def _preprocess_on_board(root: Path, pp: dict[str, Any], feeds: dict[str, Any]) -> dict[str, Any]:
    """Make the image input on the board (fused kernel where it fits), time it against the
    numpy reference, and feed the engine the board's own result."""
    import numpy as np

    from sdk.device.preprocess import ImageSpec, preprocess, preprocess_fast

    img = np.load(root / pp["image"], allow_pickle=False)
    spec = ImageSpec.from_dict(pp["spec"])
    x, impl = preprocess_fast(img, spec, pp["source"])

    def per_call(fn: Any, n: int) -> float:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t) * 1e3 / n

    from sdk.device import metrics

    golden_x = feeds[pp["input"]]
    info = {
        "impl": impl,
        "input": pp["input"],
        "ms": per_call(lambda: preprocess_fast(img, spec, pp["source"]), 10),
        "reference_ms": per_call(lambda: preprocess(img, spec, pp["source"]), 3),
        "input_cosine": metrics.cosine(golden_x, x),
        "input_max_abs": metrics.max_abs(golden_x, x),
    }
    feeds[pp["input"]] = x.astype(golden_x.dtype, copy=False)
    return info


def platform_info() -> dict[str, Any]:
    import numpy

    info = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "cpu_count": os.cpu_count(),
        "kernel": platform.release(),
        "qemu_cpu": os.environ.get("QEMU_CPU"),
    }
    try:
        from importlib.metadata import version

        info["ncnn"] = version("ncnn")
        info["MNN"] = version("MNN")
    except Exception:  # an engine missing on this board (armv7 has no MNN)
        pass
    return info


def cmd_run(args: argparse.Namespace) -> int:
    root = Path(args.bundle).resolve()
    t0 = time.time()
    problems = verify(root)
    doc: dict[str, Any] = {"bundle_id": json.loads((root / "manifest.json").read_text())["bundle_id"],
                           "verified": not problems, "platform": platform_info(), "engines": {}}
    if problems:
        doc["error"] = f"bundle corrupt: {problems[0]} ({len(problems)} problems)"
        Path(args.out).write_text(json.dumps(doc, indent=2))
        print(doc["error"], file=sys.stderr)
        return EXIT_CORRUPT
    manifest = json.loads((root / "manifest.json").read_text())
    engines = [args.engine] if args.engine else sorted(manifest["engines"])
    for engine in engines:
        out = root.parent / f".result-{engine}-{os.getpid()}.json"
        cmd = [sys.executable, "-m", "sdk.device.runner", "_engine", str(root), "--engine", engine,
               "--runs", str(args.runs), "--warmup", str(args.warmup),
               "--threads", str(args.threads), "--cpus", args.cpus, "--out", str(out)]
        print(f"[runner] {engine}: loading, checking, {args.warmup} warm-up + {args.runs} runs",
              flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if out.exists():
            res = json.loads(out.read_text())
            out.unlink()
        else:
            tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
            res = {"engine": engine, "ok": False, "error": f"runner crashed: {tail}"}
        doc["engines"][engine] = res
        status = "ok" if res.get("ok") else f"FAILED: {res.get('error')}"
        print(f"[runner] {engine}: {status}", flush=True)
    doc["seconds"] = time.time() - t0
    Path(args.out).write_text(json.dumps(doc, indent=2))
    return 0 if all(r.get("ok") for r in doc["engines"].values()) else EXIT_FAILED


def cmd_engine(args: argparse.Namespace) -> int:
    root = Path(args.bundle).resolve()
    cpus = [int(c) for c in args.cpus.split(",") if c.strip()]
    try:
        res = run_engine(root, args.engine, args.runs, args.warmup, args.threads, cpus)
    except Exception as exc:  # report, never hide: the host shows this line
        res = {"engine": args.engine, "ok": False, "error": f"{type(exc).__name__}: {exc}",
               "traceback": traceback.format_exc()}
    Path(args.out).write_text(json.dumps(res, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sdk.device.runner")
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("verify")
    v.add_argument("bundle")
    for name in ("run", "_engine"):
        p = sub.add_parser(name)
        p.add_argument("bundle")
        p.add_argument("--out", required=True)
        p.add_argument("--engine")
        p.add_argument("--runs", type=int, default=20)
        p.add_argument("--warmup", type=int, default=3)
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--cpus", default="")
    args = ap.parse_args(argv)
    if args.cmd == "verify":
        problems = verify(Path(args.bundle))
        for pr in problems:
            print(pr, file=sys.stderr)
        return EXIT_CORRUPT if problems else 0
    if args.cmd == "run":
        return cmd_run(args)
    return cmd_engine(args)


if __name__ == "__main__":
    sys.exit(main())
