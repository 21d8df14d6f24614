"""One emulated board: its own rootfs copy, keys, and a real sshd on 127.0.0.1 under QEMU.

Layout under ``cache_dir()/boards/<name>/``::

    rootfs/            the board's root filesystem (extracted from the cached base)
    rootfs.json        marker written once rootfs/ is complete and has its host key
    id_ed25519(.pub)   the client key the SDK logs in with (authorized for root)
    sshd.log           sshd's stderr (-e)
    board.json         the entry of the last start (lets any inventory adopt a running board)

Trust model: the board's host key is generated here, at creation, and recorded in the
inventory entry (``host_key``); clients verify it like any real board's key.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from sdk.boards import BoardEntry, BoardProfile, Inventory, load_profile
from sdk.emulate._host import (
    Log,
    ensure_binfmt,
    kill_board_processes,
    mount_board_fs,
    mounts_under,
    nolog,
    pid_alive,
    pids_rooted_in,
    require_root,
    require_tool,
    run,
    safe_rmtree,
    unmount_all,
)
from sdk.emulate.rootfs import PACKAGES, check_free_space, ensure_rootfs, file_lock
from sdk.errors import BoardError, EmulateError
from sdk.paths import cache_dir

HOST = "127.0.0.1"
SSHD_CONFIG = "/etc/ssh/sshd_config.sdk"  # inside the rootfs
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key"
START_TIMEOUT = 60.0
STATE = "board.json"  # the running board's entry, whichever inventory recorded it


def board_dir(name: str) -> Path:
    return cache_dir() / "boards" / name


def _inside(rootfs: Path, path: str) -> Path:
    return rootfs / path.lstrip("/")


# --------------------------------------------------------------------------- queries


def _banner(port: int, timeout: float = 3.0) -> bool:
    """True if something on 127.0.0.1:port greets with an SSH banner."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def is_running(entry: BoardEntry) -> bool:
    """The board's sshd is alive (and chrooted in its rootfs) and its port answers."""
    if entry.pid is None or not pid_alive(entry.pid):
        return False
    if entry.rootfs:
        try:
            if os.readlink(f"/proc/{entry.pid}/root") != os.path.realpath(entry.rootfs):
                return False  # the pid was reused by something else
        except OSError:
            return False
    return _banner(entry.port)


# --------------------------------------------------------------------------- setup


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _prepare_rootfs(prof: BoardProfile, name: str, log: Log) -> Path:
    """The board's own rootfs: extracted from the cached base once, with its own host key."""
    bdir = board_dir(name)
    rootfs, marker = bdir / "rootfs", bdir / "rootfs.json"
    try:
        done = json.loads(marker.read_text())
    except (OSError, ValueError):
        done = {}
    # Reused while its package set is current; a changed PACKAGES rebuilds the base first.
    current = done.get("packages") == list(PACKAGES) and done.get("profile") == prof.name
    if done.get("complete") and current and rootfs.is_dir():
        return rootfs
    tarball = ensure_rootfs(prof.arch, prof.debian_arch, prof.release, log)
    check_free_space(bdir, 600 * 1024 * 1024)
    marker.unlink(missing_ok=True)
    safe_rmtree(rootfs)
    tmp = bdir / "rootfs.tmp"
    safe_rmtree(tmp)
    tmp.mkdir(parents=True)
    log(f"board {name}: extracting its rootfs")
    run(
        ["tar", "--numeric-owner", "--xattrs", "-xpf", str(tarball), "-C", str(tmp)],
        f"extracting {tarball}",
    )
    for old in _inside(tmp, "/etc/ssh").glob("ssh_host_*"):
        old.unlink()
    run(
        [
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            f"root@{name}",
            "-f",
            str(_inside(tmp, HOST_KEY)),
        ],
        "generating the board's host key",
    )
    (_inside(tmp, "/etc/hostname")).write_text(name + "\n")
    os.replace(tmp, rootfs)
    marker.write_text(
        json.dumps(
            {
                "complete": True,
                "profile": prof.name,
                "base": str(tarball),
                "packages": list(PACKAGES),
            }
        )
    )
    return rootfs


