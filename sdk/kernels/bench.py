"""Instruction-count benchmark of the kernels under QEMU user mode (``sdk kernels bench``).

Performance under emulation is measured in executed aarch64 instructions, never in wall
time: a small TCG plugin (kernels/bench/insn_plugin.c) counts them, and every figure is
differential, (count(N calls) - count(0 calls)) / N, so program setup cancels out. Programs:
the static aarch64 ``kernel_bench`` (scalar reference and NEON variant of this project) and,
when an aarch64 root filesystem with python3 + cv2 + ncnn is given, OpenCV and ncnn
baselines (kernels/bench/baseline.py). llvm-mca gives cycles per iteration of the NEON inner
loops on the Cortex-A53 and A72 models.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sdk.errors import SdkError
from sdk.kernels.build import source_root
from sdk.paths import cache_dir

SRC = source_root()  # kernels/ and cross/ (source checkout or the wheel's copy)
BENCH_SRC = SRC / "kernels" / "bench"
CASES: dict[str, str] = {
    "bgr": "1920x1080 BGR u8 -> 224x224 RGB f32 CHW (mean/std)",
    "nv12": "1920x1080 NV12 -> 224x224 RGB f32 CHW (mean/std)",
    "nms": "decode + NMS, 8000 boxes, 80 classes",
}
TARGETS: dict[str, int] = {"bgr": 950_000, "nv12": 1_200_000, "nms": 10_000_000}
CALLS: dict[str, int] = {"bgr": 3, "nv12": 3, "nms": 3}
# Python baselines: more calls (interpreter noise), one warm-up call (library initialisation).
BASELINE_CALLS: dict[str, int] = {"bgr": 8, "nv12": 8, "nms": 2}


@dataclass
class Row:
    case: str
    impl: str  # scalar | neon | opencv | ncnn
    insns_per_call: float | None
    note: str = ""


@dataclass
class BenchResult:
    cpu: str
    rows: list[Row] = field(default_factory=list)
    mca: dict[str, dict[str, float]] = field(default_factory=dict)  # loop -> cpu -> cycles/iter
    notes: list[str] = field(default_factory=list)

    def get(self, case: str, impl: str) -> float | None:
        return next((r.insns_per_call for r in self.rows if r.case == case and r.impl == impl), None)

    def best_baseline(self, case: str) -> tuple[str, float] | None:
        vals = [
            (r.impl, r.insns_per_call)
            for r in self.rows
            if r.case == case and r.impl in ("opencv", "ncnn") and r.insns_per_call
        ]
        return min(vals, key=lambda x: x[1]) if vals else None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "cpu": self.cpu,
            "rows": [asdict(r) for r in self.rows],
            "mca_cycles_per_iteration": self.mca,
            "notes": self.notes,
        }
        summary = {}
        for case in CASES:
            neon = self.get(case, "neon")
            base = self.best_baseline(case)
            summary[case] = {
                "neon": neon,
                "scalar": self.get(case, "scalar"),
                "target": TARGETS[case],
                "meets_target": neon is not None and neon <= TARGETS[case],
                "best_baseline": base[0] if base else None,
                "ratio_to_best_baseline": (neon / base[1]) if (neon and base) else None,
            }
        out["summary"] = summary
        return out


def _run(
    cmd: list[str], cwd: Path | None = None, ok: tuple[int, ...] = (0,)
) -> subprocess.CompletedProcess[str]:
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise SdkError(f"'{cmd[0]}' is not installed", fix=f"install {cmd[0]}") from exc
    if p.returncode not in ok:
        tail = " | ".join((p.stderr or p.stdout).strip().splitlines()[-4:])
        raise SdkError(f"'{Path(cmd[0]).name} ...' failed (exit {p.returncode}): {tail}")
    return p


def _hash(paths: list[Path], extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for p in sorted(paths):
        h.update(str(p.relative_to(SRC)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def build_plugin() -> Path:
    """The instruction-counting TCG plugin, built with the host C compiler (cached)."""
    src = BENCH_SRC / "insn_plugin.c"
    out = cache_dir() / "kernels-bench" / f"insn_plugin-{_hash([src])}.so"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        cc = os.environ.get("CC", "cc")
        _run([cc, "-shared", "-fPIC", "-O2", "-o", str(out), str(src)])
    return out


def build_bench() -> Path:
    """The static aarch64 kernel_bench program (cached by source hash)."""
    srcs = [
        p
        for d in ("kernels", "cross")
        for p in (SRC / d).rglob("*")
        if p.is_file() and p.suffix in {".cc", ".h", ".txt", ".cmake"}
    ]
    key = _hash(srcs)
    exe = cache_dir() / "kernels-bench" / f"kernel_bench-aarch64-{key}"
    if exe.is_file():
        return exe
    with tempfile.TemporaryDirectory(prefix="sdk-bench-") as tmp:
        cmd = [
            "cmake",
            "-S",
            str(SRC / "kernels"),
            "-B",
            tmp,
            f"-DCMAKE_TOOLCHAIN_FILE={SRC / 'cross' / 'aarch64-linux-gnu.toolchain.cmake'}",
            "-DCMAKE_BUILD_TYPE=Release",
            "-DSDK_KERNELS_BENCH=ON",
            "-DSDK_KERNELS_PYTHON=OFF",
        ]
        if shutil.which("ninja"):
            cmd += ["-G", "Ninja"]
        _run(cmd)
        _run(["cmake", "--build", tmp, "-j", str(os.cpu_count() or 2), "--target", "kernel_bench"])
        exe.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(tmp) / "bench" / "kernel_bench", exe)
    return exe


def count_insns(
    cmd: list[str],
    plugin: Path,
    cpu: str,
    ld_prefix: Path | None = None,
    ok: tuple[int, ...] = (0,),
    env: dict[str, str] | None = None,
) -> int | None:
    """Executed guest instructions of one run of ``cmd`` under qemu-aarch64 (None: exit 3)."""
    with tempfile.TemporaryDirectory(prefix="sdk-count-") as tmp:
        out = Path(tmp) / "count"
        q = ["qemu-aarch64", "-cpu", cpu]
        if ld_prefix is not None:
            q += ["-L", str(ld_prefix)]
        for k, v in (env or {}).items():
            q += ["-E", f"{k}={v}"]
        p = _run([*q, "-plugin", f"{plugin},out={out}", *cmd], ok=(*ok, 3))
        if p.returncode == 3:
            return None
        return int(out.read_text().strip())


def per_call(
    cmd: list[str],
    calls: int,
    plugin: Path,
    cpu: str,
    ld_prefix: Path | None = None,
    env: dict[str, str] | None = None,
    warmup: int = 0,
) -> float | None:
    """(count(warmup + calls) - count(warmup)) / calls: setup and first-call costs cancel."""
    n = count_insns([*cmd, str(warmup + calls)], plugin, cpu, ld_prefix, env=env)
    z = count_insns([*cmd, str(warmup)], plugin, cpu, ld_prefix, env=env)
    if n is None or z is None:
        return None
    return (n - z) / calls


def mca_cycles() -> dict[str, dict[str, float]]:
    """llvm-mca cycles per iteration of the NEON inner loops (f32 output variants)."""
    llvm_mca = shutil.which("llvm-mca") or next(iter(sorted(Path("/usr/bin").glob("llvm-mca-*"))), None)
    if llvm_mca is None:
        return {}
    with tempfile.TemporaryDirectory(prefix="sdk-mca-") as tmp:
        asm = Path(tmp) / "preprocess_neon.s"
        _run(
            [
                "aarch64-linux-gnu-g++",
                "-std=c++17",
                "-O2",
                "-ffp-contract=off",
                "-DSDK_KERNELS_HAVE_NEON=1",
                "-DSDK_KERNELS_MCA_MARKERS=1",
                f"-I{SRC / 'kernels' / 'include'}",
                "-S",
                str(SRC / "kernels" / "src" / "preprocess" / "preprocess_neon.cc"),
                "-o",
                str(asm),
            ]
        )
        result: dict[str, dict[str, float]] = {}
        for cpu in ("cortex-a53", "cortex-a72"):
            text = _run([str(llvm_mca), "-mtriple=aarch64-linux-gnu", f"-mcpu={cpu}", str(asm)]).stdout
            seen: set[str] = set()
            for m in re.finditer(
                r"Code Region - (\S+)\s+Iterations:\s+(\d+)\s+Instructions:\s+\d+\s+"
                r"Total Cycles:\s+(\d+)",
                text,
            ):
                name = {"packed3": "bgr", "nv12": "nv12"}.get(m.group(1), m.group(1))
                if name in seen:  # the int8 instantiation comes second
                    continue
                seen.add(name)
                result.setdefault(f"{name} (4 px/iter)", {})[cpu] = int(m.group(3)) / int(m.group(2))
        return result


def _is_aarch64_elf(path: Path) -> bool:
    try:
        head = path.read_bytes()[:20]
    except OSError:
        return False
    return head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") == 183  # EM_AARCH64


def default_rootfs() -> Path | None:
    """An aarch64 root filesystem with python3: $SDK_BENCH_ROOTFS, else an emulated board's."""
    env = os.environ.get("SDK_BENCH_ROOTFS")
    if env:
        return Path(env)
    for cand in sorted(cache_dir().glob("boards/*/rootfs/usr/bin/python3")):
        if _is_aarch64_elf(cand.resolve() if cand.is_symlink() else cand):
            return cand.parents[2]
    return None


