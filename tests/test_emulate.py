"""The emulated board, for real: debootstrap rootfs, QEMU user-mode, sshd, paramiko."""

from __future__ import annotations

import base64
import dataclasses
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sdk.boards import BoardEntry, Inventory
from sdk.errors import BoardError, SdkError

if TYPE_CHECKING:
    import paramiko

# AT_HWCAP of the board's own processes, read from /proc/self/auxv (64-bit pairs).
HWCAP_SCRIPT = (
    "import struct\n"
    "d = open('/proc/self/auxv', 'rb').read()\n"
    "for i in range(0, len(d), 16):\n"
    "    t, v = struct.unpack_from('<QQ', d, i)\n"
    "    if t == 16: print(v)\n"
)
HWCAP_ASIMD = 1 << 1
HWCAP_ASIMDDP = 1 << 20
ARM_HWCAP_NEON = 1 << 12
ARM_HWCAP2_AES = 1 << 0


def connect(entry: BoardEntry) -> paramiko.SSHClient:
    """Log in with the recorded key, trusting only the recorded host key."""
    import paramiko

    assert entry.host_key and entry.key
    ktype, b64 = entry.host_key.split()
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    known = paramiko.PKey.from_type_string(ktype, base64.b64decode(b64))
    client.get_host_keys().add(f"[{entry.host}]:{entry.port}", ktype, known)
    client.connect(
        entry.host,
        port=entry.port,
        username=entry.user,
        key_filename=entry.key,
        look_for_keys=False,
        allow_agent=False,
        timeout=30,
        banner_timeout=60,
        auth_timeout=60,
    )
    return client


def run(client: paramiko.SSHClient, cmd: str) -> str:
    _, stdout, stderr = client.exec_command(cmd, timeout=120)
    out = stdout.read().decode()
    status = stdout.channel.recv_exit_status()
    assert status == 0, f"{cmd!r} exited {status}: {stderr.read().decode()}"
    return out


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def test_unknown_profile_is_one_line_board_error() -> None:
    from sdk.emulate import start_emulated

    with pytest.raises(BoardError) as info:
        start_emulated("rk3399x")
    msg = str(info.value)
    assert "\n" not in msg
    assert "rk3399x" in msg and "rk3399" in msg.replace("rk3399x", "")


def test_mirror_comes_from_apt_sources() -> None:
    from sdk.emulate import find_mirror

    assert find_mirror("bookworm").startswith(("http://", "https://", "file:"))
    with pytest.raises(SdkError) as info:
        find_mirror("no-such-release")
    assert "\n" not in str(info.value)


@pytest.mark.emulated
def test_board_is_recorded_with_a_trusted_host_key(emulated_board: BoardEntry) -> None:
    entry = Inventory().get(emulated_board.name)
    assert entry.emulated and entry.host == "127.0.0.1" and entry.user == "root"
    assert entry.pid is not None and entry.rootfs and entry.key
    assert entry.host_key is not None and entry.host_key.startswith("ssh-ed25519 ")
    assert len(entry.host_key.split()) == 2


@pytest.mark.emulated
def test_ssh_runs_aarch64_python_311(emulated_board: BoardEntry) -> None:
    client = connect(emulated_board)
    try:
        assert run(client, "uname -m").strip() == "aarch64"
        assert run(client, "python3 --version").strip().startswith("Python 3.11")
        assert run(client, "python3 -c 'import numpy; print(numpy.__version__)'").strip()
    finally:
        client.close()


@pytest.mark.emulated
def test_board_processes_run_on_the_profile_cpu(emulated_board: BoardEntry) -> None:
    """QEMU_CPU=cortex-a72 reaches sshd's children: NEON yes, dotprod no."""
    client = connect(emulated_board)
    try:
        hwcap = int(run(client, f'python3 -c "{HWCAP_SCRIPT}"'))
        assert hwcap & HWCAP_ASIMD, f"no ASIMD in AT_HWCAP {hwcap:#x}"
        assert not hwcap & HWCAP_ASIMDDP, f"dotprod leaked into a cortex-a72: {hwcap:#x}"
        # The control: without QEMU_CPU, QEMU's default CPU offers dotprod.
        free = int(run(client, f'env -u QEMU_CPU python3 -c "{HWCAP_SCRIPT}"'))
        assert free & HWCAP_ASIMDDP
    finally:
        client.close()


