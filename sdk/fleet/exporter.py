"""A labgrid exporter for one emulated board: its sshd as a ``NetworkService``, and its place.

``sdk board emulate rk3399 --name a --labgrid HOST:PORT`` runs ``labgrid-exporter`` (as
``python -m labgrid.remote.exporter``) with this config, written to the board's directory::

    a:                      # the resource group
      NetworkService:
        address: 127.0.0.1
        port: 40123         # the emulated sshd's port
        username: root

then creates the place ``a`` matching ``sdk-a/a/NetworkService`` with the tag
``profile=rk3399`` (and ``emulated=1``). The exporter's pid is kept in ``exporter.json``
beside the config; ``sdk board stop`` stops it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sdk.boards import BoardEntry
from sdk.errors import EmulateError

STATE = "exporter.json"
CONFIG = "exporter.yaml"
READY_S = 30.0


def exporter_name(board: str) -> str:
    return f"sdk-{board}"


def _alive(pid: int, config: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(arg == str(config).encode() for arg in cmdline)  # our exporter, not a reused pid


def running_exporter(bdir: Path) -> dict[str, Any] | None:
    """The exporter state of the board's running exporter, if one runs."""
    try:
        state = json.loads((bdir / STATE).read_text())
    except (OSError, ValueError):
        return None
    return state if _alive(int(state["pid"]), bdir / CONFIG) else None


def start_exporter(entry: BoardEntry, bdir: Path, address: str, log: Any = None) -> dict[str, Any]:
    """Export ``entry``'s sshd to the coordinator at ``address`` and create its place."""
    from sdk.fleet.coordinator import Coordinator, parse_address

    address = parse_address(address)
    state = running_exporter(bdir)
    if state is not None and (state.get("coordinator"), state.get("port")) == (address, entry.port):
        return state
    stop_exporter(bdir)
    config = bdir / CONFIG
    config.write_text(f"{entry.name}:\n  NetworkService:\n    address: {entry.host}\n"
                      f"    port: {entry.port}\n    username: {entry.user}\n")
    logfile = bdir / "exporter.log"
    with open(logfile, "a") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "labgrid.remote.exporter", "-c", address, "-n", exporter_name(entry.name),
             "--hostname", entry.host, str(config)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            close_fds=True, cwd=bdir,
        )
    state = {"pid": proc.pid, "coordinator": address, "port": entry.port}
    (bdir / STATE).write_text(json.dumps(state))
    try:
        with Coordinator(address) as coord:
            _wait_exported(coord, entry, proc, logfile)
            coord.create_place(entry.name, f"{exporter_name(entry.name)}/{entry.name}/NetworkService",
                               {"profile": entry.profile, "emulated": "1"})
    except BaseException:
        stop_exporter(bdir)
        raise
    return state


def _wait_exported(coord: object, entry: BoardEntry, proc: subprocess.Popen[bytes], logfile: Path) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = logfile.read_text(errors="replace").strip().splitlines()[-1:]
            raise EmulateError(f"labgrid exporter for board {entry.name} exited with code {proc.returncode}: "
                               f"{' '.join(tail)}", fix=f"see {logfile}")
        groups = coord.session.resources.get(exporter_name(entry.name), {})  # type: ignore[attr-defined]
        res = groups.get(entry.name, {}).get("NetworkService")
        if res is not None and res.avail and res.params.get("port") == entry.port:
            return
        time.sleep(0.3)
    raise EmulateError(f"labgrid exporter for board {entry.name} did not show up at the coordinator "
                       f"in {READY_S:.0f} s", fix=f"see {logfile}")


def stop_exporter(bdir: Path) -> bool:
    """Stop the board's exporter if it runs (the coordinator drops its resource); idempotent."""
    state = running_exporter(bdir)
    (bdir / STATE).unlink(missing_ok=True)
    if state is None:
        return False
    pid = int(state["pid"])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pid, bdir / CONFIG):
        time.sleep(0.1)
    if _alive(pid, bdir / CONFIG):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return True
