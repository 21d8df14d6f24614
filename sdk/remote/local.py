"""A :class:`~sdk.remote.base.Session` on this machine, through subprocess.

Same semantics as the SSH session: argv lists (never a shell), ``cwd``, ``env`` added to
the environment, a timeout that kills the whole process group, streamed output lines, and
atomic uploads. ``root`` plays the remote user's home: ``~/x`` and relative paths resolve
under it (default: this user's home).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from sdk.errors import RemoteError
from sdk.remote.base import LineStream, OutputCallback, RunResult, SessionBase, checked_command


class LocalSession(SessionBase):
    """Drive this machine as if it were a board."""

    def __init__(self, root: Path | None = None, board: str = "local") -> None:
        self.board = board
        self.root = Path(root).resolve() if root is not None else Path.home()
        self._home = self.root.as_posix()

    # ------------------------------------------------------------------ commands

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        on_output: OutputCallback | None = None,
        check: bool = True,
    ) -> RunResult:
        args = checked_command(argv, env, self.board)
        full_env = dict(os.environ)
        full_env.update(env or {})
        workdir = self.resolve(cwd) if cwd is not None else self._home
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                args,
                cwd=workdir,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group, killed as one on timeout
            )
        except OSError as exc:  # what a shell would report as "not found" / "cannot cd"
            code = 2 if isinstance(exc, NotADirectoryError) or not Path(workdir).is_dir() else 127
            result = RunResult(args, code, "", f"{args[0]}: {exc.strerror or exc}\n", 0.0)
            return self._finish(result, check)

        lock = threading.Lock()
        out = LineStream(on_output, lock)
        err = LineStream(on_output, lock)
        assert proc.stdout is not None and proc.stderr is not None
        readers = [
            threading.Thread(target=_pump, args=(proc.stdout, out), daemon=True),
            threading.Thread(target=_pump, args=(proc.stderr, err), daemon=True),
        ]
        for t in readers:
            t.start()
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            for t in readers:
                t.join(timeout=5)
            raise self._timeout_error(args, timeout or 0.0) from None
        except BaseException:
            _kill_group(proc)
            raise
        for t in readers:
            t.join()
        result = RunResult(args, code, out.text, err.text, time.monotonic() - start)
        return self._finish(result, check)

    # ------------------------------------------------------------------ files

    def _path(self, remote: str) -> Path:
        return Path(self.resolve(remote))

    def _error(self, what: str, remote: str, exc: OSError) -> RemoteError:
        return RemoteError(
            f"cannot {what} {remote} on board {self.board}: {exc.strerror or exc}"
        )

    def upload(self, local: Path, remote: str, *, key: str | None = None) -> int:
        target = self._path(remote)
        tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            shutil.copyfile(local, tmp)
            os.chmod(tmp, os.stat(local).st_mode & 0o7777)
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise self._error("upload to", remote, exc) from exc
        return os.stat(local).st_size

    def download(self, remote: str, local: Path) -> None:
        local = Path(local)
        tmp = local.with_name(f".{local.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            shutil.copyfile(self._path(remote), tmp)
            os.replace(tmp, local)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise self._error("download", remote, exc) from exc

    def listdir(self, remote: str) -> list[str]:
        try:
            return sorted(os.listdir(self._path(remote)))
        except OSError as exc:
            raise self._error("list", remote, exc) from exc

    def exists(self, remote: str) -> bool:
        return os.path.lexists(self._path(remote))

    def remove(self, remote: str, *, recursive: bool = False) -> None:
        path = self._path(remote)
        self._guard_remove(path.as_posix())
        try:
            if path.is_dir() and not path.is_symlink():
                if recursive:
                    shutil.rmtree(path)
                else:
                    path.rmdir()
            else:
                path.unlink()
        except OSError as exc:
            raise self._error("remove", remote, exc) from exc

    def mkdir(self, remote: str) -> None:
        try:
            self._path(remote).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._error("create directory", remote, exc) from exc

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"LocalSession(root={self.root!s}, board={self.board!r})"


def _pump(pipe: IO[bytes], stream: LineStream) -> None:
    try:
        for chunk in iter(lambda: pipe.read1(65536), b""):  # type: ignore[attr-defined]
            stream.feed(chunk)
    finally:
        stream.close()
        pipe.close()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()
