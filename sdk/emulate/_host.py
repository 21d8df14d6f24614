"""Host-side helpers for the emulated board: root check, mounts, binfmt_misc, processes."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import struct
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sdk.errors import EmulateError

Log = Callable[[str], None]

BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
BINFMT_CONF_DIR = Path("/usr/lib/binfmt.d")
# profile arch -> (binfmt conf name, static qemu binary)
QEMU_FOR_ARCH: dict[str, tuple[str, str]] = {
    "aarch64": ("qemu-aarch64", "/usr/bin/qemu-aarch64-static"),
    "armv7": ("qemu-arm", "/usr/bin/qemu-arm-static"),
}
INSTALL_FIX = "apt-get install debootstrap qemu-user-static"


def nolog(_msg: str) -> None:
    """The default progress callback: say nothing."""


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise EmulateError(
            f"{what} needs root (chroot, mounts and binfmt_misc)",
            expected="uid 0",
            found=f"uid {os.geteuid()}",
            fix="run as root, e.g. with sudo",
        )


def require_tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if not path:
        raise EmulateError(
            f"'{name}' is not installed; the emulated board needs it",
            expected=name,
            found="nothing on PATH",
            fix=INSTALL_FIX,
        )
    return path


def run(cmd: Sequence[str], what: str, *, fix: str | None = None) -> str:
    """Run a host command; a failure is one line naming it and its last line of output."""
    proc = subprocess.run(list(cmd), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        out = (proc.stderr or proc.stdout).strip().splitlines()
        last = out[-1] if out else f"exit code {proc.returncode}"
        raise EmulateError(f"{what} failed: {last}", fix=fix)
    return proc.stdout


# --------------------------------------------------------------------------- mounts


def _unescape_mount(path: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root`` (resolved), deepest first."""
    base = os.path.realpath(root)
    found: list[str] = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            target = _unescape_mount(line.split()[4])
            if target == base or target.startswith(base.rstrip("/") + "/"):
                found.append(target)
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def unmount_all(root: Path) -> None:
    """Unmount everything mounted at or below ``root``; raise if something stays."""
    for _attempt in range(3):
        targets = mounts_under(root)
        if not targets:
            return
        for target in targets:
            if subprocess.run(["umount", target], capture_output=True, check=False).returncode:
                subprocess.run(["umount", "-l", target], capture_output=True, check=False)
        time.sleep(0.1)
    left = mounts_under(root)
    if left:
        raise EmulateError(
            f"cannot unmount {left[0]}",
            expected="no mounts under " + str(root),
            found=f"{len(left)} mount(s)",
            fix=f"stop processes using it (fuser -vm {left[0]}) and umount it",
        )


def safe_rmtree(path: Path) -> None:
    """Delete a rootfs tree, but only after nothing (proc, sys, dev...) is mounted in it."""
    if not path.exists():
        return
    unmount_all(path)
    shutil.rmtree(path)


def is_mounted(target: Path) -> bool:
    return os.path.realpath(target) in mounts_under(target)


def mount_board_fs(rootfs: Path) -> None:
    """proc, sys, dev (bind) and dev/pts inside ``rootfs``; binds are made private."""
    plan: list[tuple[str, list[str]]] = [
        ("proc", ["-t", "proc", "proc"]),
        ("sys", ["--bind", "/sys"]),
        ("dev", ["--bind", "/dev"]),
        ("dev/pts", ["--bind", "/dev/pts"]),
    ]
    for rel, args in plan:
        target = rootfs / rel
        target.mkdir(parents=True, exist_ok=True)
        if is_mounted(target):
            continue
        run(["mount", *args, str(target)], f"mounting {target}")
        # A private mount never propagates back to the host's /dev or /sys.
        run(["mount", "--make-private", str(target)], f"making {target} private")


# --------------------------------------------------------------------------- binfmt


def _conf_fields(conf_name: str) -> list[str]:
    conf = BINFMT_CONF_DIR / f"{conf_name}.conf"
    try:
        line = next(ln.strip() for ln in conf.read_text().splitlines() if ln.strip().startswith(":"))
    except (OSError, StopIteration) as exc:
        raise EmulateError(
            f"no binfmt description for {conf_name}",
            expected=str(conf),
            found="missing or empty",
            fix=INSTALL_FIX,
        ) from exc
    fields = line.split(":")
    if len(fields) < 8 or fields[2] != "M":
        raise EmulateError(f"cannot parse {conf}", expected=":name:M::magic:mask:interp:flags")
    return fields


def _escaped_hex(s: str) -> str:
    """'\\x7f\\x45' -> '7f45' (how binfmt_misc shows magic and mask)."""
    return "".join(
        m.group(1).lower() if m.group(1) else f"{ord(m.group(2)):02x}"
        for m in re.finditer(r"\\x([0-9a-fA-F]{2})|(.)", s)
    )


