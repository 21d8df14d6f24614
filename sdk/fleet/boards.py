"""Boards from labgrid: ``labgrid:PLACE[@HOST:PORT]`` wherever a board name is taken.

The place's ``NetworkService`` resource gives the SSH address, port and user; the place's
``profile`` tag the board profile. Trust stays the SDK's: the host key is the one the
inventory holds for the board named like the place (``sdk board trust labgrid:PLACE``
records it; an emulated board exported with ``--labgrid`` has it from its creation), else
for an inventory board at the same address and port. A key nobody trusted is refused.

A place is used only while this run holds it: reserved (labgrid's reservation with the
place's name as filter), acquired, released after, so two runs never share a board.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from sdk.boards import BoardEntry, Inventory
from sdk.errors import BoardBusy, BoardError

if TYPE_CHECKING:
    from sdk.fleet.coordinator import Coordinator, PlaceInfo

LABGRID_PREFIX = "labgrid:"
POLL_S = 1.0


class PlaceBusy(BoardBusy):
    """The place stayed acquired (or reserved) by someone else for longer than ``--wait``."""


def is_labgrid(name: object) -> bool:
    return isinstance(name, str) and name.startswith(LABGRID_PREFIX)


def split_name(name: str) -> tuple[str, str]:
    """``labgrid:PLACE[@HOST:PORT]`` -> (place, coordinator address); the address defaults to
    labgrid's ``LG_COORDINATOR`` (else 127.0.0.1:20408)."""
    from sdk.fleet.coordinator import parse_address

    rest = name.removeprefix(LABGRID_PREFIX)
    place, _, address = rest.partition("@")
    if not place:
        raise BoardError(f"bad board {name!r}", expected="labgrid:PLACE or labgrid:PLACE@HOST:PORT",
                         found=repr(name))
    return place, parse_address(address or os.environ.get("LG_COORDINATOR", "127.0.0.1:20408"))


def trusted_entry(place: PlaceInfo, inv: Inventory | None = None) -> BoardEntry | None:
    """The inventory board that holds the trust for ``place``: the one named like the place,
    else one at the place's address and port."""
    inv = inv or Inventory()
    named = inv.boards.get(place.name)
    if named is not None:
        return named
    return next((b for b in inv.boards.values() if (b.host, b.port) == (place.address, place.port)), None)


def entry_for(place: PlaceInfo, address: str) -> BoardEntry:
    """The board entry a deploy uses for ``place``: labgrid's address, the inventory's trust."""
    from sdk.boards import load_profile
    from sdk.fleet.coordinator import check_place

    check_place(place, address)
    assert place.address is not None and place.port is not None and place.profile is not None
    load_profile(place.profile)  # an unknown profile tag fails with the close names
    known = trusted_entry(place)
    return BoardEntry(
        name=f"{LABGRID_PREFIX}{place.name}", profile=place.profile, host=place.address, port=place.port,
        user=place.username or "root", key=known.key if known else None,
        host_key=known.host_key if known else None, emulated=bool(known and known.emulated),
        extra={"labgrid": address, "place": place.name},
    )


def acquire_place(coord: Coordinator, name: str, wait: float, log: Callable[[str], None],
                  stop: threading.Event | None = None) -> str:
    """Reserve place ``name``, wait up to ``wait`` s for it, acquire it; the reservation token.

    Raises :class:`PlaceBusy` when it stays held by another user (or run) that long."""
    from sdk.fleet.coordinator import FleetError

    token = coord.reserve(name)
    deadline = time.monotonic() + wait
    told = False
    try:
        while True:
            state = coord.poll(token)
            if state == "allocated":
                with contextlib.suppress(FleetError):  # another run of this user won the race
                    coord.acquire(name)
                    return token
            elif state in ("expired", "invalid"):
                raise FleetError(f"the reservation of place {name} became {state}")
            left = deadline - time.monotonic()
            holder = coord.place(name).acquired or "another reservation"
            if left <= 0:
                raise PlaceBusy(f"labgrid place {name} is busy: acquired by {holder}",
                                fix="wait for it (pass --wait S) or release it "
                                f"('labgrid-client -p {name} release' as {holder})")
            if not told:
                log(f"place {name} is busy ({holder}); waiting up to {wait:g} s")
                told = True
            if stop is not None and stop.wait(min(POLL_S, left)):
                raise FleetError(f"stopped while waiting for place {name}")
            elif stop is None:
                time.sleep(min(POLL_S, left))
    except BaseException:
        coord.cancel(token)
        raise


def release_place(coord: Coordinator, name: str, token: str) -> None:
    """Release the place and cancel its reservation (an allocated reservation would otherwise
    keep the place from everyone else until it expires)."""
    try:
        coord.release(name)
    finally:
        coord.cancel(token)


@contextlib.contextmanager
def held_board(board: str | None, wait: float,
               log: Callable[[str], None]) -> Iterator[str | BoardEntry | None]:
    """For ``labgrid:PLACE``: the place held for the body (acquired before, released after,
    also on Ctrl-C), as its board entry. Any other board name passes through unchanged."""
    if board is None or not is_labgrid(board):
        yield board
        return
    from sdk.fleet.coordinator import Coordinator

    place, address = split_name(board)
    with Coordinator(address) as coord:
        entry = entry_for(coord.place(place), address)
        token = acquire_place(coord, place, wait, log)
        log(f"acquired labgrid place {place} at {address} ({entry.user}@{entry.host}:{entry.port})")
        try:
            yield entry
        finally:
            release_place(coord, place, token)
            log(f"released labgrid place {place}")
