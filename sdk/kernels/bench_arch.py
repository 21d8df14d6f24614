"""Target architectures of ``sdk kernels bench``: how each one is built, emulated and given
its baseline environment (the emulated board's Debian rootfs + pinned PyPI wheels).

- aarch64: ``qemu-aarch64``, the arm64 rootfs's CPython, numpy + opencv-python-headless + ncnn
  aarch64 wheels.
- armv7: ``qemu-arm -cpu cortex-a7`` on the armhf build (NEON-VFPv4, no AArch64-only
  instructions), the armhf rootfs's CPython with Debian's python3-numpy (no armv7 numpy wheel on
  PyPI) and ncnn's ``manylinux_2_31_armv7l`` wheel. OpenCV publishes no armv7 wheel and the
  emulated board's rootfs has no python3-opencv (the rootfs is built offline from the package
  list in sdk/emulate/rootfs.py), so the OpenCV rows are n/a there, each with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchArch:
    name: str
    qemu: str
    toolchain: str  # cross/<file>
    os: tuple[str, str, str]  # (arch, Debian arch, release) of the emulated board's rootfs
    platform: str  # pip --platform of the baseline wheels
    wheels: tuple[str, ...]  # pinned baseline wheels (the table repeats)
    default_cpu: str
    libs: tuple[str, ...] = ()  # rootfs library dirs reached through Debian alternatives
    no_opencv: str = ""  # why the OpenCV rows are n/a, if they are


ARCHES: dict[str, BenchArch] = {
    "aarch64": BenchArch(
        "aarch64",
        "qemu-aarch64",
        "aarch64-linux-gnu.toolchain.cmake",
        ("aarch64", "arm64", "bookworm"),
        "manylinux2014_aarch64",
        ("numpy==2.2.6", "opencv-python-headless==5.1.0.95", "ncnn==1.0.20250503"),
        "cortex-a72",
    ),
    "armv7": BenchArch(
        "armv7",
        "qemu-arm",
        "arm-linux-gnueabihf.toolchain.cmake",
        ("armv7", "armhf", "bookworm"),
        "manylinux_2_31_armv7l",
        ("ncnn==1.0.20261020",),  # ncnn's only armv7 wheel; numpy is Debian's python3-numpy
        "cortex-a7",
        # numpy's libblas.so.3 is an /etc/alternatives symlink with an absolute target, which
        # `qemu -L` cannot follow into the rootfs: the guest loader gets the directories
        libs=("usr/lib/arm-linux-gnueabihf/blas", "usr/lib/arm-linux-gnueabihf/lapack"),
        no_opencv="n/a on armv7: OpenCV has no armv7 wheel and the rootfs has no python3-opencv",
    ),
}
