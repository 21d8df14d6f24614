"""The kernel bench's baseline environment: the emulated board's Debian rootfs (its CPython
and libraries, run with ``qemu -L``), extracted once into the bench's cache directory, and
the baseline wheels (numpy, opencv-python-headless, ncnn) unpacked beside it on the host.
Nothing is installed inside the rootfs; nothing runs pip on the guest.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from sdk.errors import SdkError
from sdk.kernels.bench_arch import ARCHES
from sdk.paths import cache_dir

BASELINE_WHEELS = ARCHES["aarch64"].wheels


def _run(
    cmd: list[str], cwd: Path | None = None, ok: tuple[int, ...] = (0,)
) -> subprocess.CompletedProcess[str]:
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise SdkError(f"'{cmd[0]}' is not installed", fix=f"install {cmd[0]}") from exc
    if p.returncode not in ok:
        tail = " | ".join((p.stderr or p.stdout).strip().splitlines()[-4:])
        raise SdkError(f"'{Path(cmd[0]).name} ...' failed (exit {p.returncode}): {tail}")
    return p



def baseline_rootfs(arch: str = "aarch64") -> Path:
    """The bench's own aarch64 rootfs with python3: the emulated board's cached Debian rootfs
    tarball (built once if missing, as for any emulated board), extracted once into the
    bench's cache directory. Only its CPython and libraries are used (``qemu-aarch64 -L``)."""
    from sdk.emulate.rootfs import ensure_rootfs, file_lock

    board_arch, debian_arch, release = ARCHES[arch].os
    dest = cache_dir() / "kernels-bench" / f"rootfs-{debian_arch}-{release}"
    marker = dest.with_suffix(".json")
    tarball = ensure_rootfs(board_arch, debian_arch, release)
    stamp = {"tarball": str(tarball), "size": tarball.stat().st_size, "mtime": tarball.stat().st_mtime}

    def current() -> bool:
        try:
            done = json.loads(marker.read_text()) == stamp
        except (OSError, ValueError):
            return False
        return bool(done and (dest / "usr" / "bin" / "python3").exists())

    if current():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(dest.parent / f".{dest.name}.lock"):
        if current():  # extracted while we waited
            return dest
        marker.unlink(missing_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
        try:
            _run(["tar", "-xf", str(tarball), "-C", str(tmp), "--exclude=./dev", "--no-same-owner"])
            shutil.rmtree(dest, ignore_errors=True)
            os.replace(tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        marker.write_text(json.dumps(stamp))  # last: a crash never leaves a rootfs that looks usable
    return dest


def default_rootfs(arch: str = "aarch64") -> Path:
    """$SDK_BENCH_ROOTFS if set (aarch64), else the bench's own (:func:`baseline_rootfs`)."""
    env = os.environ.get("SDK_BENCH_ROOTFS") if arch == "aarch64" else None
    return Path(env) if env else baseline_rootfs(arch)


def _python_version(rootfs: Path) -> str:
    found = sorted(p.name[len("python") :] for p in (rootfs / "usr" / "lib").glob("python3.*"))
    return found[-1] if found else "3.11"


def _site_current(site: Path, wheels: tuple[str, ...] = BASELINE_WHEELS) -> bool:
    return all(
        (site / f"{name.replace('-', '_')}-{version}.dist-info").is_dir()
        for name, version in (w.split("==") for w in wheels)
    )


def baseline_site(python: str, arch: str = "aarch64") -> Path:
    """numpy + opencv-python-headless + ncnn aarch64 wheels (:data:`BASELINE_WHEELS`, pinned:
    the table repeats) for the rootfs's CPython, unpacked once into the cache on the host,
    never inside the rootfs (the rootfs's own numpy may not load under plain `qemu -L`).
    armv7: ncnn's armv7 wheel only (bench_arch.py)."""
    tag = python.replace(".", "")
    a = ARCHES[arch]
    site = cache_dir() / "kernels-bench" / f"baseline-site-cp{tag}-{arch}"
    if _site_current(site, a.wheels):
        return site
    site.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{site.name}-", dir=site.parent))
    try:
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "--target",
                str(tmp),
                "--platform",
                a.platform,
                "--only-binary=:all:",
                "--python-version",
                python,
                "--implementation",
                "cp",
                *a.wheels,
            ]
        )
        shutil.rmtree(site, ignore_errors=True)
        os.replace(tmp, site)  # whole or not at all
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return site
