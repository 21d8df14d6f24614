"""Where the SDK keeps its state on the host.

Precedence: environment variable > XDG base directory > home default.
"""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    """Directory holding user configuration (the board inventory)."""
    env = os.environ.get("SDK_CONFIG_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg else Path.home() / ".config"
    return base / "edge-sdk"


def inventory_path() -> Path:
    """The TOML inventory of boards; ``SDK_INVENTORY`` overrides it."""
    env = os.environ.get("SDK_INVENTORY")
    return Path(env) if env else config_dir() / "boards.toml"


def cache_dir() -> Path:
    """Directory for large cached artefacts (rootfs, wheels, converted models)."""
    env = os.environ.get("SDK_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "edge-sdk"
