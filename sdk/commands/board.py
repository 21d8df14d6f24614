"""``sdk board``: profiles, the inventory, trust, emulated boards."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click

from sdk.errors import BoardError, HostKeyError


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
def list_boards(as_json: bool) -> None:
    """Board profiles and the boards in the inventory, with whether they answer."""
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


@board.command("trust")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Record the key without asking.")
def trust(name: str, yes: bool) -> None:
    """Show a board's SSH host key fingerprint and record it after confirmation."""
    from sdk.boards import Inventory
    from sdk.remote import HostKey, fetch_host_key

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
def emulate(profile: str, name: str | None) -> None:
    """Start an emulated board (Debian rootfs + QEMU + sshd on 127.0.0.1)."""
    from sdk.boards import load_profile
    from sdk.emulate import start_emulated

    load_profile(profile)  # unknown names fail before any work
    entry = start_emulated(profile, name, log=lambda m: click.echo(f"    {m}", err=True))
    click.echo(f"emulated board '{entry.name}' ({profile}) running at "
               f"{entry.user}@{entry.host}:{entry.port}")


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