def is_static_elf(path: str) -> bool:
    """True if the ELF file has no PT_INTERP (a static binary qemu can run in a chroot)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
            if head[:4] != b"\x7fELF":
                return False
            is64, end = head[4] == 2, "<" if head[5] == 1 else ">"
            if is64:
                (phoff,) = struct.unpack_from(end + "Q", head, 32)
                phentsize, phnum = struct.unpack_from(end + "HH", head, 54)
            else:
                (phoff,) = struct.unpack_from(end + "I", head, 28)
                phentsize, phnum = struct.unpack_from(end + "HH", head, 42)
            fh.seek(phoff)
            table = fh.read(phentsize * phnum)
    except OSError:
        return False
    return all(struct.unpack_from(end + "I", table, i * phentsize)[0] != 3 for i in range(phnum))


def _read_entries() -> dict[str, dict[str, str]]:
    entries: dict[str, dict[str, str]] = {}
    for f in BINFMT_DIR.iterdir():
        if f.name in ("register", "status"):
            continue
        info: dict[str, str] = {}
        try:
            for ln in f.read_text().splitlines():
                if ln in ("enabled", "disabled"):
                    info["state"] = ln
                elif " " in ln:
                    k, v = ln.split(" ", 1)
                    info[k.rstrip(":")] = v.replace(" ", "")
        except OSError:
            continue
        entries[f.name] = info
    return entries


def ensure_binfmt(arch: str, log: Log = nolog) -> None:
    """Make the kernel run ``arch`` ELF binaries through a static QEMU (flag F)."""
    conf_name, qemu = QEMU_FOR_ARCH[arch]
    if not Path(qemu).exists():
        raise EmulateError(f"{qemu} is missing", expected=qemu, found="nothing", fix=INSTALL_FIX)
    if not (BINFMT_DIR / "register").exists():
        log("mounting binfmt_misc at /proc/sys/fs/binfmt_misc")
        run(
            ["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT_DIR)],
            "mounting binfmt_misc",
            fix="modprobe binfmt_misc, or run where /proc/sys/fs/binfmt_misc can be mounted",
        )
    status = (BINFMT_DIR / "status").read_text().strip()
    if status != "enabled":
        raise EmulateError(
            "binfmt_misc is disabled",
            expected="enabled",
            found=status,
            fix=f"echo 1 > {BINFMT_DIR}/status",
        )
    fields = _conf_fields(conf_name)
    magic = _escaped_hex(fields[4])
    for name, info in _read_entries().items():
        if info.get("magic") != magic:
            continue
        interp = info.get("interpreter", "")
        flags = info.get("flags", "")
        problem = None
        if info.get("state") != "enabled":
            problem = ("enabled", "disabled")
        elif "F" not in flags:
            problem = ("flag F (interpreter opened at registration)", f"flags '{flags}'")
        elif not is_static_elf(os.path.realpath(interp)):
            problem = ("a static qemu", interp)
        if problem:
            raise EmulateError(
                f"binfmt_misc entry '{name}' cannot run {arch} binaries in a chroot",
                expected=problem[0],
                found=problem[1],
                fix=f"echo -1 > {BINFMT_DIR}/{name} and retry (it registers {qemu} with F)",
            )
        log(f"binfmt: {name} -> {interp} ({flags})")
        return
    line = ":".join([*fields[:6], qemu, "F"])
    log(f"binfmt: registering {conf_name} -> {qemu} (F)")
    try:
        (BINFMT_DIR / "register").write_text(line)
    except OSError as exc:
        raise EmulateError(
            f"cannot register {qemu} with binfmt_misc: {exc.strerror}",
            fix="run as root on a host that allows binfmt_misc registration",
        ) from exc


# --------------------------------------------------------------------------- processes


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def pids_rooted_in(rootfs: Path) -> list[int]:
    """Processes whose root directory is ``rootfs`` (sshd and every session under it)."""
    base = os.path.realpath(rootfs)
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if os.readlink(d / "root") == base:
                pids.append(int(d.name))
        except OSError:
            continue
    return pids


def kill_board_processes(rootfs: Path, pid: int | None, timeout: float = 5.0) -> None:
    """SIGTERM sshd's process group and everything chrooted in ``rootfs``, then SIGKILL."""
    base = os.path.realpath(rootfs)
    try:  # only a pid still chrooted in this rootfs: a stale pid may belong to anyone now
        if pid is not None and os.readlink(f"/proc/{pid}/root") != base:
            pid = None
    except OSError:
        pid = None
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
        for p in pids_rooted_in(rootfs):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = [p for p in pids_rooted_in(rootfs) if pid_alive(p)]
            if not left and (pid is None or not pid_alive(pid)):
                return
            time.sleep(0.05)
