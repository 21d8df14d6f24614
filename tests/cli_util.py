"""Running the real `sdk` command in a child process, as a user would."""

from __future__ import annotations

import subprocess
import sys
from typing import Any


def run_cli(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sdk", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def one_error_line(r: subprocess.CompletedProcess[str]) -> str:
    """The CLI failed with exit 1 and exactly one 'error:' line, no traceback."""
    assert r.returncode == 1, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    assert "Traceback" not in r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, r.stderr
    return errors[0]


def board_results(device: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """A report's board results (``doc["device"]``) keyed by (engine, precision)."""
    return {(r["engine"], r["precision"]): r for r in device["results"]}


def host_rows(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """A report's host validation rows keyed by (engine, precision)."""
    return {(h["engine"], h["precision"]): h for h in doc["host_validation"]}
