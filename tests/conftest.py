"""Shared test setup.

Every test gets its own inventory and config dir (so no test touches the user's boards),
while the large cache (rootfs images, board wheels) is shared across the run: it lives in
``SDK_CACHE_DIR`` if set, else the user's cache dir.

Topic fixtures live in ``_fix_*.py`` modules beside this file, loaded as plugins.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["_fix_sshd", "_fix_emulated", "_fix_models", "_fix_calib", "_fix_labgrid"]


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    cfg = tmp_path / "config"
    cfg.mkdir()
    monkeypatch.setenv("SDK_CONFIG_DIR", str(cfg))
    monkeypatch.delenv("SDK_INVENTORY", raising=False)
    yield cfg
