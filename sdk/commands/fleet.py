"""The ``--fleet`` options ``sdk deploy`` and ``sdk bench`` share, and how a fleet run ends."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def fleet_options(func: F) -> F:
    """``--fleet HOST:PORT``, ``--tag K=V`` (repeatable), ``--max-parallel N``."""
    func = click.option("--max-parallel", "max_parallel", type=click.IntRange(1, 256), default=4,
                        show_default=True, help="With --fleet: boards run at the same time.")(func)
    func = click.option("--tag", "tags", multiple=True, metavar="K=V",
                        help="With --fleet: only places with this labgrid tag (repeatable, all must "
                        "match), e.g. --tag profile=rk3399.")(func)
    func = click.option("--fleet", "fleet", default=None, metavar="HOST:PORT",
                        help="Run on every matching place of this labgrid coordinator, in parallel: "
                        "each reserved, acquired, released after; one result per board.")(func)
    return func


def check_fleet_args(fleet: str | None, board: str | None, tags: tuple[str, ...]) -> dict[str, str]:
    from sdk.errors import SdkError

    if fleet is None:
        if tags:
            raise SdkError("--tag selects places of a --fleet", fix="add --fleet HOST:PORT")
        return {}
    if board is not None:
        raise SdkError("--board and --fleet are exclusive", found=f"--board {board} --fleet {fleet}",
                       fix="use --board labgrid:PLACE for one place, --fleet with --tag for several")
    from sdk.fleet.run import parse_tags

    return parse_tags(tags)


def finish(report: Any, as_json: bool) -> None:
    """Print the fleet's result (table or JSON); exit 1 unless every board passed."""
    from sdk.errors import SdkError

    if as_json:
        json.dump(report.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        report.render()
    if not report.ok:
        counts = ", ".join(f"{n} {k}" for k, n in sorted(report.counts().items()))
        raise SdkError(f"the fleet run did not pass on every board ({counts})",
                       found="; ".join(f"{b.place}: {b.status}" for b in report.boards if not b.ok))
