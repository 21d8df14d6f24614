"""Fixtures: a real labgrid coordinator on 127.0.0.1 and a farm of emulated boards in it.

``labgrid_coordinator`` is a fresh ``labgrid-coordinator`` (function scope, its state in the
test's tmp dir). ``labgrid_farm`` is one coordinator for the session with three emulated
boards exported into it by ``sdk.fleet.exporter`` (two rk3399, one rpi4), each a place
tagged ``profile=...`` and ``emulated=1``; their trust lives in the session inventory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sdk.boards import BoardEntry

FARM = (("lg-a", "rk3399"), ("lg-b", "rk3399"), ("lg-c", "rpi4"))


@pytest.fixture
def labgrid_coordinator(tmp_path: Path) -> Iterator[str]:
    pytest.importorskip("labgrid")
    from sdk.tools.labgrid_lab import start_coordinator, stop_coordinator

    proc, address = start_coordinator(tmp_path / "coordinator")
    yield address
    stop_coordinator(proc)


@dataclass
class Farm:
    address: str
    inventory: Path
    boards: dict[str, BoardEntry] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {**os.environ, "SDK_INVENTORY": str(self.inventory)}

    def ensure_running(self) -> None:
        """Every board up and exported (a test may have stopped one; it comes back on a new port)."""
        from sdk.emulate import board_dir, start_emulated
        from sdk.fleet.exporter import start_exporter

        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("SDK_INVENTORY", str(self.inventory))
            for name, profile in FARM:
                entry = start_emulated(profile, name)
                start_exporter(entry, board_dir(name), self.address)
                self.boards[name] = entry


@pytest.fixture(scope="session")
def labgrid_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    pytest.importorskip("labgrid")
    from _fix_emulated import _skip_unless_possible

    from sdk.emulate import stop_emulated
    from sdk.tools.labgrid_lab import start_coordinator, stop_coordinator

    _skip_unless_possible()
    base = tmp_path_factory.mktemp("labgrid-farm")
    proc, address = start_coordinator(base / "coordinator")
    farm = Farm(address, base / "boards.toml")
    try:
        farm.ensure_running()
        yield farm
    finally:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("SDK_INVENTORY", str(farm.inventory))
            for name, _ in FARM:
                stop_emulated(name)
        stop_coordinator(proc)
