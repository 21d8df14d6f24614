"""Emulated boards: a Debian rootfs for the board's arch, QEMU user-mode with the board's
CPU model (binfmt_misc), and a real OpenSSH server on 127.0.0.1.

    entry = start_emulated("rk3399")      # BoardEntry, recorded in the inventory
    stop_emulated(entry.name)

Needs root (chroot, mounts, binfmt_misc), debootstrap and qemu-user-static. Timings on an
emulated board are QEMU's, not the board's.
"""

from __future__ import annotations

from sdk.emulate.board import (
    board_dir,
    ensure_emulated,
    is_running,
    remove_emulated,
    start_emulated,
    stop_emulated,
)
from sdk.emulate.rootfs import PACKAGES, ensure_rootfs, find_mirror

__all__ = [
    "PACKAGES",
    "board_dir",
    "ensure_emulated",
    "ensure_rootfs",
    "find_mirror",
    "is_running",
    "remove_emulated",
    "start_emulated",
    "stop_emulated",
]
