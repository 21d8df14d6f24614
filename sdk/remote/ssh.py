"""A :class:`~sdk.remote.base.Session` over SSH (paramiko): commands and files.

Made by :func:`sdk.remote.connect.open_session`, which verifies the host key and
authenticates. Every remote command is an argv list, each argument quoted with
:func:`shlex.quote`; every SFTP request waits at most ``SFTP_TIMEOUT`` for its reply.

Commands run through ``exec`` (no pty). The remote shell first prints its pid, which is a
process group leader (sshd calls ``setsid``); on timeout the whole group is killed.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import socket
import stat
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sdk.boards import BoardEntry
from sdk.errors import ConnectionLost, NoSpace, RemoteError
from sdk.remote.base import (
    LineStream,
    OutputCallback,
    RunResult,
    SessionBase,
    checked_command,
    describe,
)
from sdk.remote.sync import partial_name

if TYPE_CHECKING:
    import paramiko

SFTP_TIMEOUT = 30.0  # no SFTP request waits longer for its reply
CHUNK = 32768

# paramiko logs from its transport thread (a lost socket, a failed handshake); with no
# handler Python would print those lines on the terminal. The SDK reports errors itself.
_plog = logging.getLogger("paramiko")
_plog.addHandler(logging.NullHandler())
_plog.propagate = False


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --------------------------------------------------------------------------- the session


_PID_MARK = "SDK-PID:"


def _split_pid(head: bytes) -> tuple[bytes, int | None]:
    """Find the shell's pid line; drop what a login script printed before it.

    Returns the command's own output so far and the pid (None while not yet seen).
    """
    mark = _PID_MARK.encode()
    start = 0
    while True:
        nl = head.find(b"\n", start)
        if nl < 0:
            return b"", None
        line = head[start:nl]
        if line.startswith(mark) and line[len(mark) :].strip().isdigit():
            return head[nl + 1 :], int(line[len(mark) :])
        start = nl + 1


def _link_errors() -> tuple[type[BaseException], ...]:
    """What a file operation raises when the board or the link fails (paramiko is imported
    by then): OS errors, EOF, and paramiko's "Server connection dropped"."""
    import paramiko

    return (OSError, EOFError, paramiko.SSHException)


def _is_missing(exc: BaseException) -> bool:
    import errno

    return getattr(exc, "errno", None) == errno.ENOENT or isinstance(exc, FileNotFoundError)


