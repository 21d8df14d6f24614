"""Run an engine's own tool (pnnx, MNN's converter and quantizer) as a child process.

A child process, because these tools are C++ that can crash or print straight to fd 1:
a crash becomes a one-line error in the caller, and everything they say lands in a log file
beside their output.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from sdk.errors import SdkError


def run_tool(
    argv: Sequence[str],
    *,
    cwd: Path,
    timeout: float,
    on_timeout: Callable[[], SdkError],
    log_name: str | None = None,
) -> tuple[int, str]:
    """Run ``argv`` in ``cwd``; returns (exit code, stdout + stderr), the latter also saved
    as ``cwd/log_name``. A run over ``timeout`` seconds raises ``on_timeout()``."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, errors="replace",
                              timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise on_timeout() from None
    log = proc.stdout + "\n" + proc.stderr
    if log_name:
        (Path(cwd) / log_name).write_text(log)
    return proc.returncode, log