@pytest.mark.emulated
def test_sftp_works(emulated_board: BoardEntry) -> None:
    client = connect(emulated_board)
    try:
        sftp = client.open_sftp()
        with sftp.open("/tmp/sdk-sftp-probe", "w") as fh:
            fh.write("hello board\n")
        assert run(client, "cat /tmp/sdk-sftp-probe") == "hello board\n"
        sftp.remove("/tmp/sdk-sftp-probe")
        sftp.close()
    finally:
        client.close()


@pytest.mark.emulated
def test_a_wrong_host_key_is_rejected(emulated_board: BoardEntry) -> None:
    import paramiko

    other = paramiko.Ed25519Key.from_private_key_file(emulated_board.key or "")
    forged = dataclasses.replace(emulated_board, host_key=f"ssh-ed25519 {other.get_base64()}")
    with pytest.raises(paramiko.SSHException):
        connect(forged)


@pytest.mark.emulated
def test_stop_then_start_reuses_the_rootfs(emulated_board: BoardEntry) -> None:
    from sdk.emulate import is_running, start_emulated, stop_emulated
    from sdk.emulate._host import mounts_under

    name, port = emulated_board.name, emulated_board.port
    stop_emulated(name)
    stop_emulated(name)  # idempotent
    stopped = Inventory().get(name)
    assert stopped.pid is None and not is_running(emulated_board)
    assert not port_open(port)
    assert stopped.rootfs and not mounts_under(Path(stopped.rootfs))

    t0 = time.monotonic()
    again = start_emulated("rk3399", name)
    took = time.monotonic() - t0
    assert took < 30, f"a start from the cached rootfs took {took:.1f} s"
    assert is_running(again) and port_open(again.port)
    assert again.host_key == emulated_board.host_key  # same board, same identity
    assert start_emulated("rk3399", name).pid == again.pid  # running: returned as is
    client = connect(again)
    try:
        assert run(client, "uname -m").strip() == "aarch64"
    finally:
        client.close()


@pytest.mark.emulated
def test_deploy_restarts_a_named_emulated_board_that_stopped(emulated_board: BoardEntry) -> None:
    """The inventory outlives the emulated sshd (a host reboot): naming the board starts it
    again instead of failing to connect."""
    from sdk.deploy import resolve_board
    from sdk.emulate import is_running, stop_emulated

    stop_emulated(emulated_board.name)
    assert not is_running(Inventory().get(emulated_board.name))
    entry = resolve_board(emulated_board.name)
    assert entry.name == emulated_board.name and is_running(entry) and port_open(entry.port)
    client = connect(entry)
    try:
        assert run(client, "uname -m").strip() == "aarch64"
    finally:
        client.close()


@pytest.mark.emulated
def test_armv7_board_runs_on_a_cortex_a7(emulated_rv1126: BoardEntry) -> None:
    """rv1126: 32-bit armhf userland, NEON, no AES (cortex-a7), Debian's numpy."""
    script = (
        "import struct\n"
        "d = open('/proc/self/auxv', 'rb').read()\n"
        "a = dict(struct.unpack_from('<II', d, i) for i in range(0, len(d), 8))\n"
        "print(a[16], a.get(26, 0))\n"
    )
    client = connect(emulated_rv1126)
    try:
        assert run(client, "uname -m").strip() == "armv7l"
        assert run(client, "python3 --version").strip().startswith("Python 3.11")
        assert run(client, "python3 -c 'import numpy'") == ""
        hwcap, hwcap2 = map(int, run(client, f'python3 -c "{script}"').split())
        assert hwcap & ARM_HWCAP_NEON, f"no NEON in AT_HWCAP {hwcap:#x}"
        assert not hwcap2 & ARM_HWCAP2_AES, f"AES leaked into a cortex-a7: {hwcap2:#x}"
        _, free2 = map(int, run(client, f'env -u QEMU_CPU python3 -c "{script}"').split())
        assert free2 & ARM_HWCAP2_AES  # the control: QEMU's default CPU has AES
    finally:
        client.close()


def test_stop_of_an_unknown_board_is_a_board_error() -> None:
    from sdk.emulate import stop_emulated

    with pytest.raises(BoardError):
        stop_emulated("no-such-board-xyz")
