"""Board farms through labgrid: boards from a coordinator, fleet runs with reservations.

    coordinator.py  a blocking client of a labgrid coordinator (places, NetworkService,
                    reservations, acquire/release), on labgrid's asyncio ClientSession
    boards.py       ``labgrid:PLACE`` -> an inventory-style board entry (profile from the
                    place's ``profile`` tag, SSH from its NetworkService, the host key from
                    the SDK's inventory); holding a place for one run
    run.py          fleet runs: every matching place reserved, acquired, run in parallel,
                    released whatever happens
    report.py       one result per board, the summary table, the spread per profile
    exporter.py     a labgrid exporter for an emulated board's NetworkService

The SDK schedules nothing itself: who may use which board is the coordinator's decision.
Importing this package is cheap; labgrid is imported only when a coordinator is used.
"""

from __future__ import annotations

from sdk.fleet.boards import LABGRID_PREFIX, held_board, is_labgrid

__all__ = ["LABGRID_PREFIX", "held_board", "is_labgrid"]
