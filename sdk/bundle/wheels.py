"""Wheels the board needs, downloaded on the host for the board's platform tags and cached.

The board has no internet: every package its runner imports travels in the bundle.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from sdk.boards import BoardProfile
from sdk.errors import BundleError
from sdk.paths import cache_dir

# What the on-board runner itself imports beside the engines, per arch. armv7 has no numpy
# wheel on PyPI: there the runner uses the board's Debian python3-numpy (a venv with system
# site packages).
RUNNER_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "aarch64": ("numpy",),
    "armv7": (),
}


def runtime_requirements(arch: str) -> tuple[str, ...]:
    """What the board installs: every engine with a build for ``arch`` (the registry's
    order), then what the runner needs."""
    from sdk import engines

    dists = [engines.get(e).caps.runtime_package for e in engines.for_arch(arch)]
    return (*dists, *RUNNER_REQUIREMENTS[arch])


def installs_without_deps(arch: str) -> bool:
    """Whether the board's wheels install without their dependencies (armv7: ncnn's wheel
    declares numpy, and model-zoo helpers it never imports; numpy has no armv7 wheel, so the
    board's Debian numpy serves)."""
    from sdk import engines
    from sdk.engines.base import WHEEL_NO_DEPS

    return any(engines.get(e).caps.board_install[arch] == WHEEL_NO_DEPS for e in engines.for_arch(arch))


def host_pins() -> dict[str, str]:
    """Pin the board's engines to the host's versions so host and board run the same code."""
    from importlib.metadata import PackageNotFoundError, version

    from sdk import engines

    pins = {}
    for dist in (b.caps.runtime_package for b in engines.BACKENDS.values()):
        try:
            pins[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return pins


def requirements_for(profile: BoardProfile, pins: dict[str, str] | None = None) -> list[str]:
    """The board's requirements, each engine pinned to the host's version or to ``pins``
    (distribution -> version: an engine-version A/B runs another release on the board)."""
    pins = {**host_pins(), **(pins or {})}
    return [f"{r}=={pins[r]}" if r in pins else r for r in runtime_requirements(profile.arch)]


def board_wheels(profile: BoardProfile, *, log: object = None,
                 pins: dict[str, str] | None = None) -> list[Path]:
    """Download (once) the wheels for ``profile``'s arch and Python; returns their paths."""
    reqs = requirements_for(profile, pins)
    py = profile.python
    key = hashlib.sha256(
        "\n".join([profile.arch, py, *profile.platform_tags, *reqs]).encode()
    ).hexdigest()[:16]
    dest = cache_dir() / "wheels" / f"{profile.arch}-cp{py.replace('.', '')}-{key}"
    marker = dest / ".complete"
    if marker.exists():
        return sorted(dest.glob("*.whl"))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    cmd = [
        sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q",
        "--only-binary=:all:", "--python-version", py, "--implementation", "cp",
    ]
    for tag in (*profile.platform_tags, "any"):
        cmd += ["--platform", tag]
    if installs_without_deps(profile.arch):
        cmd.append("--no-deps")
    cmd += ["-d", str(tmp), *reqs]
    if callable(log):
        log(f"downloading board wheels for {profile.arch}/cp{py}: {' '.join(reqs)}")
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PIP_NO_INPUT": "1"})
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        last = [ln for ln in proc.stderr.splitlines() if ln.strip() and "WARNING" not in ln]
        raise BundleError(
            f"cannot download wheels for {profile.name} ({profile.arch}, Python {py})",
            expected=f"wheels for {', '.join(reqs)} on {', '.join(profile.platform_tags)}",
            found=last[-1] if last else f"pip exited {proc.returncode}",
            fix="check the network access to PyPI, or pre-fill " + str(dest.parent),
        )
    (tmp / ".complete").write_text("\n".join(reqs) + "\n")
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)
    return sorted(dest.glob("*.whl"))