def _python_version(rootfs: Path) -> str:
    found = sorted(p.name[len("python") :] for p in (rootfs / "usr" / "lib").glob("python3.*"))
    return found[-1] if found else "3.11"


def baseline_site(python: str) -> Path:
    """numpy + opencv-python-headless + ncnn aarch64 wheels for the rootfs's CPython, unpacked
    once into the cache (the rootfs's own numpy may not load under plain `qemu -L`)."""
    tag = python.replace(".", "")
    site = cache_dir() / "kernels-bench" / f"baseline-site-cp{tag}-aarch64"
    if (site / "cv2").is_dir() and (site / "ncnn").is_dir():
        return site
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            "--platform",
            "manylinux2014_aarch64",
            "--only-binary=:all:",
            "--python-version",
            python,
            "--implementation",
            "cp",
            "numpy<2.3",
            "opencv-python-headless",
            "ncnn",
        ]
    )
    return site


def run_benchmarks(
    rootfs: Path | None = None, cpu: str = "cortex-a72", baselines: bool = True
) -> BenchResult:
    """Scalar vs NEON kernel_bench rows, OpenCV/ncnn baseline rows (``baselines`` and an
    aarch64 rootfs with python3), llvm-mca cycles of the NEON inner loops."""
    plugin = build_plugin()
    exe = build_bench()
    res = BenchResult(cpu=cpu)
    for case in CASES:
        for impl in ("scalar", "neon"):
            res.rows.append(Row(case, impl, per_call([str(exe), case, impl], CALLS[case], plugin, cpu)))
    rootfs = (rootfs or default_rootfs()) if baselines else None
    if not baselines:
        res.notes.append("OpenCV/ncnn baselines not requested")
    elif rootfs is None:
        res.notes.append(
            "OpenCV/ncnn baselines not run: no aarch64 rootfs with python3 "
            "(pass --rootfs DIR or set SDK_BENCH_ROOTFS)"
        )
    else:
        py = rootfs / "usr" / "bin" / "python3"
        version = _python_version(rootfs)
        env = {
            "PYTHONPATH": str(baseline_site(version)),
            "PYTHONHASHSEED": "0",  # deterministic interpreter: counts repeat exactly
            "OPENCV_LOG_LEVEL": "ERROR",
        }
        res.notes.append(
            f"baselines: {py} (CPython {version}) + PyPI aarch64 wheels of numpy, "
            "opencv-python-headless, ncnn; Python call overhead included; "
            "differential (1 + N) - 1 calls (first call = library initialisation)"
        )
        script = BENCH_SRC / "baseline.py"
        for lib in ("opencv", "ncnn"):
            for case in CASES:
                try:
                    cmd = [str(py), str(script), lib, case]
                    n = BASELINE_CALLS[case]
                    v = per_call(cmd, n, plugin, cpu, rootfs, env, warmup=1)
                except SdkError as exc:
                    res.rows.append(Row(case, lib, None, f"failed: {exc.one_line()[:120]}"))
                    continue
                res.rows.append(Row(case, lib, v, "" if v is not None else "no such entry point"))
    try:
        res.mca = mca_cycles()
    except SdkError as exc:
        res.notes.append(f"llvm-mca skipped: {exc.one_line()}")
    return res


