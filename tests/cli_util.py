"""Running the real `sdk` command in a child process, as a user would."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any


def run_cli(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sdk", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


class Child:
    """A real `sdk` child process whose stderr is read line by line as it runs."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.out = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pred: Callable[[], bool] | str, limit: float) -> None:
        """Until ``pred()`` holds, or a stderr line contains the text ``pred``."""
        def met() -> bool:
            return any(pred in ln for ln in self.lines) if isinstance(pred, str) else pred()

        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if met():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"ended before {pred!r}:\n" + "\n".join(self.lines[-30:]))
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {pred!r}:\n" + "\n".join(self.lines[-30:]))

    def finish(self, limit: float) -> int:
        """The exit code; stdout is kept in ``out``."""
        assert self.proc.stdout is not None
        self.out = self.proc.stdout.read()
        code = self.proc.wait(timeout=limit)
        self._reader.join(timeout=10)
        return code

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)


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
