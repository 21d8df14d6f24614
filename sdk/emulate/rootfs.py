"""The cached Debian root filesystem of an emulated board (debootstrap, built once per arch).

The cache lives in ``cache_dir()/rootfs/<debian_arch>-<release>/``: ``rootfs.tar`` plus a
``complete.json`` marker written last, so a crash never leaves a cache that looks usable.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sdk.emulate._host import (
    INSTALL_FIX,
    Log,
    ensure_binfmt,
    nolog,
    require_root,
    require_tool,
    run,
    safe_rmtree,
)
from sdk.errors import EmulateError
from sdk.paths import cache_dir

# What every emulated board has. python3-numpy comes from Debian: no armv7 numpy wheel exists.
PACKAGES: tuple[str, ...] = (
    "python3",
    "python3-venv",
    "python3-numpy",
    "openssh-server",
    "openssh-sftp-server",
    "libgomp1",
)
MIN_FREE_BYTES = 1536 * 1024 * 1024  # debootstrap tree + tarball + one board copy
SOURCES_LIST = Path("/etc/apt/sources.list")
SOURCES_DIR = Path("/etc/apt/sources.list.d")


# --------------------------------------------------------------------------- mirror


def _one_line_sources(text: str) -> Iterator[tuple[str, str, list[str]]]:
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        line = re.sub(r"\[[^\]]*\]", " ", line)  # [arch=... signed-by=...]
        parts = line.split()
        if len(parts) >= 4:
            yield parts[1], parts[2], parts[3:]


def _deb822_sources(text: str) -> Iterator[tuple[str, str, list[str]]]:
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for raw in stanza.splitlines():
            if raw.startswith("#"):
                continue
            if raw[:1].isspace() and key:
                fields[key] += " " + raw.strip()
            elif ":" in raw:
                key, val = raw.split(":", 1)
                key = key.strip().lower()
                fields[key] = val.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                yield uri, suite, fields.get("components", "").split()


def find_mirror(release: str = "bookworm") -> str:
    """The Debian mirror URI serving ``release`` main, from the machine's apt sources."""
    candidates: list[tuple[str, str, list[str]]] = []
    files = [SOURCES_LIST, *sorted(SOURCES_DIR.glob("*.list")), *sorted(SOURCES_DIR.glob("*.sources"))]
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        parse = _deb822_sources if f.suffix == ".sources" else _one_line_sources
        candidates.extend(parse(text))
    for uri, suite, comps in candidates:
        if suite == release and "main" in comps and uri.split(":", 1)[0] in ("http", "https", "file"):
            return uri.rstrip("/")
    raise EmulateError(
        f"no Debian mirror for '{release}' in the apt sources",
        expected=f"a 'deb' source with suite {release} and component main",
        found=f"{len(candidates)} source(s) in {SOURCES_LIST} and {SOURCES_DIR}",
        fix=f"add e.g. 'deb http://deb.debian.org/debian {release} main' to {SOURCES_LIST}",
    )


# --------------------------------------------------------------------------- cache


def rootfs_cache_dir(debian_arch: str, release: str) -> Path:
    return cache_dir() / "rootfs" / f"{debian_arch}-{release}"


def _marker_ok(marker: Path, packages: tuple[str, ...]) -> bool:
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return bool(data.get("complete")) and sorted(data.get("packages", [])) == sorted(packages)


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock (two builds of one cache never interleave)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def check_free_space(where: Path, need: int = MIN_FREE_BYTES) -> None:
    probe = where
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < need:
        raise EmulateError(
            f"not enough free disk space for the emulated board's rootfs in {where}",
            expected=f"at least {need / 2**30:.1f} GB free",
            found=f"{free / 2**30:.2f} GB",
            fix="free some space or point SDK_CACHE_DIR at a larger disk",
        )


def ensure_rootfs(arch: str, debian_arch: str, release: str, log: Log = nolog) -> Path:
    """The cached rootfs tarball for this arch and release; build it once if missing."""
    cdir = rootfs_cache_dir(debian_arch, release)
    tarball, marker = cdir / "rootfs.tar", cdir / "complete.json"
    if _marker_ok(marker, PACKAGES) and tarball.exists():
        return tarball
    require_root("building the emulated board's rootfs")
    with file_lock(cdir.parent / f".{cdir.name}.lock"):
        if _marker_ok(marker, PACKAGES) and tarball.exists():  # built while we waited
            return tarball
        _build(arch, debian_arch, release, cdir, log)
    return tarball


def _build(arch: str, debian_arch: str, release: str, cdir: Path, log: Log) -> None:
    debootstrap = require_tool("debootstrap")
    ensure_binfmt(arch, log)
    mirror = find_mirror(release)
    cdir.mkdir(parents=True, exist_ok=True)
    check_free_space(cdir)
    marker, tarball = cdir / "complete.json", cdir / "rootfs.tar"
    marker.unlink(missing_ok=True)
    t0 = time.monotonic()
    for stale in cdir.parent.glob(f".build-{cdir.name}-*"):  # left by a crash; we hold the lock
        log(f"rootfs: removing the leftovers of an interrupted build ({stale.name})")
        safe_rmtree(stale)
    work = Path(tempfile.mkdtemp(prefix=f".build-{cdir.name}-", dir=cdir.parent))
    target = work / "rootfs"
    try:
        cmd = [
            debootstrap,
            f"--arch={debian_arch}",
            "--variant=minbase",
            "--include=" + ",".join(PACKAGES),
            release,
            str(target),
            mirror,
        ]
        log(f"rootfs: debootstrap {debian_arch} {release} from {mirror} (a few minutes, once)")
        _stream(cmd, log, cdir / "debootstrap.log")
        # No shared host keys or package archives in the cached image.
        for key in (target / "etc/ssh").glob("ssh_host_*"):
            key.unlink()
        for deb in (target / "var/cache/apt/archives").glob("*.deb"):
            deb.unlink()
        shutil.rmtree(target / "var/lib/apt/lists", ignore_errors=True)
        (target / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
        log("rootfs: packing the cache")
        tmp_tar = cdir / "rootfs.tar.tmp"
        run(
            ["tar", "--numeric-owner", "--xattrs", "-cpf", str(tmp_tar), "-C", str(target), "."],
            "packing the rootfs",
        )
        os.replace(tmp_tar, tarball)
        marker.write_text(
            json.dumps(
                {
                    "complete": True,
                    "arch": debian_arch,
                    "release": release,
                    "mirror": mirror,
                    "packages": list(PACKAGES),
                    "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "seconds": round(time.monotonic() - t0, 1),
                }
            )
        )
        log(f"rootfs: cached {tarball} in {time.monotonic() - t0:.0f} s")
    finally:
        safe_rmtree(work)


def _stream(cmd: list[str], log: Log, logfile: Path) -> None:
    """Run ``cmd``, passing each output line to ``log``; fail with its last line."""
    last = ""
    with open(logfile, "w") as out:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            line = line.rstrip()
            if line:
                last = line
                log("  " + line)
        rc = proc.wait()
    if rc != 0:
        fix = INSTALL_FIX
        if "No space left" in last:
            fix = "free disk space or point SDK_CACHE_DIR at a larger disk"
        elif "Failed getting release file" in last or "Couldn't download" in last:
            fix = "check that the Debian mirror in the apt sources is reachable"
        raise EmulateError(f"debootstrap failed (exit {rc}): {last}", fix=fix)