def _client_key(name: str) -> Path:
    key = board_dir(name) / "id_ed25519"
    if not key.exists() or not key.with_suffix(".pub").exists():
        key.unlink(missing_ok=True)
        run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"edge-sdk@{name}", "-f", str(key)],
            "generating the client key",
        )
    return key


def _host_key_line(rootfs: Path) -> str:
    pub = _inside(rootfs, HOST_KEY + ".pub").read_text().split()
    return f"{pub[0]} {pub[1]}"


def _write_sshd_config(rootfs: Path, prof: BoardProfile, port: int, client_pub: str) -> None:
    ssh_dir = _inside(rootfs, "/root/.ssh")
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    os.chmod(ssh_dir, 0o700)
    auth = ssh_dir / "authorized_keys"
    auth.write_text(client_pub.strip() + "\n")
    os.chmod(auth, 0o600)
    _inside(rootfs, SSHD_CONFIG).write_text(
        "\n".join(
            [
                "# written by edge-sdk for an emulated board; rewritten at every start",
                f"ListenAddress {HOST}",
                f"Port {port}",
                f"HostKey {HOST_KEY}",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "PrintMotd no",
                "Subsystem sftp /usr/lib/openssh/sftp-server",
                "PidFile /run/sshd-sdk.pid",
                "MaxStartups 30:50:100",
                "MaxSessions 30",
                # Every process sshd starts runs on the board's CPU model, not QEMU's max.
                f"SetEnv QEMU_CPU={prof.qemu_cpu}",
                "",
            ]
        )
    )


def _log_tail(logfile: Path, n: int = 1) -> str:
    try:
        text = logfile.read_text(errors="replace")
    except OSError:
        return "no log"
    # Our own readiness probes leave these behind; they say nothing about a failure.
    noise = ("kex_exchange_identification", "Connection closed by", "banner exchange")
    lines = [ln for ln in text.splitlines() if ln.strip() and not any(n in ln for n in noise)]
    return " | ".join(lines[-n:]) if lines else "empty log"


