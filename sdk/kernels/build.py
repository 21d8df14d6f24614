"""Cross-compile ``sdk._kernels`` for a board's CPython (aarch64 or armv7 hard-float).

The target's Python headers come from Debian: ``apt-get download libpython3.X-dev:<arch>
python3.X-dev:<arch>`` unpacked with ``dpkg -x`` into a cached sysroot
(``<cache>/sysroot/<debian_arch>``); the multiarch ``pyconfig.h`` lives in
``usr/include/<triplet>/python3.X``. pybind11 is told it cross-compiles and which SOABI the
board's interpreter uses (otherwise the module silently gets the host's suffix). Results are
cached by a hash of the sources, the target and the compiler.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sdk.errors import SdkError
from sdk.paths import cache_dir

REPO = Path(__file__).resolve().parents[2]


def source_root() -> Path:
    """Directory holding kernels/ and cross/: the wheel's copy, else the source checkout."""
    installed = Path(__file__).resolve().parents[1] / "_kernels_src"
    if (installed / "kernels" / "CMakeLists.txt").is_file():
        return installed
    return REPO


@dataclass(frozen=True)
class Target:
    arch: str  # aarch64 | armv7
    debian_arch: str  # arm64 | armhf
    triplet: str  # aarch64-linux-gnu | arm-linux-gnueabihf
    toolchain: str  # file name under cross/
    elf_machine: str  # what `file` prints
    qemu: str


TARGETS: dict[str, Target] = {
    "aarch64": Target(
        "aarch64",
        "arm64",
        "aarch64-linux-gnu",
        "aarch64-linux-gnu.toolchain.cmake",
        "ARM aarch64",
        "qemu-aarch64-static",
    ),
    "armv7": Target(
        "armv7",
        "armhf",
        "arm-linux-gnueabihf",
        "arm-linux-gnueabihf.toolchain.cmake",
        "ARM, EABI5",
        "qemu-arm-static",
    ),
}


def _target(arch: str) -> Target:
    if arch not in TARGETS:
        raise SdkError(f"unknown board arch {arch!r}", expected=" or ".join(TARGETS), found=arch)
    return TARGETS[arch]


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise SdkError(f"'{cmd[0]}' is not installed", fix=f"install {cmd[0]}") from exc
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-5:]
        raise SdkError(f"'{' '.join(cmd[:3])} ...' failed (exit {p.returncode}): {' | '.join(tail)}")
    return p.stdout


def _apt_update() -> None:
    # A partial failure (one stale mirror index) is not fatal: `apt-get download` decides.
    subprocess.run(["apt-get", "update"], capture_output=True, check=False)


def python_sysroot(arch: str, python: str = "3.11") -> Path:
    """A cached sysroot with the target's CPython headers (Debian -dev packages)."""
    t = _target(arch)
    root = cache_dir() / "sysroot" / t.debian_arch
    inc = root / "usr" / "include" / f"python{python}"
    if (inc / "Python.h").is_file() and (
        root / "usr/include" / t.triplet / f"python{python}" / "pyconfig.h"
    ).is_file():
        return root
    foreign = _run(["dpkg", "--print-foreign-architectures"]).split()
    pkgs = [f"libpython{python}-dev:{t.debian_arch}", f"python{python}-dev:{t.debian_arch}"]
    if t.debian_arch not in foreign:
        _run(["dpkg", "--add-architecture", t.debian_arch])
        _apt_update()
    with tempfile.TemporaryDirectory(prefix="sdk-debs-") as tmp:
        try:
            _run(["apt-get", "download", *pkgs], cwd=Path(tmp))
        except SdkError:
            _apt_update()
            _run(["apt-get", "download", *pkgs], cwd=Path(tmp))
        root.mkdir(parents=True, exist_ok=True)
        for deb in sorted(Path(tmp).glob("*.deb")):
            _run(["dpkg", "-x", str(deb), str(root)])
    if not (inc / "Python.h").is_file():
        raise SdkError(f"no Python.h for python{python} ({t.debian_arch}) in {root}")
    return root


def source_hash(arch: str, python: str) -> str:
    """Hash of everything that goes into the module: sources, CMake, toolchain, target."""
    h = hashlib.sha256(f"{arch}|{python}|{sys.version_info[:2]}".encode())
    root = source_root()
    files = sorted(p for d in ("kernels", "cross") for p in (root / d).rglob("*") if p.is_file())
    for p in files:
        if p.suffix in {".cc", ".h", ".txt", ".cmake", ".c"}:
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    compiler = f"{_target(arch).triplet}-g++"
    if shutil.which(compiler):
        h.update(_run([compiler, "--version"]).encode())
    return h.hexdigest()[:16]


def soabi(arch: str, python: str) -> str:
    return f"cpython-{python.replace('.', '')}-{_target(arch).triplet}"


