"""``sdk board``: profiles, the inventory, trust, emulated boards."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sdk.errors import BoardError, HostKeyError

if TYPE_CHECKING:
    from sdk.boards import BoardEntry, Inventory


@click.group("board")
def board() -> None:
    """Board profiles, the inventory of boards, emulated boards."""


@board.command("add")
@click.argument("name")
@click.option("--profile", required=True, help="Board profile, e.g. rk3399.")
@click.option("--host", required=True)
@click.option("--port", type=click.IntRange(1, 65535), default=22, show_default=True)
@click.option("--user", default="root", show_default=True)
@click.option("--key", type=click.Path(path_type=Path), default=None,
              help="Private key file for SSH.")
def add(name: str, profile: str, host: str, port: int, user: str, key: Path | None) -> None:
    """Add a real board to the inventory (then run 'sdk board trust NAME')."""
    from sdk.boards import BoardEntry, Inventory, check_board_address

    check_board_address(name, host, user)
    if key is not None and not key.is_file():
        raise BoardError(f"SSH key {key} does not exist", fix="pass an existing private key")
    inv = Inventory()
    inv.add(BoardEntry(name=name, profile=profile, host=host, port=port, user=user,
                       key=str(key.resolve()) if key else None))
    inv.save()
    click.echo(f"added board '{name}' ({profile}) at {user}@{host}:{port}; "
               f"next: sdk board trust {name}")


@board.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Remove a board from the inventory (stops it first if it is emulated)."""
    from sdk.boards import Inventory

    inv = Inventory()
    entry = inv.get(name)
    if entry.emulated:
        from sdk.emulate import stop_emulated

        stop_emulated(name)
        inv = Inventory()
    inv.remove(name)
    inv.save()
    click.echo(f"removed board '{name}'")


@board.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--labgrid", "coordinator", default=None, metavar="HOST:PORT",
              help="List the places of this labgrid coordinator instead (tags, SSH address, who holds them).")