def format_table(res: BenchResult) -> str:
    lines = [f"aarch64 instructions per call (QEMU TCG plugin, -cpu {res.cpu}, differential N - 0 calls)"]
    lines.append(f"  {'case':<6} {'impl':<7} {'insns/call':>13}  {'vs best baseline':>16}  note")
    for case, desc in CASES.items():
        base = res.best_baseline(case)
        for r in (r for r in res.rows if r.case == case):
            v = f"{r.insns_per_call:,.0f}" if r.insns_per_call is not None else "n/a"
            ratio = f"{r.insns_per_call / base[1]:.2f}x {base[0]}" if (base and r.insns_per_call) else "-"
            note = r.note
            if r.impl == "neon" and r.insns_per_call is not None:
                ok = "meets" if r.insns_per_call <= TARGETS[case] else "MISSES"
                note = f"{ok} target {TARGETS[case]:,}" + (f"; {note}" if note else "")
            lines.append(f"  {case:<6} {r.impl:<7} {v:>13}  {ratio:>16}  {note}")
        lines.append(f"         ({desc})")
    if res.mca:
        lines.append("llvm-mca cycles per iteration of the NEON inner loop:")
        for loop, per in res.mca.items():
            lines.append(f"  {loop:<20} " + "  ".join(f"{c}: {v:.1f}" for c, v in per.items()))
    lines += [f"note: {n}" for n in res.notes]
    return "\n".join(lines)