class SSHSession(SessionBase):
    """A board over SSH: exec for commands, SFTP for files. Made by :func:`open_session`."""

    def __init__(self, entry: BoardEntry, transport: paramiko.Transport) -> None:
        self.entry = entry
        self.board = entry.name
        self._transport = transport
        self._sftp_client: paramiko.SFTPClient | None = None
        self._home = self._sftp().normalize(".")

    def _sftp(self) -> paramiko.SFTPClient:
        import paramiko

        if self._sftp_client is None:
            try:
                self._sftp_client = paramiko.SFTPClient.from_transport(self._transport)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                if not self._transport.is_active():
                    raise self._lost("opening SFTP", exc) from exc
                raise RemoteError(
                    f"cannot open SFTP on board {self.board}: {_reason(exc)}",
                    fix="enable the sftp subsystem in the board's sshd_config",
                ) from exc
            assert self._sftp_client is not None
            self._sftp_client.get_channel().settimeout(SFTP_TIMEOUT)
        return self._sftp_client

    def abort(self) -> None:
        """Drop the connection at once (Ctrl-C): nothing waits for a reply that a broken
        packet will never get. The session is unusable afterwards."""
        self._sftp_client = None
        with contextlib.suppress(Exception):
            self._transport.close()

    def _lost(self, what: str, exc: BaseException | None) -> ConnectionLost:
        return ConnectionLost(
            f"lost the connection to board {self.board} ({self.entry.host}:{self.entry.port}) "
            f"while {what}",
            found=_reason(exc) if exc is not None else "the SSH transport closed",
            fix="check the board and the network, then re-run the same command: it resumes "
            "where it stopped",
        )

    def _error(self, what: str, remote: str, exc: BaseException) -> RemoteError:
        if not isinstance(exc, OSError) or isinstance(exc, socket.timeout) \
                or not self._transport.is_active():
            return self._lost(f"trying to {what} {remote}", exc)
        return RemoteError(f"cannot {what} {remote} on board {self.board}: {_reason(exc)}")

    # ------------------------------------------------------------------ commands

    def _command(
        self, argv: Sequence[str], cwd: str | None, env: Mapping[str, str] | None
    ) -> str:
        parts = [f"printf '{_PID_MARK}%s\\n' \"$$\""]
        if cwd is not None:
            parts.append("cd -- " + shlex.quote(self.resolve(cwd)))
        if env:
            parts.append("export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()))
        # The command runs in the background of this shell (one process group, sshd's
        # setsid); a watchdog reads the channel's stdin, which ends when the host side goes
        # away (killed, lost link), and then kills the whole group: no orphan on the board.
        parts.append(
            "{ " + shlex.join(argv) + " & } && _c=$! && "
            "{ (cat <&3 >/dev/null 2>&1; kill -KILL -- -$$) 2>/dev/null 3<&3 & } 3<&0 && _w=$! && "
            "{ wait $_c; _r=$?; kill $_w 2>/dev/null; exit $_r; }"
        )
        return " && ".join(parts)

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
        command = self._command(args, cwd, env)
        start = time.monotonic()
        deadline = None if timeout is None else start + timeout
        try:
            chan = self._transport.open_session(timeout=30)
            chan.exec_command(command)
        except Exception as exc:
            if not self._transport.is_active():
                raise self._lost("starting " + describe(args, 60), exc) from exc
            raise RemoteError(
                f"cannot start a command on board {self.board}: {_reason(exc)}",
                found=shlex.join(args)[:120],
                fix=f"check the connection to board {self.board}",
            ) from exc

        lock = threading.Lock()
        out = LineStream(on_output, lock)
        err = LineStream(on_output, lock)
        head = b""  # stdout until the shell's pid line has been read
        pid: int | None = None
        delay = 0.001
        try:
            while True:
                got = False
                if chan.recv_ready():
                    data = chan.recv(65536)
                    got = True
                    if pid is None:
                        head += data
                        data, pid = _split_pid(head)
                    if data:
                        out.feed(data)
                if chan.recv_stderr_ready():
                    err.feed(chan.recv_stderr(65536))
                    got = True
                if not got and not self._transport.is_active():
                    raise self._lost("running " + describe(args, 60), None)
                if deadline is not None and time.monotonic() >= deadline:
                    self._kill(pid)
                    raise self._timeout_error(args, timeout or 0.0)
                if got:
                    delay = 0.001
                    continue
                ended = chan.closed or (chan.exit_status_ready() and chan.eof_received)
                if ended and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        except KeyboardInterrupt:
            self.abort()
            raise
        except _link_errors() as exc:
            chan.close()
            raise self._lost("running " + describe(args, 60), exc) from exc
        except BaseException:
            chan.close()
            raise
        if pid is None and head:
            out.feed(head)
        out.close()
        err.close()
        code = chan.recv_exit_status()
        chan.close()
        if code == -1 and not self._transport.is_active():
            raise self._lost("running " + describe(args, 60), None)
        result = RunResult(args, code, out.text, err.text, time.monotonic() - start)
        return self._finish(result, check)

    def _kill(self, pid: int | None) -> None:
        """Kill the timed-out command's process group (best effort)."""
        if pid is None or pid <= 0:
            return
        cmd = f"kill -KILL -- -{pid} 2>/dev/null || kill -KILL {pid} 2>/dev/null; true"
        try:
            chan = self._transport.open_session(timeout=10)
            chan.settimeout(10)
            chan.exec_command(cmd)
            chan.recv_exit_status()
            chan.close()
        except Exception:
            pass

    # ------------------------------------------------------------------ files

    def upload(self, local: Path, remote: str, *, key: str | None = None) -> int:
        """Atomic upload. With ``key`` (the file's sha256) the bytes go to a partial file
        named after it, so an upload a lost connection broke resumes from its offset."""
        target = self.resolve(remote)
        head, _, name = target.rpartition("/")
        tmp = (f"{head}/{partial_name(name, key)}" if key
               else f"{head}/.{name}.tmp-{uuid.uuid4().hex[:8]}")
        sftp = self._sftp()
        local = Path(local)
        size = local.stat().st_size
        try:
            offset = 0
            if key:
                with contextlib.suppress(OSError):
                    offset = sftp.stat(tmp).st_size or 0
                if offset > size:
                    offset = 0
            fh = sftp.open(tmp, "ab" if offset else "wb")
            fh.set_pipelined(True)
            try:
                with open(local, "rb") as src:
                    src.seek(offset)
                    for chunk in iter(lambda: src.read(CHUNK), b""):
                        fh.write(chunk)
            except KeyboardInterrupt:
                self.abort()  # never close(): it would wait for replies that do not come
                raise
            fh.close()
            got = sftp.stat(tmp).st_size
            if got != size:
                raise OSError(f"size mismatch after upload: {got} != {size}")
            sftp.chmod(tmp, local.stat().st_mode & 0o7777)
            try:
                sftp.posix_rename(tmp, target)
            except OSError:  # server without posix-rename: not atomic, but correct
                with contextlib.suppress(OSError):
                    sftp.remove(target)
                sftp.rename(tmp, target)
            return size - offset
        except KeyboardInterrupt:
            self.abort()
            raise
        except _link_errors() as exc:
            if not isinstance(exc, OSError) or isinstance(exc, socket.timeout) \
                    or not self._transport.is_active():
                raise self._lost(f"uploading {target}", exc) from exc
            with contextlib.suppress(Exception):
                sftp.remove(tmp)
            self._check_space(head, size, target, exc)
            raise self._error("upload to", target, exc) from exc

    def _check_space(self, directory: str, need: int, target: str, exc: BaseException) -> None:
        """A write that failed on a full filesystem says so (SFTP only says "Failure")."""
        try:
            res = self.run(["python3", "-c", "import os,sys; s=os.statvfs(sys.argv[1]); "
                            "print(s.f_bavail*s.f_frsize)", directory], timeout=30, check=False)
            free = int(res.stdout.strip() or "-1")
        except Exception:
            return
        if 0 <= free < max(need, 1 << 20):
            raise NoSpace(
                f"no space left on {self.board} (need {need / 2**20:.1f} MiB, "
                f"{free / 2**20:.1f} MiB free on {directory}) while uploading "
                f"{target.rpartition('/')[2]}",
                fix="free space on the board (old bundles live in ~/.sdk/apps)",
            ) from exc

    def download(self, remote: str, local: Path) -> None:
        local = Path(local)
        tmp = local.with_name(f".{local.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            self._sftp().get(self.resolve(remote), str(tmp))
            tmp.replace(local)
        except _link_errors() as exc:
            tmp.unlink(missing_ok=True)
            raise self._error("download", remote, exc) from exc

    def listdir(self, remote: str) -> list[str]:
        try:
            return sorted(self._sftp().listdir(self.resolve(remote)))
        except _link_errors() as exc:
            raise self._error("list", remote, exc) from exc

    def exists(self, remote: str) -> bool:
        try:
            self._sftp().lstat(self.resolve(remote))
            return True
        except _link_errors() as exc:
            if _is_missing(exc):
                return False
            raise self._error("check", remote, exc) from exc

    def remove(self, remote: str, *, recursive: bool = False) -> None:
        path = self.resolve(remote)
        self._guard_remove(path)
        sftp = self._sftp()
        try:
            st = sftp.lstat(path)
            if st.st_mode is not None and stat.S_ISDIR(st.st_mode):
                if recursive:
                    self.run(["rm", "-rf", "--", path], timeout=600)
                else:
                    sftp.rmdir(path)
            else:
                sftp.remove(path)
        except _link_errors() as exc:
            raise self._error("remove", remote, exc) from exc

    def mkdir(self, remote: str) -> None:
        path = self.resolve(remote)
        sftp = self._sftp()
        todo: list[str] = []
        p = path
        while p not in ("", "/"):
            try:
                st = sftp.stat(p)
            except _link_errors() as exc:
                if not _is_missing(exc):
                    raise self._error("create directory", remote, exc) from exc
                todo.append(p)
                p = p.rpartition("/")[0]
                continue
            if st.st_mode is not None and not stat.S_ISDIR(st.st_mode):
                raise RemoteError(
                    f"cannot create directory {path} on board {self.board}: {p} is a file"
                )
            break
        for d in reversed(todo):
            try:
                sftp.mkdir(d)
            except _link_errors() as exc:
                raise self._error("create directory", d, exc) from exc

    def close(self) -> None:
        if self._sftp_client is not None:
            with contextlib.suppress(Exception):
                self._sftp_client.close()
            self._sftp_client = None
        self._transport.close()

    def __repr__(self) -> str:
        e = self.entry
        return f"SSHSession(board={e.name!r}, {e.user}@{e.host}:{e.port})"