def _spawn_sshd(prof: BoardProfile, name: str, rootfs: Path, port: int) -> int:
    chroot = require_tool("chroot")
    logfile = board_dir(name) / "sshd.log"
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "QEMU_CPU": prof.qemu_cpu,
    }
    with open(logfile, "a") as out:
        out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting sshd on {HOST}:{port}\n")
        out.flush()
        proc = subprocess.Popen(
            [chroot, str(rootfs), "/usr/sbin/sshd", "-D", "-e", "-f", SSHD_CONFIG],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EmulateError(
                f"sshd of emulated board '{name}' on {HOST}:{port} exited with code "
                f"{proc.returncode}: {_log_tail(logfile)}",
                fix=f"see {logfile}",
            )
        if _banner(port, timeout=2.0):
            return proc.pid
        time.sleep(0.2)
    kill_board_processes(rootfs, proc.pid)
    raise EmulateError(
        f"sshd of emulated board '{name}' did not answer on {HOST}:{port} "
        f"within {START_TIMEOUT:.0f} s: {_log_tail(logfile)}",
        fix=f"see {logfile}",
    )


# --------------------------------------------------------------------------- public API


def _record(entry: BoardEntry) -> None:
    inv = Inventory()  # read just before writing: others may have changed it meanwhile
    inv.add(entry, replace=True)
    inv.save()


def _running_state(name: str) -> BoardEntry | None:
    """The board as its last start left it (``board.json``), if that sshd still runs."""
    try:
        raw = json.loads((board_dir(name) / STATE).read_text())
        entry = BoardEntry(**{k: v for k, v in raw.items() if k in BoardEntry.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        return None
    return entry if is_running(entry) else None


def _emulated_entry(inv: Inventory, name: str, profile: str | None) -> BoardEntry | None:
    entry = inv.boards.get(name)
    if entry is None:
        return None
    if not entry.emulated:
        raise BoardError(
            f"board '{name}' is a real board, not an emulated one",
            fix="choose another name for the emulated board",
        )
    if profile is not None and entry.profile != profile:
        raise BoardError(
            f"emulated board '{name}' has another profile",
            expected=profile,
            found=entry.profile,
            fix=f"remove it first ('sdk board remove {name}') or choose another name",
        )
    return entry


def start_emulated(
    profile: str, name: str | None = None, *, log: Callable[[str], None] | None = None
) -> BoardEntry:
    """Start (or return the running) emulated board for ``profile`` and record it.

    The first start builds the rootfs cache for the profile's arch (debootstrap, minutes);
    later starts reuse the board's own rootfs and take seconds.
    """
    log = log or nolog
    prof = load_profile(profile)
    name = name or f"{profile}-emu"
    existing = _emulated_entry(Inventory(), name, profile)
    if existing is not None and is_running(existing):
        return existing
    # Already running for another inventory (another test, another shell): adopt it.
    running = _running_state(name)
    if running is not None and running.profile == prof.name:
        _record(running)
        return running
    require_root("an emulated board")
    require_tool("ssh-keygen")
    t0 = time.monotonic()
    bdir = board_dir(name)
    bdir.mkdir(parents=True, exist_ok=True)
    with file_lock(bdir / ".lock"):
        # A previous sshd whose entry was lost or is stale: never two on one rootfs.
        kill_board_processes(bdir / "rootfs", existing.pid if existing else None)
        rootfs = _prepare_rootfs(prof, name, log)
        ensure_binfmt(prof.arch, log)
        key = _client_key(name)
        port = _free_port()
        _write_sshd_config(rootfs, prof, port, key.with_suffix(".pub").read_text())
        mount_board_fs(rootfs)
        _inside(rootfs, "/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)
        log(f"board {name}: starting sshd on {HOST}:{port} (QEMU_CPU={prof.qemu_cpu})")
        try:
            pid = _spawn_sshd(prof, name, rootfs, port)
        except BaseException:
            unmount_all(rootfs)
            raise
        entry = BoardEntry(
            name=name,
            profile=prof.name,
            host=HOST,
            port=port,
            user="root",
            key=str(key),
            host_key=_host_key_line(rootfs),
            emulated=True,
            rootfs=str(rootfs),
            pid=pid,
        )
        _record(entry)
        (bdir / STATE).write_text(json.dumps({"name": name, **entry.to_toml_dict()}))
    log(f"board {name}: ready on {HOST}:{port} in {time.monotonic() - t0:.1f} s")
    return entry


def ensure_emulated(profile: str = "rk3399", *, log: Callable[[str], None] | None = None) -> BoardEntry:
    """The running emulated board ``<profile>-emu``, started if it is not running."""
    return start_emulated(profile, log=log)


def stop_emulated(name: str) -> None:
    """Stop the board's labgrid exporter and sshd (and its sessions), unmount its filesystems;
    idempotent."""
    inv = Inventory()
    entry = _emulated_entry(inv, name, None)
    bdir = board_dir(name)
    if entry is None and not bdir.exists():
        inv.get(name)  # raises the unknown-board error with close names
    from sdk.fleet.exporter import stop_exporter

    stop_exporter(bdir)  # its labgrid exporter first: the farm stops offering the board
    rootfs = Path(entry.rootfs) if entry and entry.rootfs else bdir / "rootfs"
    pid = entry.pid if entry else None
    busy = (pid is not None and pid_alive(pid)) or pids_rooted_in(rootfs) or mounts_under(rootfs)
    if busy:
        require_root("stopping an emulated board")
        kill_board_processes(rootfs, pid)
        unmount_all(rootfs)
    if entry is not None and entry.pid is not None:
        entry.pid = None
        inv.save()


def remove_emulated(name: str) -> None:
    """Stop the board, delete its directory (rootfs copy, keys) and its inventory entry."""
    stop_emulated(name)
    safe_rmtree(board_dir(name))
    inv = Inventory()
    if name in inv.boards and inv.boards[name].emulated:
        inv.remove(name)
        inv.save()
