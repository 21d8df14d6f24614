"""Options several commands share, spelled once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def timeout_option(per: str, default_from: str) -> Callable[[F], F]:
    """``--timeout S``: seconds each ``per`` may run on the board (default: printed)."""
    return click.option("--timeout", type=click.FloatRange(1, 86400), default=None, metavar="S",
                        help=f"Seconds each {per} may run on the board (default: from {default_from}, "
                        "printed).")


def wait_option(f: F) -> F:
    """``--wait S``: how long to wait for the app's board lock (another deploy or bench)."""
    return click.option("--wait", type=click.FloatRange(0, 86400), default=300, show_default=True,
                        metavar="S", help="How long to wait for another deploy or bench of the same "
                        "app to finish, and for a busy labgrid place (0: skip a busy place).")(f)
