"""Fixtures: the emulated rk3399 board (QEMU user-mode + Debian rootfs + sshd on 127.0.0.1).

``emulated_rk3399`` starts the board once per session, recorded in a session inventory
(``SDK_INVENTORY`` points there only while the fixture works on it); ``emulated_board``
hands each test the running board, added to that test's own inventory. The rootfs cache
stays in ``SDK_CACHE_DIR`` (or the user's cache dir), shared by every run.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdk.boards import BoardEntry, Inventory

PROFILE = "rk3399"
QEMU_FOR = {"rk3399": "qemu-aarch64-static", "rv1126": "qemu-arm-static"}


def _log(msg: str) -> None:
    print(f"[emulated] {msg}", file=sys.stderr, flush=True)


def _skip_unless_possible(profile: str = PROFILE) -> None:
    if os.geteuid() != 0:
        pytest.skip("the emulated board needs root (chroot, mounts, binfmt_misc)")
    for tool in ("debootstrap", QEMU_FOR[profile], "chroot", "ssh-keygen"):
        if not shutil.which(tool) and not shutil.which(tool, path="/usr/sbin:/sbin"):
            pytest.skip(
                f"the emulated board needs {tool}: apt-get install debootstrap "
                "qemu-user-static openssh-client"
            )


@pytest.fixture(scope="session")
def emulated_inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The inventory file the session's emulated boards are recorded in."""
    return tmp_path_factory.mktemp("emulated") / "boards.toml"


def _ensure(inventory: Path, profile: str = PROFILE) -> BoardEntry:
    from sdk.emulate import ensure_emulated

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SDK_INVENTORY", str(inventory))
        return ensure_emulated(profile, log=_log)


def _stop(inventory: Path, name: str) -> None:
    from sdk.emulate import stop_emulated

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SDK_INVENTORY", str(inventory))
        stop_emulated(name)


@pytest.fixture(scope="session")
def emulated_rk3399(emulated_inventory: Path) -> Iterator[BoardEntry]:
    """The emulated rk3399 board, started once for the session and stopped at its end."""
    _skip_unless_possible()
    entry = _ensure(emulated_inventory)
    yield entry
    _stop(emulated_inventory, entry.name)


@pytest.fixture(scope="session")
def emulated_rv1126(emulated_inventory: Path) -> Iterator[BoardEntry]:
    """The emulated 32-bit rv1126 board (armhf, QEMU_CPU=cortex-a7), for the session."""
    _skip_unless_possible("rv1126")
    entry = _ensure(emulated_inventory, "rv1126")
    yield entry
    _stop(emulated_inventory, entry.name)


@pytest.fixture
def emulated_board(emulated_rk3399: BoardEntry, emulated_inventory: Path) -> BoardEntry:
    """The running emulated rk3399, also recorded in this test's own inventory.

    Restarted if an earlier test stopped it (it then listens on a new port).
    """
    entry = _ensure(emulated_inventory)
    inv = Inventory()
    inv.add(entry, replace=True)
    inv.save()
    return entry
