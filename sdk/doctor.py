"""``sdk doctor``: check every host requirement, say how to fix each, fix what can be fixed.

Each check returns a :class:`Check`: its name, ok or not, what was found, the fix as a
command a person can run, and (when the SDK can apply it itself) the argv ``--fix`` runs.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

MIN_FREE_GIB = 4.0  # rootfs images, board wheels, conversions


@dataclass
class Check:
    name: str
    ok: bool
    found: str
    fix: str = ""
    auto: list[list[str]] = field(default_factory=list)  # argv lists --fix runs
    call: Callable[[], object] | None = field(default=None, repr=False)  # or a function

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d.pop("call")
        d["fixable"] = bool(self.auto or self.call)
        return d


def _apt(*packages: str) -> list[list[str]]:
    return [["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *packages]]


def _which(tool: str, package: str, what: str) -> Check:
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
    return Check(what, path is not None, path or "not found", f"apt-get install {package}", _apt(package))


def check_binfmt(arch: str) -> Check:
    """The kernel runs ``arch`` binaries through static QEMU (flag F). Not registered yet is
    fine where it can be: starting an emulated board registers it."""
    from sdk.emulate._host import BINFMT_DIR, QEMU_FOR_ARCH, ensure_binfmt

    name, qemu = QEMU_FOR_ARCH[arch]

    def fix() -> object:
        ensure_binfmt(arch)
        return None

    fix_text = f"sdk doctor --fix (registers {qemu} for {arch} binaries)"
    try:
        text = (BINFMT_DIR / name).read_text()
    except OSError:
        can = (BINFMT_DIR / "register").exists() and Path(qemu).exists()
        return Check(f"binfmt {arch}", can, "not registered yet; an emulated board registers it on start"
                     if can else "binfmt_misc not mounted or QEMU missing", fix_text, call=fix)
    flags = next((ln.split()[1] for ln in text.splitlines() if ln.startswith("flags:")), "")
    ok = text.startswith("enabled") and "F" in flags
    return Check(f"binfmt {arch}", ok, f"{text.splitlines()[0]}, flags {flags or '-'}", fix_text, call=fix)


def check_pnnx() -> Check:
    import os

    from sdk.engines.ncnn.convert import pnnx_binary
    from sdk.errors import SdkError
    from sdk.provision import cached_pnnx, provision_pnnx

    os.environ["SDK_NO_PROVISION"] = "1"  # only look here; --fix provisions
    try:
        found = str(pnnx_binary())
        ok = True
    except SdkError:
        cached = cached_pnnx()
        ok, found = cached is not None, str(cached) if cached else "not installed"
    finally:
        os.environ.pop("SDK_NO_PROVISION", None)
    return Check("pnnx (ncnn converter)", ok, found,
                 "sdk doctor --fix (pip install --no-deps pnnx into the SDK cache; without torch)",
                 call=provision_pnnx)


def check_mnn() -> Check:
    import importlib.util

    spec = importlib.util.find_spec("_tools")
    ok = spec is not None and spec.origin is not None
    return Check("MNN converter", ok, spec.origin if ok and spec and spec.origin else "no _tools module",
                 "pip install MNN", [[__import__("sys").executable, "-m", "pip", "install", "MNN"]])


def check_disk() -> Check:
    from sdk.paths import cache_dir

    path = cache_dir()
    probe = path
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free / 2**30
    return Check("free disk", free >= MIN_FREE_GIB, f"{free:.1f} GiB free at {probe}",
                 f"free {MIN_FREE_GIB:g} GiB there or set SDK_CACHE_DIR to a larger disk")


def check_boards() -> list[Check]:
    from sdk.boards import Inventory
    from sdk.remote import is_reachable

    out = []
    for b in sorted(Inventory().boards.values(), key=lambda e: e.name):
        if b.emulated:
            continue
        up = is_reachable(b.host, b.port, timeout=3.0)
        if not up:
            out.append(Check(f"board {b.name}", False, f"{b.host}:{b.port} does not answer SSH",
                             f"power the board, check the network and sshd on port {b.port}"))
        elif not b.host_key:
            out.append(Check(f"board {b.name}", False, "host key not trusted", f"sdk board trust {b.name}"))
        else:
            out.append(Check(f"board {b.name}", True, f"{b.user}@{b.host}:{b.port} answers, key trusted"))
    return out


def run_checks() -> list[Check]:
    checks = [
        _which("qemu-aarch64-static", "qemu-user-static", "QEMU aarch64"),
        _which("qemu-arm-static", "qemu-user-static", "QEMU arm"),
        check_binfmt("aarch64"),
        check_binfmt("armv7"),
        _which("debootstrap", "debootstrap", "debootstrap"),
        _which("ssh-keygen", "openssh-client", "ssh-keygen"),
        _which("aarch64-linux-gnu-g++", "g++-aarch64-linux-gnu", "cross compiler aarch64"),
        _which("arm-linux-gnueabihf-g++", "g++-arm-linux-gnueabihf", "cross compiler armv7"),
        _which("cmake", "cmake", "cmake"),
        check_pnnx(),
        check_mnn(),
        check_disk(),
    ]
    return checks + check_boards()


def apply_fix(check: Check, log: Callable[[str], None]) -> str | None:
    """Run the check's fix; the reason it failed, or None."""
    try:
        if check.call is not None:
            check.call()
        for argv in check.auto:
            log("$ " + " ".join(argv))
            r = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
            if r.returncode != 0:
                return (r.stderr.strip().splitlines() or [f"exit code {r.returncode}"])[-1]
    except Exception as exc:  # reported per check, the others still run
        return f"{type(exc).__name__}: {exc}"
    return None
