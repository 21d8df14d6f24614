"""``sdk doctor``: check every host requirement, say how to fix each, fix what can be fixed.

Each check returns a :class:`Check`: its name, ok or not, what was found, the fix as a
command a person can run, and (when the SDK can apply it itself) the function ``--fix`` calls.

``--fix`` applies only what stays inside the SDK's own state and is undone by deleting it:
pnnx installed into the SDK cache (no torch, nothing added to the Python environment), and
the binfmt_misc registration of the static QEMU (what starting an emulated board does anyway;
root only; gone at reboot). It never:

- runs apt-get: system packages change the machine for every user, need root and a package
  mirror, and may pull in other packages; the one apt-get line for everything missing is
  printed for a person to run;
- runs pip on the Python environment (MNN): it is a declared dependency of the SDK, so a
  missing one means a broken environment that ``pip install .`` repairs, and pip may
  up- or downgrade packages the user's other tools rely on;
- builds an emulated board's rootfs: minutes of debootstrap and hundreds of MiB from a
  mirror, done with progress by the first start of an emulated board (``--board rk3399-emu``);
- touches the boards: powering, cabling and trusting a host key (``sdk board trust``) are
  decisions about a machine the SDK does not own.
"""

from __future__ import annotations

import shutil
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
    call: Callable[[], object] | None = field(default=None, repr=False)  # what --fix applies
    apt: str = ""  # the Debian package the fix installs (printed, never installed by --fix)

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d.pop("call")
        d["fixable"] = self.call is not None
        return d


def _which(tool: str, package: str, what: str) -> Check:
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
    return Check(what, path is not None, path or "not found", f"apt-get install {package}", apt=package)


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
                 "pip install MNN (a dependency of the SDK: 'pip install .' repairs the environment)")


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


def apply_fix(check: Check) -> str | None:
    """Apply the check's own fix; the reason it failed, or None."""
    if check.call is None:
        return "not applied by --fix"
    try:
        check.call()
    except Exception as exc:  # reported per check, the others still run
        return f"{type(exc).__name__}: {exc}"
    return None


def apt_line(checks: list[Check]) -> str | None:
    """One apt-get command for every missing system package, for a person to run."""
    pkgs = sorted({c.apt for c in checks if not c.ok and c.apt})
    return f"apt-get install {' '.join(pkgs)}" if pkgs else None
