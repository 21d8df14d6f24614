"""Connecting to a board over SSH (paramiko): host keys, private keys, bounded retries.

Trust model:

- A board's host key is trusted only once a user said so (``sdk board trust NAME``, which
  shows the fingerprint from :func:`fetch_host_key` and stores the key in the inventory).
  :func:`open_session` compares the key the board presents with that stored key, byte for
  byte, and refuses an unknown or a changed key. Nothing is ever added automatically.
- Authentication is by private key only (``entry.key``, or the user's default keys).
- Connecting is retried, bounded and with exponential backoff, only on transient errors
  (refused, timed out, reset, EOF while reading the banner); never on authentication or
  host key failures. The final error names the board, host:port and the attempts made.

The session itself (commands, files) is :class:`sdk.remote.ssh.SSHSession`.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sdk.boards import BoardEntry
from sdk.errors import RemoteError
from sdk.remote.hostkey import HostKey, check_host_key
from sdk.remote.ssh import SSHSession, _reason

if TYPE_CHECKING:
    import paramiko

DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")

# Host key algorithms that present a key of a given type.
_KEY_ALGORITHMS = {
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"),
}


def _connect_socket(host: str, port: int, timeout: float) -> socket.socket:
    return socket.create_connection((host, port), timeout=timeout)


def _start_transport(
    host: str, port: int, timeout: float, key_type: str | None = None
) -> paramiko.Transport:
    import paramiko

    sock = _connect_socket(host, port, timeout)
    transport = paramiko.Transport(sock)
    transport.banner_timeout = timeout
    transport.handshake_timeout = timeout
    transport.auth_timeout = timeout
    if key_type is not None:
        opts = transport.get_security_options()
        wanted = _KEY_ALGORITHMS.get(key_type, (key_type,))
        supported = list(opts.key_types)
        first = [k for k in wanted if k in supported]
        opts.key_types = first + [k for k in supported if k not in first]
    try:
        transport.start_client(timeout=timeout)
    except BaseException:
        transport.close()
        raise
    return transport


def fetch_host_key(host: str, port: int, timeout: float = 5.0) -> HostKey:
    """The host key ``host:port`` presents (to show its fingerprint before trusting it)."""
    try:
        transport = _start_transport(host, port, timeout)
    except Exception as exc:
        raise RemoteError(
            f"cannot read the SSH host key of {host}:{port}: {_reason(exc)}",
            fix="check the host and port, and that sshd runs there",
        ) from exc
    try:
        return HostKey.from_pkey(transport.get_remote_server_key())
    finally:
        transport.close()


def is_reachable(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when ``host:port`` accepts TCP and greets with an SSH banner."""
    try:
        with _connect_socket(host, port, timeout) as sock:
            sock.settimeout(timeout)
            data = b""
            deadline = time.monotonic() + timeout
            while b"\n" not in data and len(data) < 4096 and time.monotonic() < deadline:
                chunk = sock.recv(256)
                if not chunk:
                    break
                data += chunk
            return any(line.startswith(b"SSH-") for line in data.split(b"\n"))
    except OSError:
        return False


def _is_transient(exc: BaseException) -> bool:
    """Connection refused/timed out/reset, or EOF while reading the banner."""
    import paramiko

    if isinstance(exc, paramiko.AuthenticationException | paramiko.BadHostKeyException):
        return False
    if isinstance(exc, socket.gaierror):  # the name does not resolve: retrying cannot help
        return False
    if isinstance(exc, OSError | EOFError):
        return True
    if isinstance(exc, paramiko.SSHException):
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, OSError | EOFError):
            return True
        text = str(exc).lower()
        return "banner" in text or "eof" in text or "reset" in text
    return False


def _load_keys(entry: BoardEntry) -> list[paramiko.PKey]:
    import paramiko

    if entry.key:
        paths = [Path(entry.key).expanduser()]
        if not paths[0].is_file():
            raise RemoteError(
                f"private key of board {entry.name} not found",
                expected="a private key file",
                found=str(paths[0]),
                fix=f"fix 'key' of board {entry.name} in the inventory",
            )
    else:
        paths = [p for n in DEFAULT_KEYS if (p := Path.home() / ".ssh" / n).is_file()]
        if not paths:
            raise RemoteError(
                f"no private key for board {entry.name}",
                expected="'key' in the inventory or ~/.ssh/id_ed25519",
                found="none",
                fix=f"set the key with 'sdk board add {entry.name} --key PATH'",
            )
    keys = []
    for path in paths:
        try:
            keys.append(paramiko.PKey.from_path(path))
        except paramiko.PasswordRequiredException as exc:
            raise RemoteError(
                f"private key {path} of board {entry.name} needs a passphrase",
                fix="use a key without a passphrase for boards",
            ) from exc
        except (paramiko.SSHException, OSError, ValueError) as exc:
            raise RemoteError(
                f"cannot read private key {path} of board {entry.name}: {_reason(exc)}",
                expected="an ed25519, ecdsa or rsa private key",
            ) from exc
    return keys


def _connect_once(entry: BoardEntry, timeout: float, keys: list[paramiko.PKey]) -> SSHSession:
    import paramiko

    key_type = HostKey.parse(entry.host_key).type if entry.host_key else None
    transport = _start_transport(entry.host, entry.port, timeout, key_type)
    try:
        check_host_key(entry, HostKey.from_pkey(transport.get_remote_server_key()))
        last: Exception | None = None
        for key in keys:
            try:
                transport.auth_publickey(entry.user, key)
                break
            except paramiko.AuthenticationException as exc:
                last = exc
        if not transport.is_authenticated():
            raise RemoteError(
                f"authentication failed for {entry.user}@{entry.host}:{entry.port} "
                f"(board {entry.name})",
                expected=f"the public key of {entry.key or '~/.ssh/id_*'} in "
                f"~{entry.user}/.ssh/authorized_keys on the board",
                found=_reason(last) if last else "no key accepted",
                fix="install the public key on the board (ssh-copy-id) or fix 'key' "
                "in the inventory",
            ) from last
        transport.set_keepalive(15)
        return SSHSession(entry, transport)
    except BaseException:
        transport.close()
        raise


def open_session(
    entry: BoardEntry,
    *,
    attempts: int = 3,
    timeout: float = 10.0,
    backoff: float = 1.0,
) -> SSHSession:
    """Connect to a board: verify its host key, authenticate with its key.

    Retries (``attempts`` in all, waiting ``backoff * 2**i`` between them) only on transient
    connection errors; an unknown/changed host key or a failed authentication fails at once.
    """
    keys = _load_keys(entry)
    attempts = max(1, attempts)
    last: BaseException | None = None
    for i in range(attempts):
        try:
            return _connect_once(entry, timeout, keys)
        except RemoteError:
            raise  # host key or authentication: retrying cannot help
        except Exception as exc:
            if not _is_transient(exc):
                raise RemoteError(
                    f"cannot open SSH session to board {entry.name} at "
                    f"{entry.host}:{entry.port}: {_reason(exc)}",
                ) from exc
            last = exc
            if i + 1 < attempts:
                time.sleep(backoff * 2**i)
    assert last is not None
    raise RemoteError(
        f"cannot connect to board {entry.name} at {entry.host}:{entry.port} "
        f"after {attempts} attempts",
        found=_reason(last),
        fix=f"check the board is powered and sshd listens on port {entry.port} "
        "('sdk board list' shows which boards answer)",
    ) from last
