"""Host tools the SDK fetches itself on first use.

pnnx (the ONNX -> ncnn converter) ships as a PyPI wheel whose metadata requires torch
(gigabytes, CUDA) although the SDK uses only the converter binary inside it. A dependency
cannot be declared "without its own dependencies", so ``pip install edge-sdk`` cannot list
pnnx without pulling torch. Instead the SDK installs the wheel, the first time ncnn
conversion needs it, with ``pip install --no-deps --target`` into the SDK cache: the same pip,
index and proxy settings as the user's own pip, nothing added to the user's environment, one
copy shared by every venv that uses the same cache. ``sdk doctor --fix`` does it ahead of time.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from sdk.errors import ConvertError
from sdk.paths import cache_dir

PNNX_REQUIREMENT = "pnnx>=20240410"


def pnnx_dir() -> Path:
    return cache_dir() / "tools" / "pnnx"


def cached_pnnx() -> Path | None:
    exe = pnnx_dir() / "pnnx" / "pnnx"
    return exe if exe.is_file() else None


def provision_pnnx(log: Callable[[str], None] | None = None) -> Path:
    """The pnnx binary, installed into the SDK cache (without torch) when missing."""
    if (exe := cached_pnnx()) is not None:
        return exe
    target = pnnx_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".pnnx.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one install at a time
        if (exe := cached_pnnx()) is not None:
            return exe
        tmp = target.with_name(f"pnnx.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        msg = f"installing the pnnx converter (without torch) into {target}"
        print(msg, file=sys.stderr, flush=True) if log is None else log(msg)
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               "--no-deps", "--no-compile", "--target", str(tmp), PNNX_REQUIREMENT]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            proc = None
            reason = f"{type(exc).__name__}: {exc}"
        if proc is None or proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            if proc is not None:
                reason = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
            raise ConvertError("cannot install the pnnx converter", found=reason,
                               fix="pip install --no-deps pnnx (needs PyPI or a mirror)")
        exe = tmp / "pnnx" / "pnnx"
        if not exe.is_file():
            shutil.rmtree(tmp, ignore_errors=True)
            raise ConvertError("the pnnx wheel has no converter binary", found=str(exe),
                               fix="pip install --no-deps pnnx")
        exe.chmod(exe.stat().st_mode | 0o111)
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(target)
        tmp.rename(target)
    found = cached_pnnx()
    assert found is not None
    return found


def package_version(dist: str) -> str:
    """The installed version of ``dist``, else of its copy in the SDK cache (pnnx), else
    "unknown" (a conversion key stays stable; the tool itself reports when it is missing)."""
    from importlib.metadata import PackageNotFoundError, distributions, version

    try:
        return version(dist)
    except PackageNotFoundError:
        pass
    for d in distributions(path=[str(pnnx_dir())]):
        if (d.metadata["Name"] or "").lower() == dist.lower():
            return str(d.version)
    return "unknown"