def list_boards(as_json: bool, coordinator: str | None) -> None:
    """Board profiles and the boards in the inventory, with whether they answer."""
    if coordinator is not None:
        _list_places(coordinator, as_json)
        return
    from sdk.boards import Inventory, load_profile, profile_names
    from sdk.paths import inventory_path
    from sdk.remote import is_reachable

    profiles = [load_profile(n) for n in profile_names()]
    inv = Inventory()
    boards = [(b, is_reachable(b.host, b.port, timeout=2.0)) for b in inv.boards.values()]
    if as_json:
        json.dump({
            "profiles": [p.to_dict() for p in profiles],
            "inventory": str(inventory_path()),
            "boards": [{**asdict(b), "reachable": r} for b, r in boards],
        }, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    from rich.console import Console
    from rich.table import Table

    con = Console()
    t = Table(title="board profiles")
    for c in ("profile", "arch", "cpus", "qemu cpu", "features", "threads", "description"):
        t.add_column(c)
    for p in profiles:
        cpus = " + ".join(f"{len(c.cpus)}x {c.core}" for c in p.clusters)
        t.add_row(p.name, p.arch, cpus, p.qemu_cpu, ",".join(p.features),
                  str(p.default_threads), p.description)
    con.print(t)
    t = Table(title=f"boards ({inventory_path()})")
    for c in ("name", "profile", "address", "emulated", "host key", "reachable"):
        t.add_column(c)
    for b, r in boards:
        t.add_row(b.name, b.profile, f"{b.user}@{b.host}:{b.port}", "yes" if b.emulated else "",
                  "trusted" if b.host_key else "NOT TRUSTED", "yes" if r else "no")
    con.print(t if boards else "no boards yet: 'sdk board add' or 'sdk board emulate rk3399'")


def _list_places(coordinator: str, as_json: bool) -> None:
    """The places of a labgrid coordinator, as boards: ``--board labgrid:PLACE`` takes them."""
    from sdk.fleet.boards import trusted_entry
    from sdk.fleet.coordinator import Coordinator

    with Coordinator(coordinator) as coord:
        places = coord.places()
        address = coord.address
    rows = [(p, trusted_entry(p) if p.address else None) for p in places]
    if as_json:
        json.dump({"coordinator": address, "places": [
            {**p.to_dict(), "board": f"labgrid:{p.name}", "trusted": bool(t and t.host_key)}
            for p, t in rows]},
            sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"labgrid places at {address} (use --board labgrid:PLACE)")
    for c in ("place", "profile", "tags", "ssh (NetworkService)", "exporter", "acquired by", "host key"):
        t.add_column(c)
    for p, known in rows:
        ssh = f"{p.username}@{p.address}:{p.port}" if p.address else "no NetworkService"
        t.add_row(p.name, p.profile or "-", " ".join(f"{k}={v}" for k, v in sorted(p.tags.items())), ssh,
                  f"{p.exporter} ({'up' if p.available else 'DOWN'})" if p.exporter else "-",
                  p.acquired or ("reserved" if p.reservation else ""),
                  "trusted" if known and known.host_key else f"NOT TRUSTED: sdk board trust labgrid:{p.name}")
    Console().print(t if rows else f"no places at {address}: 'labgrid-client -x {address} -p NAME create'")


def _labgrid_inventory_entry(name: str) -> tuple[Inventory, BoardEntry]:
    """``sdk board trust labgrid:PLACE``: the inventory entry that keeps the place's trust
    (named like the place; created from the place's NetworkService and profile tag)."""
    from sdk.boards import BoardEntry, Inventory, check_board_address
    from sdk.fleet.boards import entry_for, split_name
    from sdk.fleet.coordinator import Coordinator

    place, address = split_name(name)
    with Coordinator(address) as coord:
        lg = entry_for(coord.place(place), address)
    inv = Inventory()
    entry = inv.boards.get(place)
    if entry is None:
        check_board_address(place, lg.host, lg.user)
        entry = BoardEntry(name=place, profile=lg.profile, host=lg.host, port=lg.port, user=lg.user)
        inv.add(entry)
    else:
        entry.host, entry.port = lg.host, lg.port  # where labgrid says it is now
    return inv, entry


@board.command("trust")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Record the key without asking.")
def trust(name: str, yes: bool) -> None:
    """Show a board's SSH host key fingerprint and record it after confirmation."""
    from sdk.boards import Inventory
    from sdk.fleet import is_labgrid
    from sdk.remote import HostKey, fetch_host_key

    if is_labgrid(name):
        inv, entry = _labgrid_inventory_entry(name)
    else:
        inv = Inventory()
        entry = inv.get(name)
    key = fetch_host_key(entry.host, entry.port)
    click.echo(f"board '{name}' at {entry.host}:{entry.port} presents {key.type} key "
               f"{key.fingerprint}")
    if entry.host_key == key.line:
        click.echo("already trusted")
        return
    if entry.host_key:
        old_t, old_b = entry.host_key.split()[:2]
        click.echo(f"WARNING: this differs from the recorded key "
                   f"{HostKey(old_t, old_b).fingerprint}", err=True)
    if not yes:
        if not sys.stdin.isatty():
            raise HostKeyError(f"not trusting board '{name}' without confirmation",
                               fix=f"check the fingerprint, then run 'sdk board trust {name} --yes'")
        click.confirm("Trust this key?", abort=True)
    entry.host_key = key.line
    inv.save()
    click.echo(f"trusted {key.fingerprint} for board '{name}'")


@board.command("emulate")
@click.argument("profile", default="rk3399")
@click.option("--name", default=None, help="Board name (default: PROFILE-emu).")
@click.option("--labgrid", "coordinator", default=None, metavar="HOST:PORT",
              help="Also export the board to this labgrid coordinator (a labgrid exporter for its "
              "NetworkService, and a place named like the board tagged profile=PROFILE).")
def emulate(profile: str, name: str | None, coordinator: str | None) -> None:
    """Start an emulated board (Debian rootfs + QEMU + sshd on 127.0.0.1)."""
    from sdk.boards import load_profile
    from sdk.emulate import board_dir, start_emulated

    load_profile(profile)  # unknown names fail before any work
    if coordinator is not None:
        from sdk.fleet.coordinator import parse_address

        coordinator = parse_address(coordinator)
    entry = start_emulated(profile, name, log=lambda m: click.echo(f"    {m}", err=True))
    click.echo(f"emulated board '{entry.name}' ({profile}) running at "
               f"{entry.user}@{entry.host}:{entry.port}")
    if coordinator is not None:
        from sdk.fleet.exporter import start_exporter

        state = start_exporter(entry, board_dir(entry.name), coordinator)
        click.echo(f"exported to labgrid at {coordinator} as place '{entry.name}' "
                   f"(exporter pid {state['pid']}); use --board labgrid:{entry.name}")


@board.command("stop")
@click.argument("name")
def stop(name: str) -> None:
    """Stop an emulated board."""
    from sdk.boards import Inventory
    from sdk.emulate import stop_emulated

    entry = Inventory().get(name)
    if not entry.emulated:
        raise BoardError(f"board '{name}' is a real board", expected="an emulated board",
                         found=f"{entry.host}:{entry.port}")
    stop_emulated(name)
    click.echo(f"stopped emulated board '{name}'")
