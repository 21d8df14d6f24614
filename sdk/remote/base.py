"""The one session interface every board is driven through.

A :class:`Session` runs commands on a board and moves files to and from it. There are two
implementations with the same semantics, tested by one suite: :class:`~sdk.remote.local.
LocalSession` (this machine, subprocess) and :class:`~sdk.remote.ssh.SSHSession` (paramiko).

Semantics shared by both:

- ``run`` takes an argv *list*; every argument is quoted for the remote shell, so no
  argument is ever interpreted by a shell (spaces, quotes, ``$()``, ``;`` arrive verbatim).
- Remote paths are POSIX strings. ``~`` and a leading ``~/`` mean the remote user's home
  (resolved once per session); a relative path is relative to that home.
- ``upload`` is atomic: the file is written beside its target under a temporary name, gets
  the local file's permission bits (so the executable bit survives) and is renamed over
  the target.
- Errors a user can cause raise :class:`~sdk.errors.RemoteError` naming the board.
"""

from __future__ import annotations

import codecs
import posixpath
import shlex
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from sdk.errors import RemoteError

OutputCallback = Callable[[str], None]
ProgressCallback = Callable[[int, int], None]


@dataclass
class RunResult:
    """What one command did on the board.

    ``returncode`` is negative when the command was killed by a signal (the local session
    reports ``-signal``; over SSH paramiko does not pass the signal on, so it is ``-1``).
    """

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@runtime_checkable
class Session(Protocol):
    """Run commands on a board and move files to and from it."""

    board: str

    def resolve(self, remote: str) -> str:
        """The absolute POSIX path for ``remote`` (``~``, ``~/x`` and relative paths)."""
        ...

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
        """Run ``argv`` (each argument quoted) and wait for it.

        ``on_output`` gets each output line (stdout and stderr, without the newline) as it
        arrives. ``timeout`` kills the command and raises RemoteError; with ``check`` a
        non-zero exit raises RemoteError with the exit code and the last stderr line.
        """
        ...

    def upload(self, local: Path, remote: str, *, key: str | None = None) -> int:
        """Atomic upload; ``key`` (the sha256) lets a broken upload resume (SSH). Returns
        the bytes sent (less than the file's size when an earlier upload is resumed)."""
        ...

    def abort(self) -> None:
        """Drop the connection at once, waiting for nothing (after Ctrl-C)."""
        ...

    def download(self, remote: str, local: Path) -> None: ...

    def listdir(self, remote: str) -> list[str]: ...

    def exists(self, remote: str) -> bool: ...

    def remove(self, remote: str, *, recursive: bool = False) -> None: ...

    def mkdir(self, remote: str) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Session: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


# --------------------------------------------------------------------------- shared helpers


def describe(argv: Sequence[str], limit: int = 120) -> str:
    """A command as a user would type it, shortened for error messages."""
    text = shlex.join(argv)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def checked_command(argv: Sequence[str], env: Mapping[str, str] | None, board: str) -> list[str]:
    """``argv`` as strings, refused (one line) when empty or when ``env`` has a bad name."""
    args = [str(a) for a in argv]
    if not args:
        raise RemoteError(f"empty command for board {board}", expected="an argv list")
    check_env_names(env, board)
    return args


def check_env_names(env: Mapping[str, str] | None, board: str) -> None:
    for key in env or {}:
        if not key or not (key[0].isalpha() or key[0] == "_") or not all(
            c.isalnum() or c == "_" for c in key
        ):
            raise RemoteError(
                f"invalid environment variable name for board {board}",
                expected="letters, digits and '_', not starting with a digit",
                found=repr(key),
            )


class LineStream:
    """Decode a byte stream incrementally and hand complete lines to a callback."""

    def __init__(self, callback: OutputCallback | None, lock: threading.Lock) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._callback = callback
        self._lock = lock
        self._parts: list[str] = []
        self._pending = ""

    def feed(self, data: bytes, final: bool = False) -> None:
        text = self._decoder.decode(data, final)
        if text:
            self._parts.append(text)
        if self._callback is None:
            return
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        if final and self._pending:
            lines.append(self._pending)
            self._pending = ""
        for line in lines:
            with self._lock:
                self._callback(line.removesuffix("\r"))

    def close(self) -> None:
        self.feed(b"", final=True)

    @property
    def text(self) -> str:
        return "".join(self._parts)


class SessionBase:
    """What both implementations share: path resolution, checks, context manager.

    Mirroring a directory is :func:`sdk.remote.sync.sync_dir`, written once over these
    primitives for every session."""

    board: str
    _home: str

    def resolve(self, remote: str) -> str:
        if remote == "~":
            return self._home
        if remote.startswith("~/"):
            return posixpath.normpath(posixpath.join(self._home, remote[2:]))
        if not remote.startswith("/"):
            return posixpath.normpath(posixpath.join(self._home, remote))
        return posixpath.normpath(remote)

    def close(self) -> None:  # pragma: no cover - overridden
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- checks and errors shared by both implementations

    def _guard_remove(self, path: str) -> None:
        if path in ("/", self._home):
            raise RemoteError(
                f"refusing to remove {path} on board {self.board}",
                expected="a path below the home directory or elsewhere",
                found=path,
            )

    def _timeout_error(self, argv: Sequence[str], timeout: float) -> RemoteError:
        return RemoteError(
            f"command timed out on board {self.board} after {timeout:g} s: {describe(argv)}",
            fix="raise the timeout or check the board is not overloaded",
        )

    def _finish(self, result: RunResult, check: bool) -> RunResult:
        if check and result.returncode != 0:
            lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
            last = lines[-1].strip() if lines else "(no stderr)"
            raise RemoteError(
                f"command failed on board {self.board} with exit code {result.returncode}: "
                f"{describe(result.argv)}",
                found=last,
            )
        return result
