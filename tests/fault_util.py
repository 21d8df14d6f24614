"""Helpers of the fault suites: a real `sdk` child process read line by line, the board's
app directories and processes seen from the host (the emulated board's rootfs)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from cli_util import Child

from sdk.boards import BoardEntry, Inventory


def app_root(entry: BoardEntry, app: str) -> Path:
    assert entry.rootfs
    return Path(entry.rootfs) / "root" / ".sdk" / "apps" / app


def current_id(entry: BoardEntry, app: str) -> str | None:
    cur = app_root(entry, app) / "current"
    return os.readlink(cur).rpartition("/")[2] if cur.is_symlink() else None


def board_runs(entry: BoardEntry, app: str) -> None:
    """``current`` of ``app`` passes the runner's sha256 check and runs its golden check."""
    from sdk.remote import open_session

    entry = Inventory().get(entry.name)  # the board may have restarted (a new port)
    with open_session(entry) as s:
        base = f"~/.sdk/apps/{app}/current"
        res = s.run(["sh", "-c", 'cd "$1" && PYTHONPATH=runtime python3 -m sdk.device.runner verify .',
                     "sh", s.resolve(base)], timeout=300, check=False)
        assert res.returncode == 0, res.stderr


def clear_app(entry: BoardEntry, app: str) -> None:
    import shutil

    shutil.rmtree(app_root(entry, app), ignore_errors=True)


def deploy_argv(model: Path, entry: BoardEntry, app: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sdk", "deploy", str(model), "--board", entry.name, "--app", app,
            "--engine", "ncnn", "--runs", "2", "--warmup", "1", *extra]


class Deploy(Child):
    """A real `sdk deploy` (or any `sdk`) child process whose stderr is read line by line."""

    def finish(self, limit: float) -> int:
        """The exit code, waited for at most ``limit`` s (a fault's stdout is small)."""
        code = self.proc.wait(timeout=limit)
        self._reader.join(timeout=10)
        return code

    def interrupt(self, limit: float = 10) -> str:
        """Ctrl-C: the command exits 130 within ``limit`` s, no traceback; its last line."""
        import signal

        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        code = self.finish(60)
        took = time.monotonic() - t0
        print(f"SIGINT: exit {code} after {took:.1f} s")
        assert code == 130, self.stderr[-3000:]
        assert took < limit, f"SIGINT took {took:.1f} s"
        assert "Traceback" not in self.stderr
        return self.lines[-1]


def partial_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*.part-*") if p.is_file()] if root.exists() else []


def growing_partial(root: Path, min_bytes: int = 1 << 20) -> bool:
    return any(p.stat().st_size >= min_bytes for p in partial_files(root / "staging"))


def board_sdk_processes(entry: BoardEntry) -> list[str]:
    """Command lines of SDK work still running on the board (chrooted in its rootfs)."""
    from sdk.emulate._host import pids_rooted_in

    assert entry.rootfs
    found = []
    for pid in pids_rooted_in(Path(entry.rootfs)):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "sdk.device" in cmd or "flock" in cmd or ".lock." in cmd:
            found.append(f"{pid}: {cmd}")
    return found


def stop_board_process(entry: BoardEntry, marker: bytes, stopped: list[int] | None = None) -> bool:
    """SIGSTOP the board's process whose command line holds ``marker``, once there is one."""
    import signal

    from sdk.emulate._host import pids_rooted_in

    assert entry.rootfs
    for pid in pids_rooted_in(Path(entry.rootfs)):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if marker in cmd:
            os.kill(pid, signal.SIGSTOP)
            if stopped is not None:
                stopped.append(pid)
            return True
    return False


def wait_no_sdk_processes(entry: BoardEntry, limit: float = 30) -> list[str]:
    deadline = time.monotonic() + limit
    left = board_sdk_processes(entry)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = board_sdk_processes(entry)
    return left