def build_for_board(
    arch: str, python: str = "3.11", out_dir: Path = Path("dist"), check_import: bool = True
) -> Path:
    """Cross-compile sdk._kernels for ``arch`` (aarch64 | armv7) and CPython ``python``.

    Returns the path of ``_kernels.<soabi>.so`` copied into ``out_dir``. Verified with
    ``file`` (ELF for the board's machine) and its suffix, and (``check_import``) imported by
    the board's own CPython under QEMU user mode; cached by source hash.
    """
    t = _target(arch)
    key = source_hash(arch, python)
    name = f"_kernels.{soabi(arch, python)}.so"
    cached = cache_dir() / "kernels-build" / f"{arch}-py{python}-{key}" / name
    if not cached.is_file():
        root = python_sysroot(arch, python)
        try:
            import pybind11
        except ImportError as exc:
            raise SdkError("cannot cross-build sdk._kernels: pybind11 is not installed",
                           fix="pip install pybind11 (or reinstall the SDK)") from exc

        build = cache_dir() / "kernels-build" / f"{arch}-py{python}-{key}-build"
        if build.exists():
            shutil.rmtree(build)
        cmd = [
            "cmake",
            "-S",
            str(source_root() / "kernels"),
            "-B",
            str(build),
            f"-DCMAKE_TOOLCHAIN_FILE={source_root() / 'cross' / t.toolchain}",
            "-DCMAKE_BUILD_TYPE=Release",
            "-DSDK_KERNELS_PYTHON=ON",
            "-DSDK_KERNELS_TESTS=OFF",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
            "-DPYBIND11_USE_CROSSCOMPILING=ON",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-DPython_SOABI={soabi(arch, python)}",
            f"-DPython_INCLUDE_DIR={root / 'usr/include' / f'python{python}'}",
            # the multiarch pyconfig.h wrapper includes <triplet/python3.X/pyconfig.h>
            f"-DSDK_PYTHON_EXTRA_INCLUDE={root / 'usr/include'};{root / 'usr/include' / t.triplet}",
        ]
        if shutil.which("ninja"):
            cmd += ["-G", "Ninja"]
        _run(cmd)
        _run(["cmake", "--build", str(build), "-j", str(os.cpu_count() or 2), "--target", "_kernels"])
        built = next((build / "python").glob("_kernels*.so"), None)
        if built is None or built.name != name:
            raise SdkError(
                "cross build produced the wrong module",
                expected=name,
                found=built.name if built else "nothing",
            )
        verify_elf(built, arch)
        if check_import:
            verify_import(built, arch, python)
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built, cached)
        shutil.rmtree(build, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / name
    shutil.copy2(cached, dest)
    return dest


def verify_elf(path: Path, arch: str) -> str:
    """`file` must report an ELF shared object for the board's machine."""
    t = _target(arch)
    desc = _run(["file", "-b", str(path)])
    if "ELF" not in desc or t.elf_machine not in desc or "shared object" not in desc:
        raise SdkError(
            f"{path.name} is not a {arch} shared object", expected=t.elf_machine, found=desc.strip()
        )
    return desc.strip()


def python_runtime(arch: str, python: str = "3.11") -> Path:
    """The board's CPython interpreter (Debian python3.X-minimal + its libraries) unpacked into
    the cached sysroot, to import cross-built modules under QEMU user mode."""
    t = _target(arch)
    root = python_sysroot(arch, python)
    exe = root / "usr" / "bin" / f"python{python}"
    if exe.is_file():
        return exe
    pkgs = [
        f"{p}:{t.debian_arch}"
        for p in (f"python{python}-minimal", f"libpython{python}-minimal", "zlib1g", "libexpat1")
    ]
    with tempfile.TemporaryDirectory(prefix="sdk-debs-") as tmp:
        os.chmod(tmp, 0o755)  # apt's sandbox user must be able to write here
        _run(["apt-get", "download", *pkgs], cwd=Path(tmp))
        for deb in sorted(Path(tmp).glob("*.deb")):
            _run(["dpkg", "-x", str(deb), str(root)])
    if not exe.is_file():
        raise SdkError(f"no python{python} interpreter for {arch} in {root}")
    return exe


def verify_import(module: Path, arch: str, python: str = "3.11") -> str:
    """Import the module with the board's CPython under QEMU; returns its cpu_isa()."""
    t = _target(arch)
    exe = python_runtime(arch, python)
    root = exe.parents[2]
    libdirs = f"{root}/lib/{t.triplet}:{root}/usr/lib/{t.triplet}"
    with tempfile.TemporaryDirectory(prefix="sdk-import-") as tmp:
        shutil.copy2(module, Path(tmp) / module.name)
        out = _run(
            [
                t.qemu,
                "-L",
                f"/usr/{t.triplet}",
                "-E",
                f"LD_LIBRARY_PATH={libdirs}",
                "-E",
                f"PYTHONHOME={root}/usr",
                "-E",
                f"PYTHONPATH={tmp}",
                str(exe),
                "-c",
                "import _kernels; print(_kernels.cpu_isa())",
            ]
        )
    return out.strip()
