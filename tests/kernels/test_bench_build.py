"""The instruction-count benchmark and the board build of sdk._kernels.

The slow tests need the cross toolchains and QEMU user mode (the CI image has them) and, for
the board build, apt access to the Debian archive for the target's -dev packages.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sdk
from sdk.kernels import bench
from sdk.kernels.build import soabi, verify_elf

BASELINE = bench.BENCH_SRC / "baseline.py"
HAVE_AARCH64 = bool(shutil.which("qemu-aarch64") and shutil.which("aarch64-linux-gnu-g++"))


def test_format_table_and_summary() -> None:
    res = bench.BenchResult(cpu="cortex-a72")
    res.rows += [
        bench.Row("bgr", "neon", 400_000.0),
        bench.Row("bgr", "ncnn", 2_000_000.0),
        bench.Row("nms", "neon", 11_000_000.0),
    ]
    text = bench.format_table(res)
    assert "meets target 450,000" in text
    assert "MISSES target 3,000,000" in text
    assert "0.200x ncnn" in text
    summary = res.to_dict()["summary"]
    assert isinstance(summary, dict)
    assert summary["bgr"]["ratio_to_best_baseline"] == pytest.approx(0.2)


def test_cheapest_baseline_sets_the_ratio() -> None:
    res = bench.BenchResult(cpu="cortex-a72")
    res.rows += [
        bench.Row("nms", "neon", 5_000_000.0),
        bench.Row("nms", "opencv-batched", 1_000_000_000.0),
        bench.Row("nms", "opencv-per-class", 80_000_000.0),
    ]
    summary = res.to_dict()["summary"]
    assert isinstance(summary, dict)
    assert summary["nms"]["best_baseline"] == "opencv-per-class"
    assert summary["nms"]["ratio_to_best_baseline"] == pytest.approx(0.0625)


def test_json_has_the_fingerprint_sdk_report_compares() -> None:
    from sdk.report.compare import _fingerprint

    res = bench.BenchResult(cpu="cortex-a53")
    versions: dict[str, object] = {"numpy": "2.2.6", "ncnn": "1.0.20250503", "python": "3.11.2"}
    res.fingerprint = bench._fingerprint("cortex-a53", Path("kernel_bench-aarch64-0123abcd"), versions, None)
    doc = json.loads(json.dumps(res.to_dict()))
    # the fields of an `sdk bench` result's fingerprint (sdk/report/bench.py BenchReport.build)
    assert set(doc["fingerprint"]) == {
        "board", "profile", "emulated", "qemu_cpu", "cpus", "clusters", "unread", "platform",
        "sdk", "model_sha256", "bundle_id", "settings",
    }
    assert doc["fingerprint"]["bundle_id"] == "0123abcd"
    assert doc["fingerprint"]["settings"]["baseline_env"]["OMP_NUM_THREADS"] == "1"
    fp = _fingerprint(doc)
    assert fp["qemu_cpu"] == "cortex-a53" and fp["numpy"] == "2.2.6" and fp["ncnn"] == "1.0.20250503"
    assert fp["board"] == "qemu-user" and fp["emulated"] is True and fp["sdk"] == sdk.__version__


def _host_python(code: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh host interpreter (no thread pool left over from other tests)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_thread_check_fails_a_baseline_that_spawns_threads() -> None:
    pytest.importorskip("cv2")
    prelude = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('baseline', {str(BASELINE)!r})\n"
        "b = importlib.util.module_from_spec(spec); spec.loader.exec_module(b)\n"
        "before = b.thread_count()\n"
        "import os\n"
        "if PIN: os.environ.update(b.PIN_ENV)\n"
        "import cv2, numpy as np\n"
        "img = np.zeros((1080, 1920, 3), np.uint8)\n"
    )
    check = (
        "try:\n"
        "    b.run_checked(lambda: cv2.resize(img, (224, 224)), before)\n"
        "except b.ThreadsSpawned as exc:\n"
        "    print('SPAWNED', exc); sys.exit(4)\n"
        "print('PINNED')\n"
    )
    unpinned = _host_python("PIN = False\n" + prelude + "cv2.setNumThreads(2)\n" + check)
    assert unpinned.returncode == 4 and "SPAWNED" in unpinned.stdout, unpinned.stdout + unpinned.stderr
    # pinned the way baseline.py pins: the environment before the import, then setNumThreads
    pinned = _host_python("PIN = True\n" + prelude + "cv2.setNumThreads(1)\n" + check)
    assert pinned.returncode == 0 and "PINNED" in pinned.stdout, pinned.stdout + pinned.stderr


@pytest.mark.parametrize(
    ("lib", "case"), [("opencv", "nv12-planes"), ("opencv", "nms-per-class"), ("ncnn", "bgr")]
)
def test_baseline_runs_pinned_and_self_checks(lib: str, case: str) -> None:
    pytest.importorskip("cv2" if lib == "opencv" else "ncnn")
    p = subprocess.run([sys.executable, str(BASELINE), lib, case, "1"], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout.strip().splitlines()[-1])
    assert info["threads_after"] == info["threads_before"]
    if case == "nms-per-class":  # exit 5 otherwise: NMSBoxesBatched and the loop keep one set
        assert info["kept"] > 0
    if case == "nv12-planes":
        assert info["planes_vs_full_frame_u8"]["max"] >= 0


def test_soabi_names_the_board_python() -> None:
    assert soabi("aarch64", "3.11") == "cpython-311-aarch64-linux-gnu"
    assert soabi("armv7", "3.11") == "cpython-311-arm-linux-gnueabihf"


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_AARCH64, reason="needs qemu-aarch64 and g++-aarch64-linux-gnu")
def test_neon_kernels_stay_under_their_ceilings() -> None:
    res = bench.run_benchmarks(baselines=False)
    for case, ceiling in bench.CEILINGS.items():
        neon, scalar = res.get(case, "neon"), res.get(case, "scalar")
        assert neon is not None and scalar is not None
        assert neon <= ceiling, f"{case}: {neon:,.0f} instructions/call > ceiling {ceiling:,}"
        assert neon < scalar


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_AARCH64 or not shutil.which("dpkg"), reason="needs dpkg + cross tools")
def test_build_for_board_aarch64(tmp_path: Path) -> None:
    from sdk.kernels.build import build_for_board

    out = build_for_board("aarch64", "3.11", tmp_path)
    assert out.name == "_kernels.cpython-311-aarch64-linux-gnu.so"
    assert "ARM aarch64" in verify_elf(out, "aarch64")
