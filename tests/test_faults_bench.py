"""Faults during `sdk bench`, injected for real into the emulated board: a hung
configuration is killed at ``--timeout``; Ctrl-C ends the bench in one line with exit 130,
leaves nothing running on the board, releases the app's lock, and the next bench passes
(through the Python API, ``sdk.bench``, as the README documents it)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from fault_util import Deploy, board_sdk_processes, stop_board_process, wait_no_sdk_processes

from sdk.boards import BoardEntry

pytestmark = [pytest.mark.emulated, pytest.mark.slow]


def bench_argv(model: Path, entry: BoardEntry, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sdk", "bench", str(model), "--board", entry.name, "--engine", "ncnn",
            "--warmup", "1", "--settle", "0", *extra]


def test_bench_sigstopped_configuration_killed_at_timeout(emulated_board: BoardEntry,
                                                          tiny_classifier: Path) -> None:
    d = Deploy(bench_argv(tiny_classifier, emulated_board, "--runs", "2", "--timeout", "10"))
    stopped: list[int] = []
    d.wait_for(lambda: stop_board_process(emulated_board, b"sdk.device.bench\0_one", stopped), 1200)
    t0 = time.monotonic()
    code = d.finish(300)
    took = time.monotonic() - t0
    print(f"stopped bench configuration: exit {code} after {took:.1f} s")
    assert code == 1, d.stderr[-3000:]
    assert "timeout 10 s per configuration, at most 70 s in all" in d.stderr, d.stderr[-3000:]
    assert "FAILED: timed out after 10 s (--timeout)" in d.stderr, d.stderr[-3000:]
    errors = [ln for ln in d.lines if ln.startswith("error:")]
    assert len(errors) == 1 and "no configuration passed" in errors[0], d.stderr[-2000:]
    assert took < 10 + 60, f"the bench ended {took:.1f} s after the stop"
    assert not os.path.exists(f"/proc/{stopped[0]}"), "the stopped process is still there"
    assert not wait_no_sdk_processes(emulated_board), board_sdk_processes(emulated_board)


def test_bench_sigint_exits_fast_then_next_bench_passes(emulated_board: BoardEntry,
                                                         tiny_classifier: Path) -> None:
    import sdk

    d = Deploy(bench_argv(tiny_classifier, emulated_board, "--runs", "1000000"))
    d.wait_for(lambda: any(ln.startswith("    [bench] ") and "cpus" in ln for ln in d.lines), 1200)
    time.sleep(1)  # the configuration is measuring now
    assert board_sdk_processes(emulated_board)
    assert d.interrupt() == (f"interrupted during bench on {emulated_board.name}; "
                             "the previous bundle is still current"), d.stderr[-2000:]
    assert not wait_no_sdk_processes(emulated_board), board_sdk_processes(emulated_board)

    # the lock is free at once (wait=0 would fail with "board BUSY"), and the bench passes
    rep = sdk.bench(tiny_classifier, board=emulated_board.name, engine="ncnn", runs=3, warmup=1,
                    settle_s=0, wait=0)
    assert [r.ok for r in rep.run.results] == [True], [r.error for r in rep.run.results]
    assert rep.run.results[0].summary is not None and rep.run.results[0].summary.n >= 3
    assert rep.plan.timeout > 0
