"""Fixtures: the host's own OpenSSH server on loopback, as a board to test SSH against.

``host_sshd`` starts ``/usr/sbin/sshd`` on 127.0.0.1 with a generated host key, its own
config and an authorized client key, all in a temporary directory; it yields the
BoardEntry for it (``extra`` holds the paths of the keys and the config dir).
``closed_port`` is a loopback port with nothing listening.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdk.boards import BoardEntry

SSHD = Path("/usr/sbin/sshd")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def keygen(path: Path, kind: str = "ed25519") -> Path:
    """A new passphrase-less key pair at ``path`` / ``path.pub``."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "sdk-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def _wait_banner(port: int, proc: subprocess.Popen[bytes], log: Path, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.settimeout(1)
                if s.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd gave no banner on port {port}: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def host_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BoardEntry]:
    if not SSHD.exists() or shutil.which("ssh-keygen") is None:
        pytest.skip("needs openssh-server (/usr/sbin/sshd) and ssh-keygen")
    d = tmp_path_factory.mktemp("sshd")
    host_key = keygen(d / "ssh_host_ed25519_key")
    client_key = keygen(d / "client_ed25519")
    authorized = d / "authorized_keys"
    authorized.write_text((d / "client_ed25519.pub").read_text())
    authorized.chmod(0o600)
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir
    port = free_port()
    config = d / "sshd_config"
    config.write_text(
        "\n".join(
            [
                "ListenAddress 127.0.0.1",
                f"Port {port}",
                f"HostKey {host_key}",
                f"PidFile {d / 'sshd.pid'}",
                f"AuthorizedKeysFile {authorized}",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "PrintMotd no",
                "MaxStartups 100",
                "MaxSessions 100",
                "LogLevel ERROR",
                "Subsystem sftp internal-sftp",
                "",
            ]
        )
    )
    log = d / "sshd.log"
    with log.open("wb") as logf:
        proc = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(config)],
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        _wait_banner(port, proc, log, 15.0)
        pub = (d / "ssh_host_ed25519_key.pub").read_text().split()
        yield BoardEntry(
            name="hostssh",
            profile="rk3399",
            host="127.0.0.1",
            port=port,
            user=getpass.getuser(),
            key=str(client_key),
            host_key=f"{pub[0]} {pub[1]}",
            extra={"host_pub": str(d / "ssh_host_ed25519_key.pub"), "dir": str(d)},
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()
