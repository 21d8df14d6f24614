"""The instruction-count benchmark and the board build of sdk._kernels.

The slow tests need the cross toolchains and QEMU user mode (the CI image has them) and, for
the board build, apt access to the Debian archive for the target's -dev packages.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sdk.kernels import bench
from sdk.kernels.build import soabi, verify_elf

HAVE_AARCH64 = bool(shutil.which("qemu-aarch64") and shutil.which("aarch64-linux-gnu-g++"))


def test_format_table_and_summary() -> None:
    res = bench.BenchResult(cpu="cortex-a72")
    res.rows += [
        bench.Row("bgr", "neon", 700_000.0),
        bench.Row("bgr", "ncnn", 3_500_000.0),
        bench.Row("nms", "neon", 11_000_000.0),
    ]
    text = bench.format_table(res)
    assert "meets target 950,000" in text
    assert "MISSES target 10,000,000" in text
    assert "0.20x ncnn" in text
    summary = res.to_dict()["summary"]
    assert isinstance(summary, dict)
    assert summary["bgr"]["ratio_to_best_baseline"] == pytest.approx(0.2)


def test_soabi_names_the_board_python() -> None:
    assert soabi("aarch64", "3.11") == "cpython-311-aarch64-linux-gnu"
    assert soabi("armv7", "3.11") == "cpython-311-arm-linux-gnueabihf"


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_AARCH64, reason="needs qemu-aarch64 and g++-aarch64-linux-gnu")
def test_neon_kernels_meet_instruction_targets() -> None:
    res = bench.run_benchmarks(baselines=False)
    for case, target in bench.TARGETS.items():
        neon, scalar = res.get(case, "neon"), res.get(case, "scalar")
        assert neon is not None and scalar is not None
        assert neon <= target, f"{case}: {neon:,.0f} instructions/call > target {target:,}"
        assert neon < scalar


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_AARCH64 or not shutil.which("dpkg"), reason="needs dpkg + cross tools")
def test_build_for_board_aarch64(tmp_path: Path) -> None:
    from sdk.kernels.build import build_for_board

    out = build_for_board("aarch64", "3.11", tmp_path)
    assert out.name == "_kernels.cpython-311-aarch64-linux-gnu.so"
    assert "ARM aarch64" in verify_elf(out, "aarch64")
